"""The simulated runtime: sandboxes and containers are records, not processes.

Containers run the instant they start. A pod tells a simulated container when to end through its
annotations (the pod's own, which the kubelet hands over as sandbox annotations, as upstream does):

- ``sim.navarch.io/exit-code: "0"``: containers exit with this code ...
- ``sim.navarch.io/run-seconds: "5"``: ... after running this long (default 0: at once);
- ``sim.navarch.io/exit-code.<container>`` / ``sim.navarch.io/run-seconds.<container>``: the same
  for one container, taking precedence;
- ``sim.navarch.io/termination-seconds: "3"``: how long a container takes to stop when asked (as a
  process handling SIGTERM would); longer than the grace period means it is killed (exit 137).

Without an exit code, regular containers run until stopped; init containers (non-restartable)
exit 0 at once so that pods get past initialisation. Image pulls succeed instantly. Pod IPs come
from the node's pod CIDR (``update_runtime_config``). State changes that happen on their own (a run
ending) are scheduled on the injected clock and reported to subscribers; nothing polls, so
thousands of pods cost only their records.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from dataclasses import dataclass, field, replace
from typing import AsyncIterator, Callable, Mapping, Sequence

import navarch
from navarch.kubelet.podcidr import HostLocalIPAM
from navarch.kubelet.runtimes.interface import (
    CONTAINER_TYPE,
    INIT,
    ContainerConfig,
    ContainerEvent,
    ContainerEventHandler,
    ContainerEventType,
    ContainerFilter,
    ContainerState,
    ContainerStatus,
    ExecResult,
    Image,
    LogOptions,
    NotFoundError,
    NotSupportedError,
    PodSandboxConfig,
    PodSandboxStatus,
    PortStream,
    RuntimeCondition,
    SandboxFilter,
    SandboxState,
    StreamSession,
    VersionInfo,
)
from navarch.machinery.clock import Clock, RealClock, TimerHandle

log = logging.getLogger(__name__)

ANNOTATION_PREFIX = "sim.navarch.io/"
EXIT_CODE = ANNOTATION_PREFIX + "exit-code"
RUN_SECONDS = ANNOTATION_PREFIX + "run-seconds"
TERMINATION_SECONDS = ANNOTATION_PREFIX + "termination-seconds"

RUNTIME_NAME = "sim"
SIGKILL_EXIT = 137


@dataclass(slots=True)
class _Sandbox:
    status: PodSandboxStatus
    containers: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Container:
    status: ContainerStatus
    exit_code: int | None
    run_seconds: float
    termination_seconds: float
    timer: TimerHandle | None = None


class SimulatedRuntime:
    """One node's simulated runtime (implements ``interface.Runtime``)."""

    def __init__(self, clock: Clock | None = None, pod_cidr: str = "") -> None:
        self.clock = clock or RealClock()
        self._ipam: HostLocalIPAM | None = HostLocalIPAM(pod_cidr) if pod_cidr else None
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._images: dict[str, Image] = {}
        self._handlers: list[ContainerEventHandler] = []
        self._ids = itertools.count(1)
        # Ids unique across the simulated runtimes of one process, readable in kubectl output.
        self._prefix = hashlib.sha256(f"{id(self)}".encode()).hexdigest()[:8]

    # ---- runtime ---------------------------------------------------------------------------------

    async def version(self) -> VersionInfo:
        return VersionInfo(RUNTIME_NAME, navarch.__version__)

    async def status(self) -> list[RuntimeCondition]:
        network = self._ipam is not None
        return [RuntimeCondition("RuntimeReady", True),
                RuntimeCondition("NetworkReady", network, "" if network else "NoPodCIDR",
                                 "" if network else "the node has no pod CIDR yet")]

    async def update_runtime_config(self, pod_cidr: str) -> None:
        if pod_cidr and (self._ipam is None or str(self._ipam.network) != pod_cidr):
            self._ipam = HostLocalIPAM(pod_cidr)

    def subscribe(self, handler: ContainerEventHandler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)
        return unsubscribe

    # ---- sandboxes -------------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = self._new_id("sb")
        ip = ""
        if not config.host_network:
            if self._ipam is None:
                raise NotSupportedError("the node has no pod CIDR: cannot give the pod an address")
            ip = self._ipam.allocate()
        self._sandboxes[sid] = _Sandbox(PodSandboxStatus(
            id=sid, name=config.name, namespace=config.namespace, uid=config.uid, attempt=config.attempt,
            state=SandboxState.READY, created_at=self.clock.now(), ip=ip, host_network=config.host_network,
            labels=dict(config.labels), annotations=dict(config.annotations)))
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        for cid in list(sb.containers):
            self._exit(cid, SIGKILL_EXIT, "Error", only_if_running=True)
        if sb.status.state is SandboxState.READY:
            if sb.status.ip and self._ipam is not None:
                self._ipam.release(sb.status.ip)
            sb.status = replace(sb.status, state=SandboxState.NOTREADY)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        await self.stop_pod_sandbox(sandbox_id)
        sb = self._sandboxes.pop(sandbox_id, None)
        if sb is not None:
            for cid in list(sb.containers):
                await self.remove_container(cid)

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise NotFoundError(f"pod sandbox {sandbox_id} not found")
        return sb.status

    async def list_pod_sandbox(self, filter: SandboxFilter | None = None) -> list[PodSandboxStatus]:
        out = [sb.status for sb in self._sandboxes.values()]
        if filter is not None:
            out = [s for s in out if (not filter.id or s.id == filter.id) and (not filter.uid or s.uid == filter.uid)
                   and (filter.state is None or s.state is filter.state)]
        return out

    # ---- containers ------------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox_config: PodSandboxConfig) -> str:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise NotFoundError(f"pod sandbox {sandbox_id} not found")
        if sb.status.state is not SandboxState.READY:
            raise NotFoundError(f"pod sandbox {sandbox_id} is not ready")
        cid = self._new_id("c")
        ann = sandbox_config.annotations
        exit_code = _int(_lookup(ann, EXIT_CODE, config.name))
        if exit_code is None and config.annotations.get(CONTAINER_TYPE) == INIT:
            exit_code = 0
        image = self._images.get(config.image)
        status = ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=config.name, attempt=config.attempt, image=config.image,
            image_ref=image.repo_digests[0] if image and image.repo_digests else _digest_ref(config.image),
            state=ContainerState.CREATED, created_at=self.clock.now(), labels=dict(config.labels),
            annotations=dict(config.annotations), log_path=config.log_path)
        self._containers[cid] = _Container(
            status, exit_code, _float(_lookup(ann, RUN_SECONDS, config.name)) or 0.0,
            _float(ann.get(TERMINATION_SECONDS)) or 0.0)
        sb.containers.add(cid)
        self._emit(cid, ContainerEventType.CREATED)
        return cid

    async def start_container(self, container_id: str) -> None:
        c = self._get(container_id)
        if c.status.state is not ContainerState.CREATED:
            raise NotSupportedError(f"container {container_id} is {c.status.state.name}, not CREATED")
        c.status = replace(c.status, state=ContainerState.RUNNING, started_at=self.clock.now())
        self._emit(container_id, ContainerEventType.STARTED)
        if c.exit_code is not None:
            code = c.exit_code
            if c.run_seconds <= 0:
                self._exit(container_id, code, _reason(code))
            else:
                c.timer = self.clock.call_later(
                    c.run_seconds, lambda: self._exit(container_id, code, _reason(code), only_if_running=True))

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._containers.get(container_id)
        if c is None or c.status.state is not ContainerState.RUNNING:
            if c is not None and c.status.state is ContainerState.CREATED:
                self._exit(container_id, 0, "", only_if_running=False)
            return
        wait = c.termination_seconds
        if wait > 0:
            await self.clock.sleep(min(wait, max(timeout, 0.0)))
            if c.status.state is not ContainerState.RUNNING:
                return
        if wait > timeout:
            self._exit(container_id, SIGKILL_EXIT, "Error", only_if_running=True)
        else:
            self._exit(container_id, 0, "Completed", only_if_running=True)

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.pop(container_id, None)
        if c is None:
            return
        if c.timer is not None:
            c.timer.cancel()
        sb = self._sandboxes.get(c.status.sandbox_id)
        if sb is not None:
            sb.containers.discard(container_id)
        self._emit(container_id, ContainerEventType.DELETED, c.status.sandbox_id)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._get(container_id).status

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[ContainerStatus]:
        if filter is not None and filter.sandbox_id:
            sb = self._sandboxes.get(filter.sandbox_id)
            out = [self._containers[c].status for c in sb.containers] if sb else []
        else:
            out = [c.status for c in self._containers.values()]
        if filter is not None:
            out = [s for s in out if (not filter.id or s.id == filter.id)
                   and (filter.state is None or s.state is filter.state)]
        return out

    # ---- images ----------------------------------------------------------------------------------

    async def pull_image(self, image: str, auth: Mapping[str, str] | None = None) -> str:
        found = self._images.get(image)
        if found is None:
            ref = _digest_ref(image)
            found = Image(id="sha256:" + ref.rsplit(":", 1)[-1], repo_tags=(image,), repo_digests=(ref,))
            self._images[image] = found
        return found.repo_digests[0]

    async def image_status(self, image: str) -> Image | None:
        return self._images.get(image)

    async def list_images(self) -> list[Image]:
        return list(self._images.values())

    async def remove_image(self, image: str) -> None:
        self._images.pop(image, None)

    # ---- streaming: nothing runs, so there is nothing to stream ----------------------------------

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
        raise NotSupportedError("exec is not supported on simulated nodes")

    async def exec(self, container_id: str, cmd: Sequence[str], *, stdin: bool, tty: bool) -> StreamSession:
        raise NotSupportedError("exec is not supported on simulated nodes")

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> StreamSession:
        raise NotSupportedError("attach is not supported on simulated nodes")

    async def port_forward(self, sandbox_id: str, port: int) -> PortStream:
        raise NotSupportedError("port-forward is not supported on simulated nodes")

    async def container_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        raise NotSupportedError("simulated containers write no logs")
        yield b""  # pragma: no cover - makes this an async generator

    # ---- internals -------------------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        return f"{self._prefix}{kind}{next(self._ids):08x}"

    def _get(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise NotFoundError(f"container {container_id} not found")
        return c

    def _exit(self, container_id: str, code: int, reason: str, *, only_if_running: bool = False) -> None:
        c = self._containers.get(container_id)
        if c is None or c.status.state is ContainerState.EXITED:
            return
        if only_if_running and c.status.state is not ContainerState.RUNNING:
            return
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None
        c.status = replace(c.status, state=ContainerState.EXITED, finished_at=self.clock.now(), exit_code=code,
                           reason=reason)
        self._emit(container_id, ContainerEventType.STOPPED)

    def _emit(self, container_id: str, kind: ContainerEventType, sandbox_id: str = "") -> None:
        if not self._handlers:
            return
        if not sandbox_id:
            c = self._containers.get(container_id)
            sandbox_id = c.status.sandbox_id if c else ""
        event = ContainerEvent(container_id, sandbox_id, kind, self.clock.now())
        for handler in list(self._handlers):
            try:
                handler(event)
            except Exception:  # one bad subscriber must not break the runtime
                log.exception("container event handler %r failed", handler)


def _lookup(annotations: Mapping[str, str], key: str, container: str) -> str | None:
    value = annotations.get(f"{key}.{container}")
    return value if value is not None else annotations.get(key)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        log.warning("ignoring non-integer simulated exit code %r", value)
        return None


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(str(value).strip()), 0.0)
    except ValueError:
        log.warning("ignoring non-numeric simulated duration %r", value)
        return None


def _reason(code: int) -> str:
    return "Completed" if code == 0 else "Error"


def _digest_ref(image: str) -> str:
    """A stable, obviously synthetic digest reference: simulated images have no real content."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"

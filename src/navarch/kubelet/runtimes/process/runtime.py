"""``ProcessRuntime``: each container is a host process group, run and watched by its own shim.

- Sandboxes are records (a directory with ``sandbox.json``): pods share the host network, so a
  sandbox's IP is the node's first IP and there is no pause process.
- ``start_container`` asks the zygote (``zygote.py``, one per root dir, launched by ``start()`` or
  whenever it is found gone) to fork a shim for the container, and returns once the process runs (or
  raises with the reason it could not, e.g. an executable not found). The runtime keeps one unix
  connection per running container to its shim: end-of-file on it means the shim has finished
  (``exit.json`` written) and becomes a STOPPED event; signals for ``stop_container`` travel on it.
- ``start()`` adopts what an earlier runtime on the same root dir left: shims outlive the kubelet,
  so running containers are reconnected, not restarted; exits that happened meanwhile are replayed
  to the first subscribers. The zygote outlives the kubelet too and is found again by its socket
  (replaced if it runs other code than this runtime).
- As root (``isolated``), each container has its own mount namespace with its mounts bound in,
  and (when the v1 cgroup hierarchies are writable) a cgroup enforcing its cpu and memory limits;
  memory-limit kills are reported as ``OOMKilled``. Exec joins the same mount namespace and cgroup.
- Images are not used: any image "pulls" at once with a synthetic, stable id.
docs/runtime-process.md describes the behaviour without root and the on-disk layout (``state.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import navarch
from navarch.kubelet.runtimes.interface import (
    ContainerConfig,
    ContainerEvent,
    ContainerEventHandler,
    ContainerEventType,
    ContainerFilter,
    ContainerState,
    ContainerStatus,
    CreateContainerConfigError,
    ExecResult,
    Image,
    LogOptions,
    NotFoundError,
    PodSandboxConfig,
    PodSandboxStatus,
    PortStream,
    RuntimeCondition,
    RuntimeFailure,
    SandboxFilter,
    SandboxState,
    StreamSession,
    VersionInfo,
)
from navarch.kubelet.runtimes.process import cgroups, crilog, logreader, state, zygote
from navarch.kubelet.runtimes.process.mounts import (
    MNT_DETACH,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    is_mount_point,
    libc,
)
from navarch.kubelet.runtimes.process.streams import (
    AttachSession,
    PipeSession,
    PtySession,
    TcpPortStream,
    kill_group,
)
from navarch.kubelet.runtimes.process.user import as_user

log = logging.getLogger(__name__)

RUNTIME_NAME = "process"
ZYGOTE_MODULE = "navarch.kubelet.runtimes.process.zygote"
SHIM_START_TIMEOUT = 30.0
ZYGOTE_REPLY_TIMEOUT = 10.0
# After SIGKILL, how long to wait for the shim to report before forcing the record.
KILL_WAIT = 10.0
SHIM_DIED_EXIT = 255
# A limit, not a reservation. A container's records are a few KiB, but hold its environment and
# annotations, which may reach a MiB each: room for 110 pods of the largest.
STATE_SIZE = "256m"


def _dumps(value: Any) -> bytes:
    """State records as ``state.write_json`` writes them (keys sorted), with orjson: the runtime
    writes one per sandbox and container while a burst of pods starts."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


@dataclass(eq=False)
class _Sandbox:
    id: str
    dir: Path
    record: dict[str, Any]
    containers: set[str] = field(default_factory=set)

    def status(self) -> PodSandboxStatus:
        r = self.record
        return PodSandboxStatus(
            id=self.id, name=r["name"], namespace=r["namespace"], uid=r["uid"], attempt=r["attempt"],
            state=SandboxState(r["state"]), created_at=_time(r["created_at"]), ip=r["ip"],
            additional_ips=tuple(r.get("additional_ips") or ()), host_network=r["host_network"],
            labels=r.get("labels") or {}, annotations=r.get("annotations") or {})


@dataclass(eq=False)
class _Container:
    id: str
    dir: Path
    config: dict[str, Any]
    started: dict[str, Any] | None = None
    exit: dict[str, Any] | None = None
    control: asyncio.StreamWriter | None = None
    watcher: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def state(self) -> ContainerState:
        if self.exit is not None:
            return ContainerState.EXITED
        if self.started is not None:
            return ContainerState.RUNNING
        return ContainerState.CREATED

    def status(self) -> ContainerStatus:
        c, started, ended = self.config, self.started or {}, self.exit or {}
        return ContainerStatus(
            id=self.id, sandbox_id=c["sandbox_id"], name=c["name"], attempt=c["attempt"], image=c["image"],
            image_ref=image_ref(c["image"]), state=self.state, created_at=_time(c["created_at"]),
            started_at=_time(started["started_at"]) if started.get("started_at") else None,
            finished_at=_time(ended["finished_at"]) if ended.get("finished_at") else None,
            exit_code=int(ended.get("exit_code", 0)), reason=ended.get("reason", ""),
            message=ended.get("message", ""), labels=c.get("labels") or {},
            annotations=c.get("annotations") or {}, log_path=c["log_path"])


class ProcessRuntime:
    """Containers as host processes (implements ``interface.Runtime``). Call ``start()`` before
    use and ``close()`` at the end; ``close()`` leaves containers running, for the next runtime to
    adopt."""

    # Containers run their command on the host: no image is pulled or used, so the kubelet skips
    # the image step (and its Pulling/Pulled events, which would report work not done).
    uses_images = False
    # Pods run in the host's network namespace: a Service's cluster IP is reachable only through a
    # proxy, so the kubelet points pods at the API server's own address (docs/adr/0006).
    pods_share_host_network = True

    def __init__(self, root_dir: str, *, node_ips: Sequence[str] = ("127.0.0.1",), cgroups: bool | None = None,
                 state_in_memory: bool | None = None, max_log_bytes: int = 10 * 2**20,
                 max_log_files: int = 5) -> None:
        self.root = Path(root_dir).resolve()
        self.node_ips = tuple(node_ips) or ("127.0.0.1",)
        self.isolated = os.geteuid() == 0 and os.path.exists("/proc/self/ns/mnt")
        available = _cgroups_available()
        if cgroups and not available:
            raise RuntimeFailure("cgroups were asked for, but the v1 memory/cpu/pids hierarchies are not writable")
        self.cgroups = available if cgroups is None else bool(cgroups)
        if state_in_memory and not self.isolated:
            raise RuntimeFailure("a tmpfs for the runtime's state was asked for, but mounting one needs root")
        # ``state/`` on a tmpfs (see ``state``): by default whenever this runtime may mount one.
        self.state_in_memory = self.isolated if state_in_memory is None else bool(state_in_memory)
        self._state_mounted = False
        self.max_log_bytes = max_log_bytes
        self.max_log_files = max_log_files
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._images: dict[str, Image] = {}
        self._handlers: list[ContainerEventHandler] = []
        self._replay: list[ContainerEvent] = []
        self._nsenter = shutil.which("nsenter") or "nsenter"
        self._setsid = shutil.which("setsid") or "setsid"
        self._pod_cidr = ""
        self._fingerprint = zygote.fingerprint()
        self._zygote_lock = asyncio.Lock()
        self._zygote: asyncio.StreamWriter | None = None  # our presence connection to the zygote
        self._zygote_watch: asyncio.Task[None] | None = None
        self.zygote_pid: int | None = None
        # Runs a container's process as the uid/gid its securityContext asks for.
        self._setpriv = shutil.which("setpriv")

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt the sandboxes and containers under root_dir."""
        self._state_mounted = await asyncio.to_thread(self._prepare_dirs)
        await self._ensure_zygote()
        for d in _entries(self.root, state.LEGACY_SANDBOXES, state.SANDBOXES):
            record = state.read_json(d / state.SANDBOX_FILE, orjson.loads)
            if record is not None and d.name not in self._sandboxes:
                self._sandboxes[d.name] = _Sandbox(d.name, d, record)
        adopted = 0
        for d in _entries(self.root, state.LEGACY_CONTAINERS, state.CONTAINERS):
            config = state.read_json(d / state.CONFIG_FILE, orjson.loads)
            if config is None or d.name in self._containers:
                continue
            c = _Container(d.name, d, config, started=state.read_json(d / state.STARTED_FILE, orjson.loads),
                           exit=state.read_json(d / state.EXIT_FILE, orjson.loads))
            self._containers[c.id] = c
            sb = self._sandboxes.get(config["sandbox_id"])
            if sb is not None:
                sb.containers.add(c.id)
            if c.state is ContainerState.RUNNING:
                await self._watch(c)
                adopted += 1
            elif c.state is ContainerState.EXITED:
                c.exited.set()
                if not (d / state.REPORTED_FILE).exists():
                    self._replay.append(ContainerEvent(c.id, config["sandbox_id"], ContainerEventType.STOPPED,
                                                       _now()))
        log.info("process runtime at %s: adopted %d sandboxes, %d running containers (isolated=%s, cgroups=%s, "
                 "state in memory=%s, zygote pid %s)", self.root, len(self._sandboxes), adopted, self.isolated,
                 self.cgroups, self._state_mounted, self.zygote_pid)

    def _prepare_dirs(self) -> bool:
        """Make the layout's directories, with ``state/`` on a tmpfs of its own when asked to: mounted
        unless it already is (left by an earlier runtime, with the records of running containers)
        or holds records written on disk (by a runtime without root), which a mount would hide.
        Whether ``state/`` is a tmpfs."""
        state_dir = self.root / state.STATE
        state_dir.mkdir(parents=True, exist_ok=True)
        (self.root / state.LOGS).mkdir(exist_ok=True)
        mounted = is_mount_point(str(state_dir))
        if self.state_in_memory and not mounted and not any(state_dir.iterdir()):
            libc().mount("tmpfs", str(state_dir), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          f"mode=0700,size={STATE_SIZE}")
            mounted = True
        (self.root / state.SANDBOXES).mkdir(exist_ok=True)
        (self.root / state.CONTAINERS).mkdir(exist_ok=True)
        return mounted

    def _release_state(self) -> None:
        """Unmount ``state/`` once nothing is left in it to adopt, so that a kubelet stopped with no
        pods leaves no mount behind (its root dir can then be removed like any directory)."""
        if self._state_mounted and not self._sandboxes and not self._containers:
            with contextlib.suppress(OSError):
                libc().umount(str(self.root / state.STATE), MNT_DETACH)
            self._state_mounted = False

    async def close(self) -> None:
        """Stop watching; containers keep running under their shims, the zygote stays for the next
        runtime."""
        if self._zygote_watch is not None:
            self._zygote_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._zygote_watch
            self._zygote_watch = None
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        for c in self._containers.values():
            if c.watcher is not None:
                c.watcher.cancel()
        for c in self._containers.values():
            if c.watcher is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await c.watcher
            c.watcher = None
        await asyncio.to_thread(self._release_state)

    # ---- runtime ---------------------------------------------------------------------------------

    async def version(self) -> VersionInfo:
        return VersionInfo(RUNTIME_NAME, navarch.__version__)

    async def status(self) -> list[RuntimeCondition]:
        # Pods use the host's network, which is always "ready".
        return [RuntimeCondition("RuntimeReady", True), RuntimeCondition("NetworkReady", True)]

    async def update_runtime_config(self, pod_cidr: str) -> None:
        self._pod_cidr = pod_cidr  # unused until pods get network namespaces of their own

    def subscribe(self, handler: ContainerEventHandler) -> Callable[[], None]:
        self._handlers.append(handler)
        if self._replay:
            # Exits that happened while nobody listened (the kubelet was down): the first
            # subscriber hears of them, right after subscribing.
            pending, self._replay = self._replay, []
            asyncio.get_running_loop().call_soon(self._deliver_replay, handler, pending)

        def unsubscribe() -> None:
            if handler in self._handlers:
                self._handlers.remove(handler)
        return unsubscribe

    # ---- sandboxes -------------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        sid = secrets.token_hex(32)
        d = self.root / state.SANDBOXES / sid
        d.mkdir(parents=True)
        record = {
            "name": config.name, "namespace": config.namespace, "uid": config.uid, "attempt": config.attempt,
            "hostname": config.hostname, "host_network": config.host_network, "log_directory": config.log_directory,
            "labels": dict(config.labels), "annotations": dict(config.annotations), "created_at": _now_iso(),
            "ip": self.node_ips[0], "additional_ips": list(self.node_ips[1:]), "state": SandboxState.READY.value}
        state.write_json(d / state.SANDBOX_FILE, record, _dumps)
        self._sandboxes[sid] = _Sandbox(sid, d, record)
        return sid

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        await asyncio.gather(*(self.stop_container(cid, 0) for cid in list(sb.containers)))
        if sb.record["state"] != SandboxState.NOTREADY.value:
            sb.record["state"] = SandboxState.NOTREADY.value
            state.write_json(sb.dir / state.SANDBOX_FILE, sb.record, _dumps)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            return
        await self.stop_pod_sandbox(sandbox_id)
        for cid in list(sb.containers):
            await self.remove_container(cid)
        self._sandboxes.pop(sandbox_id, None)
        await asyncio.to_thread(shutil.rmtree, sb.dir, True)

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus:
        return self._sandbox(sandbox_id).status()

    async def list_pod_sandbox(self, filter: SandboxFilter | None = None) -> list[PodSandboxStatus]:
        out = [sb.status() for sb in self._sandboxes.values()]
        if filter is not None:
            out = [s for s in out if (not filter.id or s.id == filter.id) and (not filter.uid or s.uid == filter.uid)
                   and (filter.state is None or s.state is filter.state)]
        return out

    # ---- containers ------------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox_config: PodSandboxConfig) -> str:
        sb = self._sandbox(sandbox_id)
        if sb.record["state"] != SandboxState.READY.value:
            raise NotFoundError(f"pod sandbox {sandbox_id} is not ready")
        if not config.command:
            raise CreateContainerConfigError(
                f'container "{config.name}" has no command: the process runtime runs host processes and cannot '
                f'know the entrypoint of image "{config.image}"; set the container\'s "command"')
        user = self._user_of(config)
        cid = secrets.token_hex(32)
        d = self.root / state.CONTAINERS / cid
        d.mkdir(parents=True)
        log_path = self._log_path(d, config, sb)
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        cgroup = cgroups.Cgroup.for_container(cid) if self.cgroups else None
        record = {
            "id": cid, "sandbox_id": sandbox_id, "name": config.name, "image": config.image,
            "attempt": config.attempt, "command": [*config.command, *config.args],
            "working_dir": config.working_dir, "envs": dict(config.envs),
            "mounts": [{"container_path": m.container_path, "host_path": m.host_path, "readonly": m.readonly}
                       for m in config.mounts],
            "labels": dict(config.labels), "annotations": dict(config.annotations), "log_path": log_path,
            "stdin": config.stdin, "stdin_once": config.stdin_once, "tty": config.tty,
            "cpu_millis": config.cpu_millis, "memory_limit_bytes": config.memory_limit_bytes,
            "cgroup": cgroup.name if cgroup else None, "isolated": self.isolated,
            "max_log_bytes": self.max_log_bytes, "max_log_files": self.max_log_files, "created_at": _now_iso()}
        if user is not None:
            record["user"] = user
        try:
            if cgroup is not None:
                await asyncio.to_thread(cgroup.create, cpu_millis=config.cpu_millis,
                                        memory_bytes=config.memory_limit_bytes)
            state.write_json(d / state.CONFIG_FILE, record, _dumps)
        except OSError as e:
            await asyncio.to_thread(_remove_dir_and_cgroup, d, cgroup)
            raise RuntimeFailure(f"failed to create container {config.name}: {e}") from e
        c = _Container(cid, d, record)
        self._containers[cid] = c
        sb.containers.add(cid)
        self._emit(c, ContainerEventType.CREATED)
        return cid

    def _user_of(self, config: ContainerConfig) -> dict[str, Any] | None:
        """The uid, gid and groups a container asks to run as (None: as this runtime's own user).
        As upstream's runtimes do with the image's /etc/passwd, the host's gives a user's primary
        group (else 0) and its groups; the pod's supplemental groups come on top."""
        if config.run_as_user is None and config.run_as_group is None and not config.supplemental_groups:
            return None
        uid = config.run_as_user if config.run_as_user is not None else os.getuid()
        entry = None
        with contextlib.suppress(KeyError):
            entry = pwd.getpwuid(uid)
        if config.run_as_group is not None:
            gid = config.run_as_group
        elif config.run_as_user is None:
            gid = os.getgid()
        else:
            gid = entry.pw_gid if entry is not None else 0
        groups = [gid]
        if entry is not None:
            with contextlib.suppress(OSError):
                groups = os.getgrouplist(entry.pw_name, gid)
        groups += [g for g in config.supplemental_groups if g not in groups]
        if os.geteuid() != 0:
            if uid == os.getuid() and gid == os.getgid() and not set(groups) - {gid, *os.getgroups()}:
                return None  # already who the container asks to be
            raise CreateContainerConfigError(
                f"the process runtime runs as uid {os.getuid()} and cannot run container \"{config.name}\" as "
                f"uid {uid}, gid {gid}, groups {groups}: only a kubelet running as root can")
        if self._setpriv is None:
            raise CreateContainerConfigError(
                f"container \"{config.name}\" asks to run as uid {uid}, gid {gid}: that needs setpriv (util-linux), "
                "which is not on this node's PATH")
        return {"uid": uid, "gid": gid, "groups": groups, "setpriv": self._setpriv}

    async def start_container(self, container_id: str) -> None:
        c = self._container(container_id)
        if c.state is not ContainerState.CREATED:
            raise RuntimeFailure(f"container {container_id} is {c.state.name.lower()}, not created")
        line = await self._spawn_shim(c)
        reply = orjson.loads(line) if line.strip() else {"error": "the shim exited: " + _tail(c.dir / state.SHIM_LOG_FILE)}
        if "error" in reply:
            c.exit = state.read_json(c.dir / state.EXIT_FILE, orjson.loads) or {
                "exit_code": 128, "finished_at": _now_iso(), "reason": "StartError", "message": reply["error"]}
            state.write_json(c.dir / state.EXIT_FILE, c.exit, _dumps)
            c.exited.set()
            self._emit(c, ContainerEventType.STOPPED)
            raise RuntimeFailure(f"failed to start container {c.config['name']}: {reply['error']}")
        c.started = state.read_json(c.dir / state.STARTED_FILE, orjson.loads)
        self._emit(c, ContainerEventType.STARTED)  # first: a quick exit is seen by the watch below
        await self._watch(c)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        c = self._containers.get(container_id)
        if c is None or c.state is ContainerState.EXITED:
            return
        if c.state is ContainerState.CREATED:
            # Never started: it simply becomes exited (nothing ran, nothing to signal).
            c.exit = {"exit_code": 0, "finished_at": _now_iso(), "reason": ""}
            state.write_json(c.dir / state.EXIT_FILE, c.exit, _dumps)
            self._finish(c)
            return
        if timeout > 0:
            await self._signal(c, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await c.exited.wait()
        if c.state is ContainerState.EXITED:
            return
        await self._signal(c, signal.SIGKILL)
        try:
            async with asyncio.timeout(KILL_WAIT):
                await c.exited.wait()
        except TimeoutError:
            log.warning("container %s: the shim did not report the exit after SIGKILL; killing directly", c.id)
            await self._shim_gone(c)

    async def remove_container(self, container_id: str) -> None:
        c = self._containers.get(container_id)
        if c is None:
            return
        if c.state is not ContainerState.EXITED:
            await self.stop_container(container_id, 0)
        if c.watcher is not None:
            c.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await c.watcher
        self._containers.pop(container_id, None)
        sb = self._sandboxes.get(c.config["sandbox_id"])
        if sb is not None:
            sb.containers.discard(container_id)
        cgroup = cgroups.Cgroup(c.config["cgroup"]) if c.config.get("cgroup") else None
        log_path = c.config["log_path"]
        outside = not Path(log_path).is_relative_to(c.dir)
        await asyncio.to_thread(_remove_dir_and_cgroup, c.dir, cgroup, crilog.log_files(log_path) if outside else [])
        self._emit(c, ContainerEventType.DELETED)

    async def container_status(self, container_id: str) -> ContainerStatus:
        return self._container(container_id).status()

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[ContainerStatus]:
        out = [c.status() for c in self._containers.values()]
        if filter is not None:
            out = [s for s in out if (not filter.id or s.id == filter.id)
                   and (not filter.sandbox_id or s.sandbox_id == filter.sandbox_id)
                   and (filter.state is None or s.state is filter.state)]
        return out

    # ---- images: the process runtime has none -----------------------------------------------------

    async def pull_image(self, image: str, auth: Mapping[str, str] | None = None) -> str:
        return self._image(image).repo_digests[0]

    async def image_status(self, image: str) -> Image | None:
        return self._image(image)

    async def list_images(self) -> list[Image]:
        return list(self._images.values())

    async def remove_image(self, image: str) -> None:
        self._images.pop(image, None)

    # ---- streaming -------------------------------------------------------------------------------

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
        """Runs ``cmd`` in the container's environment; raises ``TimeoutError`` (after killing it)
        when it outlives ``timeout`` seconds (0: no limit)."""
        c = self._running(container_id)
        argv, env, cwd = self._exec_argv(c, cmd, tty=False)
        proc = await self._spawn(argv, env, cwd, stdin=asyncio.subprocess.DEVNULL,
                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                 start_new_session=True)
        try:
            async with asyncio.timeout(timeout if timeout and timeout > 0 else None):
                stdout, stderr = await proc.communicate()
        except TimeoutError:
            raise TimeoutError(f"command {list(cmd)!r} timed out after {timeout:g}s") from None
        finally:
            if proc.returncode is None:
                kill_group(proc.pid)
                await proc.wait()
        code = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return ExecResult(stdout, stderr, code if code >= 0 else 128 - code)

    async def exec(self, container_id: str, cmd: Sequence[str], *, stdin: bool, tty: bool) -> StreamSession:
        c = self._running(container_id)
        argv, env, cwd = self._exec_argv(c, cmd, tty=tty)
        if not tty:
            proc = await self._spawn(argv, env, cwd,
                                     stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                     start_new_session=True)
            return PipeSession(proc)
        master, slave = os.openpty()
        try:
            # ``setsid --ctty`` makes the pty the controlling terminal (job control, SIGWINCH, ^C).
            proc = await self._spawn([self._setsid, "--ctty", "--wait", *argv], env, cwd,
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=False)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return PtySession(proc, master)

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> StreamSession:
        c = self._running(container_id)
        try:
            reader, writer = await open_abstract(state.attach_socket_name(c.id))
        except OSError as e:
            raise RuntimeFailure(f"cannot attach to container {container_id}: {e}") from e
        return AttachSession(reader, writer, stdin=stdin and bool(c.config.get("stdin")),
                             tty=bool(c.config.get("tty")))

    async def port_forward(self, sandbox_id: str, port: int) -> PortStream:
        self._sandbox(sandbox_id)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError as e:
            raise RuntimeFailure(f"failed to connect to localhost:{port} in pod sandbox {sandbox_id}: {e}") from e
        return TcpPortStream(reader, writer)

    async def container_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        c = self._container(container_id)
        exit_file = c.dir / state.EXIT_FILE

        def done() -> bool:
            return exit_file.exists() or not c.dir.exists()
        async for chunk in logreader.read_logs(
                c.config["log_path"], follow=options.follow, tail_lines=options.tail_lines, since=options.since,
                timestamps=options.timestamps, limit_bytes=options.limit_bytes, done=done):
            yield chunk

    # ---- internals: the zygote -------------------------------------------------------------------

    async def _spawn_shim(self, c: _Container) -> bytes:
        """Ask the zygote for a shim for ``c``; the shim's first line (``{"pid": N}`` or ``{"error"}``),
        or b"" when it ended without one."""
        for attempt in range(2):
            await self._ensure_zygote()
            try:
                reader, writer = await self._connect_zygote()
            except OSError:
                if attempt:
                    raise RuntimeFailure(f"cannot reach the zygote of {self.root}") from None
                self._forget_zygote()  # it died since we last heard of it: start another
                continue
            try:
                writer.write(orjson.dumps({"op": "spawn", "dir": str(c.dir)}) + b"\n")
                async with asyncio.timeout(SHIM_START_TIMEOUT):
                    return await reader.readline()
            except TimeoutError:
                raise RuntimeFailure(f"the shim of container {c.id} did not start in time") from None
            except OSError:
                return b""
            finally:
                writer.close()
        raise AssertionError("unreachable")

    async def _connect_zygote(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await open_abstract(zygote.socket_name(self.root))
        uid = state.peer_uid(writer.get_extra_info("socket"))
        if uid not in (0, os.getuid()):
            writer.close()
            raise RuntimeFailure(f"the zygote socket of {self.root} is held by another user (uid {uid})")
        return reader, writer

    async def _ensure_zygote(self) -> None:
        """Find the zygote serving root_dir (left by an earlier runtime, or started by another
        coroutine) or start one; replace one that runs other code than ours."""
        async with self._zygote_lock:
            if self._zygote is not None and not self._zygote.is_closing():
                return
            for _ in range(3):
                found = await self._hello()
                if found is not None:
                    reader, writer, reply = found
                    if reply.get("fingerprint") == self._fingerprint:
                        self._adopt_zygote(reader, writer, int(reply["pid"]))
                        return
                    log.info("process runtime: zygote %s runs other code; replacing it", reply.get("pid"))
                    writer.write(b'{"op": "exit"}\n')
                    with contextlib.suppress(TimeoutError, OSError):
                        async with asyncio.timeout(ZYGOTE_REPLY_TIMEOUT):
                            await reader.readline()
                    writer.close()
                await self._launch_zygote()
            raise RuntimeFailure(f"could not start the process runtime's zygote for {self.root}: "
                                 + _tail(self.root / zygote.ZYGOTE_LOG_FILE))

    async def _hello(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]] | None:
        try:
            reader, writer = await self._connect_zygote()
        except OSError:
            return None
        writer.write(b'{"op": "hello"}\n')
        try:
            async with asyncio.timeout(ZYGOTE_REPLY_TIMEOUT):
                line = await reader.readline()
            reply = orjson.loads(line)
        except (TimeoutError, OSError, ValueError):
            writer.close()
            return None
        return reader, writer, reply

    async def _launch_zygote(self) -> None:
        """Run ``python -m ...zygote ROOT FINGERPRINT``, which forks the detached zygote and exits.
        Only its exit is awaited, never the end of its output: an event loop that lets children
        inherit descriptors (uvloop does) would keep a pipe open in the zygote forever."""
        with open(self.root / zygote.ZYGOTE_LOG_FILE, "ab") as zygote_log:  # noqa: ASYNC230 - a local open
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", ZYGOTE_MODULE, str(self.root), self._fingerprint,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=zygote_log,
                start_new_session=True)
        try:
            async with asyncio.timeout(SHIM_START_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            kill_group(proc.pid)
            await proc.wait()

    def _adopt_zygote(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pid: int) -> None:
        self._zygote, self.zygote_pid = writer, pid
        self._zygote_watch = asyncio.get_running_loop().create_task(
            self._follow_zygote(reader, writer), name=f"watch zygote {pid}")

    async def _follow_zygote(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The presence connection ends when the zygote does; the next start launches another."""
        with contextlib.suppress(OSError):
            while await reader.read(4096):
                pass
        if self._zygote is writer:
            log.info("process runtime: zygote %s exited; the next container start launches another",
                     self.zygote_pid)
            self._forget_zygote()

    def _forget_zygote(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
        self._zygote = None
        self._zygote_watch = None

    # ---- internals: shims ------------------------------------------------------------------------

    async def _watch(self, c: _Container) -> None:
        """Connect to the container's shim; the connection's end is the container's end."""
        try:
            reader, writer = await open_abstract(state.shim_socket_name(c.id))
        except OSError:
            await self._shim_gone(c)  # finished (or died) before we got here
            return
        c.control = writer
        c.watcher = asyncio.get_running_loop().create_task(self._follow_shim(c, reader),
                                                          name=f"watch container {c.id[:12]}")

    async def _follow_shim(self, c: _Container, reader: asyncio.StreamReader) -> None:
        try:
            while await reader.read(4096):
                pass
        except OSError:
            pass
        c.watcher = None
        await self._shim_gone(c)

    async def _shim_gone(self, c: _Container) -> None:
        if c.control is not None:
            c.control.close()
            c.control = None
        if c.exit is not None:
            return
        c.exit = state.read_json(c.dir / state.EXIT_FILE, orjson.loads)
        if c.exit is None:
            # The shim died without recording an exit: nothing logs or waits for the process any more.
            started = c.started or {}
            pid = started.get("pid")
            if pid and state.same_process(pid, started.get("start_time")):
                kill_group(pid)
            if c.config.get("cgroup"):
                await asyncio.to_thread(cgroups.Cgroup(c.config["cgroup"]).kill_all)
            c.exit = {"exit_code": SHIM_DIED_EXIT, "finished_at": _now_iso(), "reason": "Error",
                      "message": "the container's shim process ended without recording its exit"}
            state.write_json(c.dir / state.EXIT_FILE, c.exit, _dumps)
        self._finish(c)

    def _finish(self, c: _Container) -> None:
        c.exited.set()
        if not self._handlers:
            self._replay.append(ContainerEvent(c.id, c.config["sandbox_id"], ContainerEventType.STOPPED, _now()))
            return
        if c.dir.exists():
            with contextlib.suppress(OSError):
                (c.dir / state.REPORTED_FILE).touch()
        self._emit(c, ContainerEventType.STOPPED)

    async def _signal(self, c: _Container, sig: int) -> None:
        if c.control is not None and not c.control.is_closing():
            c.control.write(orjson.dumps({"op": "signal", "signal": int(sig)}) + b"\n")
            with contextlib.suppress(ConnectionError):
                await c.control.drain()
                return
        # No shim to ask (it is gone, or the container was adopted without one): signal directly,
        # only if the pid still belongs to the container's process.
        started = c.started or {}
        pid = started.get("pid")
        if pid and state.same_process(pid, started.get("start_time")):
            kill_group(pid, sig)

    # ---- internals: exec -------------------------------------------------------------------------

    def _exec_argv(self, c: _Container, cmd: Sequence[str], *, tty: bool) -> tuple[list[str], dict[str, str], str]:
        if not cmd:
            raise RuntimeFailure("exec needs a command")
        env = state.container_env(c.config.get("envs") or {})
        workdir = c.config.get("working_dir") or "/"
        if not self.isolated:
            return as_user(c.config.get("user"), list(cmd)), env, workdir
        # Join the container's cgroups, then its mount namespace, then exec the command: sh writes
        # its own pid (kept across exec) to cgroup.procs; nsenter switches namespace and directory.
        # Values travel as positional parameters, never spliced into the script.
        procs = []
        if c.config.get("cgroup"):
            group = cgroups.Cgroup(c.config["cgroup"])
            procs = [os.path.join(group.path(ctl), "cgroup.procs") for ctl in cgroups.CONTROLLERS]
        pid = (c.started or {})["pid"]
        script = ('n=$1; shift; i=0; while [ "$i" -lt "$n" ]; do echo $$ > "$1"; shift; i=$((i+1)); done; '
                  'ns=$1; wd=$2; nsenter=$3; shift 3; ')
        if "PWD" not in env:
            script += "unset PWD; "  # sh exports one; the container's environment has none
        script += 'exec "$nsenter" --mount="$ns" --wdns="$wd" -- "$@"'
        argv = ["/bin/sh", "-c", script, "sh", str(len(procs)), *procs,
                f"/proc/{pid}/ns/mnt", workdir, self._nsenter, *as_user(c.config.get("user"), list(cmd))]
        return argv, env, "/"

    async def _spawn(self, argv: list[str], env: dict[str, str], cwd: str, **kwargs: Any) -> asyncio.subprocess.Process:
        try:
            return await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd, **kwargs)
        except FileNotFoundError as e:
            missing = argv[0] if e.filename in (None, argv[0]) else e.filename
            raise RuntimeFailure(f'exec: "{missing}": executable file not found in $PATH') from e
        except OSError as e:
            raise RuntimeFailure(f"exec failed: {e}") from e

    def _running(self, container_id: str) -> _Container:
        c = self._container(container_id)
        if c.state is not ContainerState.RUNNING:
            raise RuntimeFailure(f"container {container_id} is not running")
        return c

    # ---- internals: records ----------------------------------------------------------------------

    def _sandbox(self, sandbox_id: str) -> _Sandbox:
        sb = self._sandboxes.get(sandbox_id)
        if sb is None:
            raise NotFoundError(f"pod sandbox {sandbox_id} not found")
        return sb

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise NotFoundError(f"container {container_id} not found")
        return c

    def _log_path(self, d: Path, config: ContainerConfig, sb: _Sandbox) -> str:
        if config.log_path:
            if os.path.isabs(config.log_path):
                return config.log_path
            if sb.record.get("log_directory"):
                return os.path.join(sb.record["log_directory"], config.log_path)
        return str(self.root / state.LOGS / f"{d.name}.log")

    def _image(self, image: str) -> Image:
        found = self._images.get(image)
        if found is None:
            ref = image_ref(image)
            # The "image" is the host: its processes run as this runtime's user unless told otherwise.
            found = Image(id="sha256:" + ref.rsplit(":", 1)[-1], repo_tags=(image,), repo_digests=(ref,),
                          uid=os.getuid())
            self._images[image] = found
        return found

    def _emit(self, c: _Container, kind: ContainerEventType) -> None:
        event = ContainerEvent(c.id, c.config["sandbox_id"], kind, _now())
        for handler in list(self._handlers):
            try:
                handler(event)
            except Exception:  # one bad subscriber must not break the runtime
                log.exception("container event handler %r failed", handler)

    def _deliver_replay(self, handler: ContainerEventHandler, events: list[ContainerEvent]) -> None:
        if handler not in self._handlers:
            return
        for event in events:
            try:
                handler(event)
            except Exception:
                log.exception("container event handler %r failed", handler)
            c = self._containers.get(event.container_id)
            if c is not None and c.dir.exists():
                with contextlib.suppress(OSError):
                    (c.dir / state.REPORTED_FILE).touch()


async def open_abstract(name: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a unix socket in the abstract namespace. The socket is connected first and then
    handed to the loop: uvloop refuses abstract names in ``open_unix_connection`` (EINVAL)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, name)
        return await asyncio.open_unix_connection(sock=sock)
    except BaseException:
        sock.close()
        raise


def image_ref(image: str) -> str:
    """A stable, obviously synthetic digest reference: the process runtime has no image content."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _cgroups_available() -> bool:
    return cgroups.available()


def _entries(root: Path, *names: str) -> list[Path]:
    """The record directories under each of ``names`` that exists, in name order within each."""
    out: list[Path] = []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            out.extend(sorted((root / name).iterdir()))
    return out


def _remove_dir_and_cgroup(d: Path, cgroup: cgroups.Cgroup | None, extra_files: Sequence[str] = ()) -> None:
    if cgroup is not None:
        cgroup.remove()
    for f in extra_files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f)
    shutil.rmtree(d, ignore_errors=True)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip() or "no output"
    except OSError:
        return "no output"


def _now() -> datetime:
    return datetime.now(UTC)


def _now_iso() -> str:
    return _now().isoformat()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)

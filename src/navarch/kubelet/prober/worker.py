"""One probe worker: one probe type of one container of one pod, probing on its own tick
(upstream ``worker.go``), until the pod goes away or the container will not run again.

Each round (``do_probe``) follows upstream step by step:
- a new container instance (a new id) resets the result to the type's initial value (readiness:
  failure, liveness: success, startup: unknown) and lifts a hold;
- a liveness or startup failure puts the worker on hold until the container is replaced, so a
  container being killed is not probed (and failed) again;
- a container that is not running reads as failed; the worker ends if it will never run again
  (exited under ``restartPolicy: Never``);
- when the pod is being deleted, liveness and startup report success and end (a quiet shutdown);
- nothing is probed before ``initialDelaySeconds`` have passed since the container started;
- the startup probe runs until it has succeeded once; liveness and readiness only after that;
- a result becomes the container's only after ``successThreshold`` (``failureThreshold``) equal
  results in a row; a probe that errored counts as nothing.
Rounds run every ``periodSeconds`` on the injected clock, like Go's ticker (a tick missed while a
slow probe ran is taken at once, the schedule does not drift); ``trigger`` runs one at once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from navarch.kubelet.prober.probe import Result
from navarch.kubelet.prober.prober import ProbeType
from navarch.kubelet.prober.results import ResultsCache
from navarch.kubelet.runtimes.interface import ContainerState, ContainerStatus
from navarch.machinery.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 10
DEFAULT_SUCCESS_THRESHOLD = 1
DEFAULT_FAILURE_THRESHOLD = 3

INITIAL_RESULT = {ProbeType.READINESS: Result.FAILURE, ProbeType.LIVENESS: Result.SUCCESS,
                  ProbeType.STARTUP: Result.UNKNOWN}


@dataclass
class PodTarget:
    """What the pod workers last told the probes about one pod: the latest instance of each of its
    containers, by name, and the address probes go to."""

    key: str
    pod: Mapping[str, Any]
    pod_ip: str
    containers: Mapping[str, ContainerStatus]
    done: set[tuple[str, ProbeType]] = field(default_factory=set)


class ProbeRunner(Protocol):
    async def probe(self, probe_type: ProbeType, pod: Mapping[str, Any], pod_ip: str,
                    container: Mapping[str, Any], container_id: str) -> Result | None:
        """SUCCESS or FAILURE; None when the probe could not be run (the result is thrown away)."""
        ...


class WorkerHost(Protocol):
    """What a worker needs from its manager."""

    clock: Clock
    prober: ProbeRunner

    def results(self, probe_type: ProbeType) -> ResultsCache: ...

    def target(self, uid: str) -> PodTarget | None: ...

    def is_started(self, container: Mapping[str, Any], container_id: str) -> bool: ...

    def worker_done(self, worker: Worker) -> None: ...


class Worker:
    def __init__(self, host: WorkerHost, uid: str, container: Mapping[str, Any], probe_type: ProbeType) -> None:
        self.host = host
        self.uid = uid
        self.container = container
        self.name = str(container.get("name", ""))
        self.probe_type = probe_type
        self.spec: Mapping[str, Any] = container.get(probe_type.field) or {}
        self.results = host.results(probe_type)
        self.initial = INITIAL_RESULT[probe_type]
        self.container_id = ""
        self.last_result: Result | None = None
        self.result_run = 0
        self.on_hold = False
        self._wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Set when the worker ended on its own (not stopped): the manager does not start it again.
        self.finished = False

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or DEFAULT_PERIOD)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"probe {self.probe_type.value.lower()} {self.uid}/{self.name}")

    def trigger(self) -> None:
        """Probe at once (upstream's manual trigger); a trigger during a probe runs one more after it."""
        self._wake.set()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        clock = self.host.clock
        next_tick = clock.monotonic() + self.period
        try:
            while await self.do_probe():
                now = clock.monotonic()
                if next_tick > now:
                    await self._sleep(next_tick - now)
                now = clock.monotonic()
                while next_tick <= now:
                    next_tick += self.period
            self.finished = True
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must not leave the container probed by nobody, silently
            log.exception("probe worker %s/%s %s failed", self.uid, self.name, self.probe_type.value)
            self.finished = True
        finally:
            if self.container_id:
                self.results.remove(self.container_id)
            self.host.worker_done(self)

    async def _sleep(self, seconds: float) -> None:
        handle = self.host.clock.call_later(seconds, self._wake.set)
        try:
            await self._wake.wait()
        finally:
            handle.cancel()
            self._wake.clear()

    async def do_probe(self) -> bool:
        """One round; returns whether to keep going."""
        target = self.host.target(self.uid)
        if target is None:
            return True
        status = target.containers.get(self.name)
        if status is None:
            return True  # not created yet
        if status.id != self.container_id:
            if self.container_id:
                self.results.remove(self.container_id)
            self.container_id = status.id
            self.results.set(status.id, self.initial, target.key)
            self.on_hold = False
        if self.on_hold:
            return True
        if status.state is not ContainerState.RUNNING:
            self.results.set(self.container_id, Result.FAILURE, target.key)
            return status.state is not ContainerState.EXITED or self._restart_policy(target) != "Never"
        meta = target.pod.get("metadata") or {}
        if meta.get("deletionTimestamp") and self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP):
            self.results.set(self.container_id, Result.SUCCESS, target.key)
            return False
        started_at = status.started_at or status.created_at
        if int((self.host.clock.now() - started_at).total_seconds()) < int(self.spec.get("initialDelaySeconds") or 0):
            return True
        if self.host.is_started(self.container, self.container_id):
            if self.probe_type is ProbeType.STARTUP:
                return True
        elif self.probe_type is not ProbeType.STARTUP:
            return True

        result = await self.host.prober.probe(self.probe_type, target.pod, target.pod_ip, self.container,
                                              self.container_id)
        if result is None:
            return True
        if result is self.last_result:
            self.result_run += 1
        else:
            self.last_result = result
            self.result_run = 1
        failure_threshold = int(self.spec.get("failureThreshold") or DEFAULT_FAILURE_THRESHOLD)
        success_threshold = int(self.spec.get("successThreshold") or DEFAULT_SUCCESS_THRESHOLD)
        if (result is Result.FAILURE and self.result_run < failure_threshold) or \
                (result is Result.SUCCESS and self.result_run < success_threshold):
            return True  # not yet enough in a row: the container's result stays as it was
        self.results.set(self.container_id, result, target.key)
        if self.probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP) and result is Result.FAILURE:
            self.on_hold = True
            self.result_run = 0
        return True

    def _restart_policy(self, target: PodTarget) -> str:
        own = self.container.get("restartPolicy")  # sidecars: Always
        return str(own or (target.pod.get("spec") or {}).get("restartPolicy") or "Always")

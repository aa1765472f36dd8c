"""``ProbeManager``: the probe workers of one node and the results they judged (upstream
``prober_manager.go``).

The pod workers drive it and read from it, and nothing else does:
- ``update_pod`` on every sync of a running pod: starts the workers its spec asks for (liveness,
  readiness and startup of regular containers and of sidecars), hands them the latest instance of
  each container and the pod IP, and answers which containers are ready and started;
- ``unhealthy`` names the probe (liveness or startup) that failed a running container instance,
  which the pod workers then kill and restart;
- ``remove_pod`` when the pod is being stopped or is gone: its workers end and their results go.
A changed result calls ``on_change(pod_key)`` (given to ``attach``), so the pod is synced again
and its status written.

As upstream: a container without a readiness probe is ready when it runs, one with a readiness
probe only once the probe succeeded; with a startup probe, ``started`` waits for it, and an
unstarted container is never ready. A readiness probe that has not passed is also run at once
whenever the pod is synced (upstream's manual trigger), so a container is seen ready soon after
it starts.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

import navarch
from navarch.kubelet.prober.probe import Result
from navarch.kubelet.prober.prober import EmitEvent, Prober, ProbeType
from navarch.kubelet.prober.results import ResultsCache
from navarch.kubelet.prober.worker import PodTarget, ProbeRunner, Worker
from navarch.kubelet.runtimes.interface import ContainerState, ContainerStatus, StreamingService
from navarch.machinery.clock import Clock


class ProbeManager:
    def __init__(self, runtime: StreamingService | None, clock: Clock, *, prober: ProbeRunner | None = None,
                 version: tuple[int, ...] = navarch.KUBE_VERSION) -> None:
        """``prober`` replaces the real one (tests); by default exec probes go to ``runtime``."""
        self.clock = clock
        self.prober: ProbeRunner = prober or Prober(runtime, emit=self._emit, version=version)
        self._results = {t: ResultsCache(self._changed) for t in ProbeType}
        self._targets: dict[str, PodTarget] = {}
        self._workers: dict[str, dict[tuple[str, ProbeType], Worker]] = {}
        self._on_change: Callable[[str], None] = lambda key: None
        self._emitter: EmitEvent | None = None

    def attach(self, on_change: Callable[[str], None], emit: EmitEvent | None = None) -> None:
        self._on_change = on_change
        self._emitter = emit

    # ---- driven by the pod workers ------------------------------------------------------------------

    def update_pod(self, key: str, pod: Mapping[str, Any], containers: Mapping[str, ContainerStatus],
                   pod_ip: str) -> tuple[dict[str, bool], dict[str, bool]]:
        """Record the pod's current containers; returns ``(ready, started)`` for the running
        containers that have probes (the others are ready and started when they run)."""
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        probed = [c for c in probed_containers(pod) if any(c.get(t.field) for t in ProbeType)]
        if not probed:
            return {}, {}  # most pods: nothing to remember
        target = self._targets.get(uid)
        if target is None:
            target = self._targets[uid] = PodTarget(key, pod, pod_ip, dict(containers))
        else:
            target.key, target.pod, target.pod_ip, target.containers = key, pod, pod_ip, dict(containers)
        workers = self._workers.setdefault(uid, {})
        ready: dict[str, bool] = {}
        started: dict[str, bool] = {}
        for container in probed:
            name = str(container.get("name", ""))
            for probe_type in ProbeType:
                if container.get(probe_type.field) and (name, probe_type) not in workers \
                        and (name, probe_type) not in target.done:
                    worker = workers[(name, probe_type)] = Worker(self, uid, container, probe_type)
                    worker.start()
            status = containers.get(name)
            if status is None or status.state is not ContainerState.RUNNING:
                continue
            if container.get(ProbeType.STARTUP.field):
                started[name] = self.is_started(container, status.id)
            if container.get(ProbeType.READINESS.field):
                ready[name] = self._results[ProbeType.READINESS].get(status.id) is Result.SUCCESS
                readiness = workers.get((name, ProbeType.READINESS))
                if not ready[name] and readiness is not None and started.get(name, True):
                    readiness.trigger()
        if not workers:
            del self._workers[uid]
        return ready, started

    def unhealthy(self, container: Mapping[str, Any], container_id: str) -> ProbeType | None:
        """The probe that failed this container instance past its threshold: liveness, then startup."""
        for probe_type in (ProbeType.LIVENESS, ProbeType.STARTUP):
            if container.get(probe_type.field) and \
                    self._results[probe_type].get(container_id) is Result.FAILURE:
                return probe_type
        return None

    def remove_pod(self, uid: str) -> None:
        self._targets.pop(uid, None)
        for worker in self._workers.pop(uid, {}).values():
            worker.stop()

    def stop(self) -> None:
        """End every worker (the kubelet is stopping; containers keep running)."""
        for uid in list(self._workers):
            self.remove_pod(uid)
        self._targets.clear()

    # ---- for the workers (``WorkerHost``) -------------------------------------------------------

    def results(self, probe_type: ProbeType) -> ResultsCache:
        return self._results[probe_type]

    def target(self, uid: str) -> PodTarget | None:
        return self._targets.get(uid)

    def is_started(self, container: Mapping[str, Any], container_id: str) -> bool:
        if not container.get(ProbeType.STARTUP.field):
            return True
        return self._results[ProbeType.STARTUP].get(container_id) is Result.SUCCESS

    def worker_done(self, worker: Worker) -> None:
        workers = self._workers.get(worker.uid)
        if workers is not None and workers.get((worker.name, worker.probe_type)) is worker:
            del workers[(worker.name, worker.probe_type)]
            if not workers:
                del self._workers[worker.uid]
        target = self._targets.get(worker.uid)
        if worker.finished and target is not None:
            target.done.add((worker.name, worker.probe_type))

    # ---- introspection ----------------------------------------------------------------------------

    def workers(self, uid: str | None = None) -> list[Worker]:
        if uid is not None:
            return list(self._workers.get(uid, {}).values())
        return [w for ws in self._workers.values() for w in ws.values()]

    def _changed(self, pod_key: str) -> None:
        self._on_change(pod_key)

    def _emit(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, container: str) -> None:
        if self._emitter is not None:
            self._emitter(pod, kind, reason, message, container)


def probed_containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Containers that may carry probes: sidecars (restartable init containers) and regular ones."""
    spec = pod.get("spec") or {}
    for c in spec.get("initContainers") or []:
        if c.get("restartPolicy") == "Always":
            yield c
    yield from spec.get("containers") or []

"""The scheduler loop: informers in, one pod at a time through the framework, bindings out.

- Informers: every pod not Succeeded/Failed (bound ones feed the cache, pending ones whose
  ``spec.schedulerName`` names one of our profiles feed the queue, others are left alone), nodes,
  namespaces (for namespaceSelector terms) and PriorityClasses (for pods whose priority admission did
  not fill ``spec.priority``).
- Scheduling cycle: synchronous, so the cache cannot change under it; the chosen node gets the pod
  *assumed* at once so the next cycle counts it.
- Binding cycle: an asyncio task per pod (at most ``bind_concurrency`` API calls at once); success
  records a ``Scheduled`` event, failure forgets the assumption and requeues with backoff.
- Failure: ``PodScheduled=False`` (reason ``Unschedulable``, or ``SchedulerError`` for errors) with
  the FitError message, plus a ``FailedScheduling`` Warning event; the pod waits in the queue for a
  cluster event its rejecting plugins registered for.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Coroutine, Iterable, Mapping, Sequence

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.machinery.cache import DeletedFinalStateUnknown, final_state
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.events import NORMAL, WARNING, EventRecorder, timestamp
from navarch.machinery.factory import SharedInformerFactory
from navarch.scheduler.cache import Cache
from navarch.scheduler.framework.interface import CycleState, FitError, NoNodesAvailable
from navarch.scheduler.framework.profile import Profile, default_profile
from navarch.scheduler.framework.registry import Registry
from navarch.scheduler.framework.runtime import Framework
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import (
    ASSIGNED_POD, ASSIGNED_POD_ADD, ASSIGNED_POD_DELETE, NODE, NODE_ADD, ClusterEvent, NodeInfo, PodInfo,
    node_update_action, pod_update_action)
from navarch.scheduler.plugins import in_tree_registry
from navarch.scheduler.queue import QueuedPodInfo, SchedulingQueue
from navarch.scheduler.schedule_one import Algorithm

log = logging.getLogger(__name__)

COMPONENT = "default-scheduler"
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed"
DEFAULT_BIND_CONCURRENCY = 64
CACHE_CLEANUP_INTERVAL = 1.0
MAX_MESSAGE = 1024


class _Handle:
    """What one profile's plugins may use (framework.Handle)."""

    def __init__(self, sched: "Scheduler") -> None:
        self._sched = sched
        self.client = sched.client
        self.recorder = sched.recorder
        self.framework: Framework | None = None

    def node_infos(self) -> Sequence[NodeInfo]:
        return self._sched.cache.node_list()

    def get_node_info(self, name: str) -> NodeInfo | None:
        info = self._sched.cache.get_node(name)
        return info if info is not None and info.node is not None else None

    def nodes_with_affinity_pods(self) -> Sequence[NodeInfo]:
        return self._sched.cache.nodes_with_affinity_pods()

    def nodes_with_required_anti_affinity_pods(self) -> Sequence[NodeInfo]:
        return self._sched.cache.nodes_with_required_anti_affinity_pods()

    def namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self._sched.namespace_labels()

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        assert self.framework is not None
        return self.framework.run_filters(state, pod, node)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self._sched.spawn(coro, name)

    def priority_of(self, pod: PodInfo) -> int:
        return pod.priority


class Scheduler:
    def __init__(self, client: Client, factory: SharedInformerFactory, recorder: EventRecorder, *,
                 profiles: Iterable[Profile] | None = None, registry: Registry | None = None,
                 clock: Clock | None = None, percentage_of_nodes_to_score: int = 0,
                 bind_concurrency: int = DEFAULT_BIND_CONCURRENCY, rng: random.Random | None = None,
                 initial_backoff: float = 1.0, max_backoff: float = 10.0) -> None:
        self.client = client
        self.factory = factory
        self.recorder = recorder
        self.clock = clock or RealClock()
        self.cache = Cache(self.clock)
        self.algorithm = Algorithm(percentage_of_nodes_to_score, rng)
        registry = registry or in_tree_registry()
        self.frameworks: dict[str, Framework] = {}
        for profile in profiles or (default_profile(),):
            if profile.scheduler_name in self.frameworks:
                raise ValueError(f"duplicate profile for schedulerName {profile.scheduler_name!r}")
            handle = _Handle(self)
            fwk = Framework(profile, registry, handle)
            handle.framework = fwk
            self.frameworks[profile.scheduler_name] = fwk
        first = next(iter(self.frameworks.values()))
        if not first.queue_sort_plugins:
            raise ValueError("a profile needs a queue sort plugin")
        events: dict[str, list[ClusterEvent]] = {}
        for fwk in self.frameworks.values():
            for plugin, evs in fwk.events_to_register().items():
                events.setdefault(plugin, []).extend(evs)
        self.queue = SchedulingQueue(first.queue_sort_plugins[0].less, clock=self.clock, events=events,
                                     initial_backoff=initial_backoff, max_backoff=max_backoff)
        self._bind_sem = asyncio.Semaphore(bind_concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._nominated: dict[str, dict[str, PodInfo]] = {}
        self.scheduled = 0
        self.failed = 0

        self.pods = factory.informer("pods", field_selector=POD_FIELD_SELECTOR)
        self.nodes = factory.informer("nodes")
        self.namespaces = factory.informer("namespaces")
        self.priority_classes = factory.informer("scheduling.k8s.io/v1/priorityclasses")
        self.nodes.add_event_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self.pods.add_event_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)

    # ---- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Schedule until cancelled; starts (and on exit stops) its informers' factory."""
        self.factory.start()
        await self.factory.wait_for_cache_sync()
        log.info("scheduler caches synced: %d nodes, %d pods cached, %d pending",
                 len(self.cache.node_list()), self.cache.pod_count(), len(self.queue))
        helpers = [asyncio.create_task(self.queue.run(), name="scheduler queue flush"),
                   asyncio.create_task(self._cleanup_loop(), name="scheduler cache cleanup")]
        try:
            await self._loop()
        finally:
            self.queue.close()
            for t in helpers:
                t.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self.drain()

    async def _loop(self) -> None:
        while True:
            qpi = await self.queue.pop()
            try:
                self.schedule_one(qpi)
            except Exception:  # noqa: BLE001 - one pod's trouble must not stop scheduling
                log.exception("scheduling %s failed unexpectedly", qpi.key)
                self.queue.add_unschedulable(qpi, self.queue.scheduling_cycle, error=True)
            # Let informer deliveries and binding tasks run between cycles.
            await asyncio.sleep(0)

    async def drain(self) -> None:
        """Wait for binding and other background tasks (tests; clean shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _cleanup_loop(self) -> None:
        while True:
            await self.clock.sleep(CACHE_CLEANUP_INTERVAL)
            if self.cache.cleanup_expired():
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", task.get_name(), task.exception())

    # ---- the scheduling cycle --------------------------------------------------------------------

    def schedule_one(self, qpi: QueuedPodInfo) -> None:
        pod = qpi.pod_info
        fwk = self.frameworks.get(pod.scheduler_name)
        if fwk is None or pod.deleting or pod.node_name or self.cache.is_assumed(pod.key):
            self.queue.done(pod.key)
            return
        cycle = self.queue.scheduling_cycle
        state = CycleState()
        try:
            result = self.algorithm.schedule_pod(fwk, state, pod, self.cache.node_list(),
                                                 self._nominated_view() if self._nominated else None,
                                                 self.cache.arrays())
        except FitError as fit:
            nominated = None
            if fwk.post_filter_plugins:
                res, status = fwk.run_post_filter(state, pod, fit.diagnosis.node_to_status)
                if status.code != Code.SUCCESS:
                    fit.diagnosis.post_filter_msg = status.message()
                if res is not None:
                    nominated = res.nominated_node_name
            self._failure(qpi, cycle, str(fit), fit.diagnosis.unschedulable_plugins, rejected=True,
                          nominated=nominated)
            return
        except NoNodesAvailable as e:
            self._failure(qpi, cycle, str(e), set(), rejected=True, nominated="")
            return
        except Exception as e:  # noqa: BLE001
            log.exception("error scheduling %s", pod.key)
            self._failure(qpi, cycle, f"{type(e).__name__}: {e}", set(), rejected=False)
            return

        host = result.suggested_host
        self.cache.assume_pod(pod, host)
        status = fwk.run_reserve(state, pod, host)
        if status is not None:
            fwk.run_unreserve(state, pod, host)
            self.cache.forget_pod(pod.key)
            self._failure(qpi, cycle, status.message(), {status.plugin}, rejected=status.is_rejected())
            return
        self.spawn(self._binding_cycle(fwk, state, qpi, host, cycle), name=f"bind {pod.key}")

    async def _binding_cycle(self, fwk: Framework, state: CycleState, qpi: QueuedPodInfo, host: str,
                             cycle: int) -> None:
        pod = qpi.pod_info
        async with self._bind_sem:
            status = await fwk.run_bind(state, pod, host)
        if status is None:
            self.cache.finish_binding(pod.key)
            self.queue.done(pod.key)
            self._forget_nomination(pod.key)
            self.scheduled += 1
            log.debug("bound %s to %s", pod.key, host)
            self.recorder.event(_ref(pod), NORMAL, "Scheduled",
                                f"Successfully assigned {pod.namespace}/{pod.name} to {host}")
            return
        fwk.run_unreserve(state, pod, host)
        self.cache.forget_pod(pod.key)
        # Its resources are free again: pods waiting for room may fit now.
        self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)
        err = status.error
        if isinstance(err, ApiError) and is_not_found(err):
            # Deleted meanwhile: the informer will tell the rest. (A Conflict is retried: ``_failure``
            # drops the pod if the informer already shows it bound.)
            log.info("binding %s to %s: %s", pod.key, host, status.message())
            self.queue.done(pod.key)
            return
        self._failure(qpi, cycle, f"binding rejected: {status.message()}", set(), rejected=False)

    def _failure(self, qpi: QueuedPodInfo, cycle: int, message: str, plugins: set[str], *, rejected: bool,
                 nominated: str | None = None) -> None:
        pod = qpi.pod_info
        self.failed += 1
        current = self.pods.indexer.get(pod.key)
        if current is None or (current.get("metadata") or {}).get("uid") != pod.uid or \
                (current.get("spec") or {}).get("nodeName"):
            self.queue.done(pod.key)  # gone or bound meanwhile: nothing to retry or report
            return
        qpi.unschedulable_plugins = set(plugins) if rejected else set()
        self.queue.add_unschedulable(qpi, cycle, error=not rejected)
        if nominated:
            self._nominated.setdefault(nominated, {})[pod.key] = pod
        elif nominated == "":
            self._forget_nomination(pod.key)
        log.info("unable to schedule %s: %s", pod.key, message)
        message = message[:MAX_MESSAGE]
        self.recorder.event(_ref(pod), WARNING, "FailedScheduling", message)
        reason = "Unschedulable" if rejected else "SchedulerError"
        self.spawn(self._update_status(current, reason, message, nominated), name=f"status {pod.key}")

    async def _update_status(self, pod: Mapping[str, Any], reason: str, message: str,
                             nominated: str | None) -> None:
        status = pod.get("status") or {}
        old = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        same_condition = old is not None and old.get("status") == "False" and old.get("reason") == reason \
            and old.get("message") == message
        old_nominated = str(status.get("nominatedNodeName") or "")
        if same_condition and (nominated is None or nominated == old_nominated):
            return
        now = timestamp(self.clock.now())
        condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                     "lastProbeTime": None,
                     "lastTransitionTime": old.get("lastTransitionTime") if old and old.get("status") == "False"
                     else now}
        patch: dict[str, Any] = {"status": {"conditions": [condition]}}
        if nominated is not None and nominated != old_nominated:
            patch["status"]["nominatedNodeName"] = nominated or None
        meta = pod.get("metadata") or {}
        try:
            await self.client.patch("pods", meta["name"], patch, "strategic", meta.get("namespace"), "status")
        except ApiError as e:
            if not is_not_found(e):
                raise

    # ---- nominations (preemption) ----------------------------------------------------------------

    def _nominated_view(self) -> dict[str, list[PodInfo]]:
        return {node: list(pods.values()) for node, pods in self._nominated.items() if pods}

    def _forget_nomination(self, key: str) -> None:
        for node in list(self._nominated):
            pods = self._nominated[node]
            pods.pop(key, None)
            if not pods:
                del self._nominated[node]

    # ---- informer handlers -----------------------------------------------------------------------

    def namespace_labels(self) -> dict[str, Mapping[str, str]]:
        return {(ns.get("metadata") or {}).get("name", ""): (ns.get("metadata") or {}).get("labels") or {}
                for ns in self.namespaces.indexer.list()}

    def pod_info(self, pod: dict[str, Any]) -> PodInfo:
        info = PodInfo(pod)
        spec = pod.get("spec") or {}
        if spec.get("priority") is None and spec.get("priorityClassName"):
            pc = self.priority_classes.indexer.get(spec["priorityClassName"])
            if pc is not None:
                info.priority = int(pc.get("value") or 0)
        return info

    def responsible_for(self, pod: Mapping[str, Any]) -> bool:
        return str((pod.get("spec") or {}).get("schedulerName") or "default-scheduler") in self.frameworks

    def _on_pod_add(self, pod: dict[str, Any]) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            info = self.pod_info(pod)
            self.queue.delete(info.key)
            self.cache.add_pod(info)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_ADD)
        elif self.responsible_for(pod) and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.add(self.pod_info(pod))

    def _on_pod_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get("resourceVersion"):
            return  # a resync: nothing changed
        was_bound = bool((old.get("spec") or {}).get("nodeName"))
        if (new.get("spec") or {}).get("nodeName"):
            info = self.pod_info(new)
            if not was_bound:
                self.queue.delete(info.key)
                self.cache.add_pod(info)
                self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_ADD)
                return
            self.cache.update_pod(info)
            action = pod_update_action(old, new)
            if action:
                self.queue.move_all_to_active_or_backoff(ClusterEvent(ASSIGNED_POD, action))
            return
        key = f"{(new.get('metadata') or {}).get('namespace', '')}/{(new.get('metadata') or {}).get('name', '')}"
        if not self.responsible_for(new) or (new.get("metadata") or {}).get("deletionTimestamp"):
            self.queue.delete(key)
            return
        self.queue.update(self.pod_info(new), spec_changed=_pod_updated(old, new))

    def _on_pod_delete(self, obj: Any) -> None:
        pod = final_state(obj)
        meta = pod.get("metadata") or {}
        key = obj.key if isinstance(obj, DeletedFinalStateUnknown) else f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        self.queue.delete(key)
        self._forget_nomination(key)
        if self.cache.get_pod(key) is not None:
            self.cache.remove_pod(key)
            self.queue.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)

    def _on_node_add(self, node: dict[str, Any]) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active_or_backoff(NODE_ADD)

    def _on_node_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get("resourceVersion"):
            return
        self.cache.update_node(new)
        action = node_update_action(old, new)
        if action:
            self.queue.move_all_to_active_or_backoff(ClusterEvent(NODE, action))

    def _on_node_delete(self, obj: Any) -> None:
        node = final_state(obj)
        name = obj.key if isinstance(obj, DeletedFinalStateUnknown) else (node.get("metadata") or {}).get("name", "")
        self.cache.remove_node(name)


def _ref(pod: PodInfo) -> dict[str, Any]:
    ref = {"kind": "Pod", "apiVersion": "v1", "namespace": pod.namespace, "name": pod.name, "uid": pod.uid}
    rv = (pod.pod.get("metadata") or {}).get("resourceVersion")
    if rv:
        ref["resourceVersion"] = rv
    return ref


def _pod_updated(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Upstream isPodUpdated: anything but resourceVersion, generation, managed fields, finalizers and
    status changed (the scheduler's own status writes must not count as news)."""
    def strip(p: Mapping[str, Any]) -> tuple[Any, Any]:
        meta = {k: v for k, v in (p.get("metadata") or {}).items()
                if k not in ("resourceVersion", "generation", "managedFields", "finalizers")}
        return meta, p.get("spec")
    return strip(old) != strip(new)

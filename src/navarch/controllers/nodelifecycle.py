"""The node lifecycle controller: notices dead nodes, taints them, and evicts their pods.

Health: every ``node-monitor-period`` each node's last sign of life is checked. A sign of life is
a renewed Lease in ``kube-node-lease`` or a new ``lastHeartbeatTime`` on its Ready condition, timed
by this controller's own clock when it sees the change (never by the kubelet's, whose clock may be
off). After ``node-monitor-grace-period`` (``node-startup-grace-period`` for a node that never
reported) without one, Ready, MemoryPressure, DiskPressure and PIDPressure become ``Unknown``
(``NodeStatusUnknown``, "Kubelet stopped posting node status."), the node gets a ``NodeNotReady``
event and its pods are marked not ready, so endpoints stop sending them traffic.

Taints: conditions map to ``NoSchedule`` taints at once (``not-ready`` for Ready=False,
``unreachable`` for Unknown, pressure and ``unschedulable`` taints). ``NoExecute`` taints
(``not-ready``/``unreachable``) are rate-limited per zone (``node-eviction-rate``), slowed in
partially disrupted large zones and stopped when every zone is fully disrupted (then the fault is
more likely the control plane's than the nodes'), as upstream does. A recovered node loses them.

Eviction (upstream's taint manager): a pod on a node with a ``NoExecute`` taint it does not
tolerate is deleted at once; one tolerating every such taint for a limited ``tolerationSeconds``
is deleted that long after the earliest such taint was added (its ``timeAdded``), so a restarted
controller keeps the schedule. Evictions record ``TaintManagerEviction`` events and a
``DisruptionTarget`` pod condition.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from navarch.client.errors import ApiError, is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state, object_key
from navarch.machinery.events import NORMAL, timestamp
from navarch.machinery.indexer import NODE_INDEX

LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# Condition (type, status) → NoSchedule taint key (upstream nodeConditionToTaintKeyStatusMap).
CONDITION_TAINTS: dict[tuple[str, str], str] = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
MANAGED_NO_SCHEDULE = frozenset(CONDITION_TAINTS.values()) | {UNSCHEDULABLE}
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
ZONE_LABEL, REGION_LABEL = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"

DEFAULTS = {
    "node-monitor-period": 5.0,
    "node-monitor-grace-period": 40.0,
    "node-startup-grace-period": 60.0,
    "node-eviction-rate": 0.1,
    "secondary-node-eviction-rate": 0.01,
    "large-cluster-size-threshold": 50,
    "unhealthy-zone-threshold": 0.55,
}

NORMAL_ZONE, PARTIAL, FULL = "Normal", "PartialDisruption", "FullDisruption"


# ---- pure helpers ------------------------------------------------------------------------------


def condition(node: Obj, ctype: str) -> dict[str, Any] | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype:
            return dict(c)
    return None


def ready_status(node: Obj) -> str:
    c = condition(node, "Ready")
    return str(c.get("status")) if c else "Unknown"


def zone_of(node: Obj) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    region, zone = labels.get(REGION_LABEL, ""), labels.get(ZONE_LABEL, "")
    return f"{region}:\x00:{zone}" if (region or zone) else ""


def zone_state(ready: int, not_ready: int, threshold: float) -> str:
    """upstream ComputeZoneState: full when nothing is ready; partial when more than two nodes and
    at least ``threshold`` of them are not ready."""
    if ready == 0 and not_ready > 0:
        return FULL
    if not_ready > 2 and not_ready / max(ready + not_ready, 1) >= threshold:
        return PARTIAL
    return NORMAL_ZONE


def desired_no_schedule(node: Obj) -> set[str]:
    keys = set()
    for c in (node.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get((c.get("type"), c.get("status")))
        if key:
            keys.add(key)
    if (node.get("spec") or {}).get("unschedulable"):
        keys.add(UNSCHEDULABLE)
    return keys


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """upstream Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    if operator == "Equal":
        return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class Eviction:
    """``at`` None: never (tolerated forever); else the wall time at which to delete the pod."""

    at: datetime | None
    untolerated: bool = False


def eviction_time(tolerations: Iterable[Mapping[str, Any]], taints: Iterable[Mapping[str, Any]],
                  first_seen: datetime) -> Eviction | None:
    """When a pod must go because of its node's NoExecute taints; None when there are none.

    Every NoExecute taint must be tolerated or the pod goes now. Otherwise the smallest
    ``tolerationSeconds`` among the tolerations used applies (none set: forever), counted from the
    earliest taint's ``timeAdded`` (``first_seen`` when a taint carries none)."""
    no_execute = [t for t in taints if t.get("effect") == "NoExecute"]
    if not no_execute:
        return None
    tols = list(tolerations)
    used: list[Mapping[str, Any]] = []
    for taint in no_execute:
        matching = [t for t in tols if tolerates(t, taint)]
        if not matching:
            return Eviction(first_seen, untolerated=True)
        used.extend(matching)
    seconds = [int(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
    if not seconds:
        return Eviction(None)
    wait = max(min(seconds), 0)
    starts = [parse_time(t.get("timeAdded")) or first_seen for t in no_execute]
    return Eviction(min(starts) + timedelta(seconds=wait))


@dataclass
class NodeHealth:
    probe: float  # monotonic time of the last sign of life this controller saw
    heartbeat: str  # Ready condition lastHeartbeatTime seen then
    renew: str  # lease renewTime seen then


class TokenBucket:
    """One taint at a time per zone: burst 1, refilled at ``qps`` (0 stops it)."""

    def __init__(self, qps: float, now: float) -> None:
        self.qps = qps
        self.tokens = 1.0
        self.last = now

    def set_rate(self, qps: float, now: float) -> None:
        self._refill(now)
        self.qps = qps

    def try_take(self, now: float) -> bool:
        self._refill(now)
        if self.qps > 0 and self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def _refill(self, now: float) -> None:
        self.tokens = min(1.0, self.tokens + max(now - self.last, 0.0) * self.qps)
        self.last = now


# ---- the controller ----------------------------------------------------------------------------


class NodeLifecycleController(QueueController):
    name: ClassVar[str] = "nodelifecycle"
    workers: ClassVar[int] = 4

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        opt = {**DEFAULTS, **{k: v for k, v in ctx.options.items() if k in DEFAULTS}}
        self.monitor_period = float(opt["node-monitor-period"])
        self.grace = float(opt["node-monitor-grace-period"])
        self.startup_grace = float(opt["node-startup-grace-period"])
        self.eviction_rate = float(opt["node-eviction-rate"])
        self.secondary_rate = float(opt["secondary-node-eviction-rate"])
        self.large_cluster = int(opt["large-cluster-size-threshold"])
        self.unhealthy_threshold = float(opt["unhealthy-zone-threshold"])
        self.nodes = self.factory.lister("nodes")
        self.leases = self.factory.lister("leases", namespace=LEASE_NAMESPACE)
        self.pods = self.factory.lister("pods")
        self.health: dict[str, NodeHealth] = {}
        self.zone_states: dict[str, str] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self._pending_taint: dict[str, dict[str, None]] = {}  # zone → nodes waiting for NoExecute
        self._first_seen_taint: dict[str, datetime] = {}  # node → when NoExecute was first seen
        self._scheduled: set[str] = set()  # pods with an eviction scheduled
        self._pods_not_ready_retry: set[str] = set()
        self.factory.informer("nodes").add_event_handler(
            on_add=self._node_changed, on_update=self._node_updated, on_delete=self._node_deleted)
        self.factory.informer("leases", namespace=LEASE_NAMESPACE)
        self.factory.informer("pods").add_event_handler(
            on_add=self._pod_changed, on_update=lambda _o, n: self._pod_changed(n),
            on_delete=self._pod_deleted)

    # ---- handlers ----------------------------------------------------------------------------

    def _node_changed(self, node: Obj) -> None:
        self.queue.add(f"node:{object_key(node)}")
        self._enqueue_pods_on(node)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        self.queue.add(f"node:{object_key(new)}")
        if (old.get("spec") or {}).get("taints") != (new.get("spec") or {}).get("taints"):
            self._enqueue_pods_on(new)

    def _node_deleted(self, obj: Any) -> None:
        node = final_state(obj)
        name = object_key(obj)
        if self.health.pop(name, None) is not None:
            self.recorder.event(_node_ref(node), NORMAL, "RemovingNode",
                                f"Node {name} event: Removing Node {name} from Controller")
        self._first_seen_taint.pop(name, None)
        for pending in self._pending_taint.values():
            pending.pop(name, None)

    def _enqueue_pods_on(self, node: Obj) -> None:
        if any(t.get("effect") == "NoExecute" for t in (node.get("spec") or {}).get("taints") or []) \
                or self._scheduled:
            for pod in self.pods.by_index(NODE_INDEX, object_key(node)):
                self.queue.add(f"pod:{object_key(pod)}")

    def _pod_changed(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName"):
            self.queue.add(f"pod:{object_key(pod)}")

    def _pod_deleted(self, obj: Any) -> None:
        self._scheduled.discard(object_key(obj))

    # ---- the loop ----------------------------------------------------------------------------

    async def run(self, workers: int | None = None) -> None:
        monitor = asyncio.create_task(self._monitor_loop(), name=f"{self.name}-monitor")
        try:
            await super().run(workers)
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_node_health()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("monitoring node health failed")
            await self.clock.sleep(self.monitor_period)

    async def monitor_node_health(self) -> None:
        """One pass over every node: mark silent ones Unknown, then apply NoExecute taints per zone."""
        nodes = self.nodes.list()
        for node in nodes:
            try:
                await self._check_node(node)
            except ApiError as e:
                self.log.warning("node %s: health update failed: %s", object_key(node), e)
        self._update_zone_states(self.nodes.list())
        for node in self.nodes.list():
            self._plan_no_execute(node)
        await self._taint_pending()

    async def _check_node(self, node: Obj) -> None:
        name = object_key(node)
        now = self.clock.monotonic()
        ready = condition(node, "Ready")
        heartbeat = str((ready or {}).get("lastHeartbeatTime") or "")
        lease = self.leases.get(LEASE_NAMESPACE, name)
        renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
        saved = self.health.get(name)
        if saved is None:
            self.health[name] = NodeHealth(now, heartbeat, renew)
            self.recorder.event(_node_ref(node), NORMAL, "RegisteredNode",
                                f"Node {name} event: Registered Node {name} in Controller")
            return
        if heartbeat != saved.heartbeat or renew != saved.renew:
            saved.probe, saved.heartbeat, saved.renew = now, heartbeat, renew
        grace = self.grace if ready is not None else self.startup_grace
        if now <= saved.probe + grace:
            if name in self._pods_not_ready_retry and ready_status(node) != "True":
                await self._mark_pods_not_ready(node)
            return
        await self._mark_unknown(node)

    async def _mark_unknown(self, node: Obj) -> None:
        name = object_key(node)
        stamp = timestamp(self.clock.now())
        new = copy.deepcopy(dict(node))
        conditions: list[dict[str, Any]] = new.setdefault("status", {}).setdefault("conditions", [])
        was_ready = ready_status(node) == "True"
        changed = False
        for ctype in UNKNOWN_CONDITIONS:
            c = next((x for x in conditions if x.get("type") == ctype), None)
            if c is None:
                conditions.append({"type": ctype, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                   "message": "Kubelet never posted node status.",
                                   "lastHeartbeatTime": (node.get("metadata") or {}).get("creationTimestamp"),
                                   "lastTransitionTime": stamp})
                changed = True
            elif c.get("status") != "Unknown":
                c.update(status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status.",
                         lastTransitionTime=stamp)
                changed = True
        if not changed:
            return
        try:
            await self.client.update_status("nodes", new)
        except ApiError as e:
            if is_not_found(e) or is_conflict(e):
                return  # gone, or just changed: the next pass sees it
            raise
        self.log.info("node %s: no heartbeat for %.0fs, Ready is now Unknown", name, self.grace)
        if was_ready:
            self.recorder.event(_node_ref(node), NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            await self._mark_pods_not_ready(node)

    async def _mark_pods_not_ready(self, node: Obj) -> None:
        """Pods on a dead node stop being Ready, so Services stop routing to them."""
        name = object_key(node)
        failed = False
        stamp = timestamp(self.clock.now())
        for pod in self.pods.by_index(NODE_INDEX, name):
            conds = [dict(c) for c in (pod.get("status") or {}).get("conditions") or []]
            ready = next((c for c in conds if c.get("type") == "Ready"), None)
            if ready is None or ready.get("status") == "False":
                continue
            ready.update(status="False", lastTransitionTime=stamp)
            meta = pod.get("metadata") or {}
            try:
                await self.client.patch("pods", meta["name"], {"status": {"conditions": conds},
                                                                "metadata": {"resourceVersion": meta.get("resourceVersion")}},
                                        "merge", meta.get("namespace"), subresource="status")
                self.recorder.event(pod, "Warning", "NodeNotReady", "Node is not ready")
            except ApiError as e:
                if not is_not_found(e):
                    failed = True
        if failed:
            self._pods_not_ready_retry.add(name)
        else:
            self._pods_not_ready_retry.discard(name)

    # ---- zones and NoExecute tainting ---------------------------------------------------------

    def _update_zone_states(self, nodes: list[Obj]) -> None:
        counts: dict[str, list[int]] = {}
        for node in nodes:
            c = counts.setdefault(zone_of(node), [0, 0])
            c[0 if ready_status(node) == "True" else 1] += 1
        self.zone_states = {z: zone_state(r, n, self.unhealthy_threshold) for z, (r, n) in counts.items()}
        now = self.clock.monotonic()
        for zone, state in self.zone_states.items():
            size = sum(counts[zone])
            if state == PARTIAL:
                qps = self.secondary_rate if size > self.large_cluster else 0.0
            else:
                qps = self.eviction_rate
            bucket = self._buckets.get(zone)
            if bucket is None:
                self._buckets[zone] = TokenBucket(qps, now)
            else:
                bucket.set_rate(qps, now)

    def all_fully_disrupted(self) -> bool:
        return bool(self.zone_states) and all(s == FULL for s in self.zone_states.values())

    def _plan_no_execute(self, node: Obj) -> None:
        name = object_key(node)
        zone = zone_of(node)
        status = ready_status(node)
        pending = self._pending_taint.setdefault(zone, {})
        if status == "True" or self.all_fully_disrupted():
            pending.pop(name, None)
            if _no_execute_keys(node):
                self.queue.add(f"node:{name}")  # the node sync removes them
            return
        if _no_execute_keys(node):
            pending.pop(name, None)
            if _no_execute_keys(node) != {_no_execute_key_for(status)}:
                self.queue.add(f"node:{name}")  # swap not-ready ↔ unreachable at once
            return
        pending.setdefault(name, None)

    async def _taint_pending(self) -> None:
        now = self.clock.monotonic()
        for zone, pending in self._pending_taint.items():
            bucket = self._buckets.get(zone)
            while pending and bucket is not None and bucket.try_take(now):
                name = next(iter(pending))
                del pending[name]
                node = self.nodes.get(None, name)
                if node is None or ready_status(node) == "True":
                    continue
                try:
                    await self._set_taints(node, no_execute={_no_execute_key_for(ready_status(node))})
                except ApiError as e:
                    self.log.warning("node %s: NoExecute taint failed: %s", name, e)
                    pending[name] = None
                    break

    # ---- sync: node taints and pod evictions --------------------------------------------------

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if kind == "node":
            await self._sync_node(rest)
        else:
            await self._sync_pod(rest)

    async def _sync_node(self, name: str) -> None:
        node = self.nodes.get(None, name)
        if node is None:
            return
        status = ready_status(node)
        no_execute = _no_execute_keys(node)
        if status == "True" or self.all_fully_disrupted():
            no_execute = set()
        elif no_execute:
            no_execute = {_no_execute_key_for(status)}  # keep it, swapped to the current kind
        await self._set_taints(node, no_execute=no_execute)

    async def _set_taints(self, node: Obj, *, no_execute: set[str] | None = None) -> None:
        """Make the node's controller-managed taints match its conditions; others are kept as they are.
        ``no_execute`` None keeps the current NoExecute taints."""
        taints = [dict(t) for t in (node.get("spec") or {}).get("taints") or []]
        want_ns = desired_no_schedule(node)
        want_ne = _no_execute_keys(node) if no_execute is None else no_execute
        stamp = timestamp(self.clock.now())
        kept = []
        for t in taints:
            if t.get("effect") == "NoSchedule" and t.get("key") in MANAGED_NO_SCHEDULE and t["key"] not in want_ns:
                continue
            if t.get("effect") == "NoExecute" and t.get("key") in (NOT_READY, UNREACHABLE) and t["key"] not in want_ne:
                continue
            kept.append(t)
        have = {(t.get("key"), t.get("effect")) for t in kept}
        for key in sorted(want_ns):
            if (key, "NoSchedule") not in have:
                kept.append({"key": key, "effect": "NoSchedule", "timeAdded": stamp})
        for key in sorted(want_ne):
            if (key, "NoExecute") not in have:
                kept.append({"key": key, "effect": "NoExecute", "timeAdded": stamp})
        if kept == taints:
            return
        meta = node.get("metadata") or {}
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "spec": {"taints": kept or None}}
        try:
            await self.client.patch("nodes", meta["name"], patch, "merge")
        except ApiError as e:
            if is_not_found(e):
                return
            raise
        self.log.info("node %s: taints now %s", meta["name"],
                      ", ".join(f"{t['key']}:{t['effect']}" for t in kept) or "none")

    async def _sync_pod(self, key: str) -> None:
        ns, _, name = key.partition("/")
        pod = self.pods.get(ns, name)
        plan = None
        if pod is not None and not (pod.get("metadata") or {}).get("deletionTimestamp"):
            node_name = str((pod.get("spec") or {}).get("nodeName") or "")
            node = self.nodes.get(None, node_name) if node_name else None
            if node is not None:
                taints = (node.get("spec") or {}).get("taints") or []
                if any(t.get("effect") == "NoExecute" for t in taints):
                    first = self._first_seen_taint.setdefault(node_name, self.clock.now())
                else:
                    first = self.clock.now()
                    self._first_seen_taint.pop(node_name, None)
                plan = eviction_time((pod.get("spec") or {}).get("tolerations") or [], taints, first)
        if plan is None or plan.at is None:
            if key in self._scheduled:
                self._scheduled.discard(key)
                if pod is not None:
                    self.recorder.event(pod, NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {key}")
            return
        wait = (plan.at - self.clock.now()).total_seconds()
        if wait > 0 and not plan.untolerated:
            self._scheduled.add(key)
            self.queue.add_after(key_of_pod(key), wait)
            return
        assert pod is not None
        await self._evict(pod)
        self._scheduled.discard(key)

    async def _evict(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = object_key(pod)
        self.recorder.event(pod, NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {key}")
        conds = [dict(c) for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") != "DisruptionTarget"]
        conds.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                      "message": "Taint manager: deleting due to NoExecute taint",
                      "lastTransitionTime": timestamp(self.clock.now())})
        try:
            await self.client.patch("pods", meta["name"], {"status": {"conditions": conds}}, "merge",
                                    meta.get("namespace"), subresource="status")
            await self.client.delete("pods", meta["name"], meta.get("namespace"),
                                     preconditions={"uid": meta["uid"]} if meta.get("uid") else None)
        except ApiError as e:
            if is_not_found(e) or is_conflict(e):
                return
            raise
        self.log.info("evicted pod %s from node %s (NoExecute taint)", key, (pod.get("spec") or {}).get("nodeName"))


def key_of_pod(key: str) -> str:
    return f"pod:{key}"


def _no_execute_keys(node: Obj) -> set[str]:
    return {t["key"] for t in (node.get("spec") or {}).get("taints") or []
            if t.get("effect") == "NoExecute" and t.get("key") in (NOT_READY, UNREACHABLE)}


def _no_execute_key_for(ready: str) -> str:
    return NOT_READY if ready == "False" else UNREACHABLE


def _node_ref(node: Obj) -> dict[str, Any]:
    # Upstream records node events with the node's name as uid, in no namespace.
    name = (node.get("metadata") or {}).get("name", "")
    return {"kind": "Node", "apiVersion": "v1", "name": name, "uid": name}

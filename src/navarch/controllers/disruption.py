"""The disruption controller: keeps each PodDisruptionBudget's status true to its pods.

The eviction API trusts ``status.disruptionsAllowed``; everything here serves that number:
- ``minAvailable: N`` → desired healthy N, expected pods = pods selected;
- ``minAvailable: P%`` or ``maxUnavailable`` (int or %) → expected pods = the sum of the scale of the
  pods' controllers (a Deployment through its ReplicaSet, ReplicaSet, ReplicationController,
  StatefulSet, or any kind with a ``scale`` subresource), percentages rounded up;
- healthy = selected pods that are Ready, not being deleted, and not recently evicted
  (``status.disruptedPods`` entries younger than two minutes).
``disruptionsAllowed`` is healthy − desired, never negative, and zero while no pods are expected.
The ``DisruptionAllowed`` condition says ``SufficientPods`` or ``InsufficientPods``; when the
numbers cannot be computed the controller fails safe: zero allowed, reason ``SyncFailed``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from navarch.api import selectors
from navarch.client.errors import ApiError, is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.endpoints import is_pod_ready
from navarch.machinery.cache import Obj, final_state
from navarch.machinery.clock import Clock
from navarch.machinery.controllerref import controller_of
from navarch.machinery.events import NORMAL, WARNING, timestamp

DELETION_TIMEOUT = 120.0  # seconds an evicted pod may take to get its deletionTimestamp
CONDITION = "DisruptionAllowed"
SUFFICIENT, INSUFFICIENT, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"


class DisruptionError(Exception):
    """The budget's numbers cannot be computed (bad percentage, pods without a known controller)."""


def scaled_value(value: int | str, total: int, round_up: bool = True) -> int:
    """An int-or-percent resolved against ``total`` (upstream GetScaledValueFromIntOrPercent)."""
    if isinstance(value, bool):
        raise DisruptionError(f"invalid value for IntOrString: invalid type: {value!r}")
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        if text.isdigit():
            return int(text)
        raise DisruptionError("invalid value for IntOrString: invalid type: string is not a percentage")
    try:
        pct = int(text[:-1])
    except ValueError:
        raise DisruptionError(f'invalid value "{text}": strconv.Atoi: parsing "{text[:-1]}": invalid syntax') from None
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except (AttributeError, ValueError):
        return None


def disrupted_pod_map(pods: Iterable[Obj], disrupted: Mapping[str, str], now: datetime
                      ) -> tuple[dict[str, str], datetime | None, list[str]]:
    """Entries still pending (pod alive, not deleting, evicted < DELETION_TIMEOUT ago), the earliest
    moment one of them expires (to look again then), and pods that overstayed their eviction."""
    kept: dict[str, str] = {}
    recheck: datetime | None = None
    overdue: list[str] = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        when = disrupted.get(meta.get("name", ""))
        if when is None:
            continue
        t = parse_time(when)
        if t is None:
            continue
        expires = t + timedelta(seconds=DELETION_TIMEOUT)
        if expires < now:
            overdue.append(str(meta.get("name", "")))
            continue
        kept[meta["name"]] = when
        if recheck is None or expires < recheck:
            recheck = expires
    return kept, recheck, overdue


def count_healthy(pods: Iterable[Obj], disrupted: Mapping[str, str], now: datetime) -> int:
    healthy = 0
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue
        when = parse_time(disrupted.get(meta.get("name", ""), "") or "")
        if when is not None and when + timedelta(seconds=DELETION_TIMEOUT) > now:
            continue
        if is_pod_ready(pod):
            healthy += 1
    return healthy


def disruptions_allowed(current_healthy: int, desired_healthy: int, expected: int) -> int:
    allowed = current_healthy - desired_healthy
    return 0 if expected <= 0 or allowed <= 0 else allowed


@dataclass
class Expected:
    expected: int
    desired_healthy: int
    unmanaged: list[str]


def set_condition(status: dict[str, Any], status_value: str, reason: str, message: str, generation: int,
                  clock: Clock) -> None:
    """meta.SetStatusCondition: the transition time moves only when the status flips."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    existing = next((c for c in conditions if c.get("type") == CONDITION), None)
    if existing is None:
        conditions.append({"type": CONDITION, "status": status_value, "reason": reason, "message": message,
                           "observedGeneration": generation, "lastTransitionTime": timestamp(clock.now())})
        return
    if existing.get("status") != status_value:
        existing["lastTransitionTime"] = timestamp(clock.now())
    existing.update(status=status_value, reason=reason, message=message, observedGeneration=generation)


def conditions_up_to_date(pdb: Obj) -> bool:
    status = pdb.get("status") or {}
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == CONDITION), None)
    if cond is None or cond.get("observedGeneration") != status.get("observedGeneration"):
        return False
    if (status.get("disruptionsAllowed") or 0) > 0:
        return cond.get("status") == "True" and cond.get("reason") == SUFFICIENT
    return cond.get("status") == "False" and cond.get("reason") == INSUFFICIENT


class DisruptionController(QueueController):
    name: ClassVar[str] = "disruption"
    workers: ClassVar[int] = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.pdbs = self.factory.lister("poddisruptionbudgets")
        self.pods = self.factory.lister("pods")
        self.replicasets = self.factory.lister("replicasets")
        self.deployments = self.factory.lister("deployments")
        self.rcs = self.factory.lister("replicationcontrollers")
        self.statefulsets = self.factory.lister("statefulsets")
        self.factory.informer("poddisruptionbudgets").add_event_handler(
            on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.factory.informer("pods").add_event_handler(
            on_add=self._pod_changed, on_update=self._pod_updated,
            on_delete=lambda o: self._pod_changed(final_state(o)))
        for res in ("replicasets", "deployments", "replicationcontrollers", "statefulsets"):
            self.factory.informer(res).add_event_handler(
                on_add=self._controller_changed, on_update=lambda _o, n: self._controller_changed(n),
                on_delete=lambda o: self._controller_changed(final_state(o)))

    # ---- handlers ----------------------------------------------------------------------------

    def _pdbs_for_pod(self, pod: Obj) -> list[Obj]:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        out = []
        for pdb in self.pdbs.list(meta.get("namespace")):
            sel = (pdb.get("spec") or {}).get("selector")
            if sel is None:
                continue  # a nil selector selects nothing
            if selectors.label_selector_from_object(sel).matches(labels):
                out.append(pdb)
        return out

    def _pod_changed(self, pod: Obj) -> None:
        for pdb in self._pdbs_for_pod(pod):
            self.enqueue(pdb)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get("resourceVersion"):
            return
        self._pod_changed(new)
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._pod_changed(old)

    def _controller_changed(self, ctrl: Obj) -> None:
        # A scale change moves expected pods: revisit the budgets in that namespace that use scale.
        ns = (ctrl.get("metadata") or {}).get("namespace")
        for pdb in self.pdbs.list(ns):
            spec = pdb.get("spec") or {}
            if spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str):
                self.enqueue(pdb)

    # ---- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, _, name = key.partition("/")
        pdb = self.pdbs.get(ns, name)
        if pdb is None:
            return
        try:
            await self._try_sync(key, pdb)
        except ApiError as e:
            if is_conflict(e):
                raise
            await self._fail_safe(pdb, e)
            raise
        except DisruptionError as e:
            # Not retried: a change to the pods, their controllers or the budget enqueues it again.
            await self._fail_safe(pdb, e)

    async def _try_sync(self, key: str, pdb: Obj) -> None:
        pods = self._pods_for(pdb)
        if not pods:
            self.recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        try:
            exp = await self.expected_pod_count(pdb, pods)
        except DisruptionError as e:
            self.recorder.event(pdb, WARNING, "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {e}")
            raise
        if exp.unmanaged:
            sel = (pdb.get("spec") or {}).get("selector")
            self.recorder.event(pdb, WARNING, "UnmanagedPods",
                                f"Pods selected by this PodDisruptionBudget (selector: {sel}) were found to be "
                                "unmanaged. As a result, the status of the PDB cannot be calculated correctly, "
                                "which may result in undefined behavior. To account for these pods please set "
                                "\".spec.minAvailable\" field of the PDB to an integer value.")
        now = self.clock.now()
        status = pdb.get("status") or {}
        disrupted, recheck, overdue = disrupted_pod_map(pods, status.get("disruptedPods") or {}, now)
        for pod_name in overdue:
            pod = self.pods.get(pdb["metadata"]["namespace"], pod_name)
            if pod is not None:
                self.recorder.event(pod, WARNING, "NotDeleted",
                                    f"Pod was expected by PDB {pdb['metadata']['namespace']}/{pdb['metadata']['name']} "
                                    "to be deleted but it wasn't")
        healthy = count_healthy(pods, disrupted, now)
        await self._update_status(pdb, healthy, exp.desired_healthy, exp.expected, disrupted)
        if recheck is not None:
            self.queue.add_after(key, max((recheck - now).total_seconds(), 0.0))

    def _pods_for(self, pdb: Obj) -> list[Obj]:
        sel = (pdb.get("spec") or {}).get("selector")
        if sel is None:
            return []
        return self.pods.list(pdb["metadata"]["namespace"], selectors.label_selector_from_object(sel))

    async def expected_pod_count(self, pdb: Obj, pods: list[Obj]) -> Expected:
        spec = pdb.get("spec") or {}
        max_unavailable = spec.get("maxUnavailable")
        min_available = spec.get("minAvailable")
        if max_unavailable is not None:
            expected, unmanaged = await self.expected_scale(pdb, pods)
            desired = max(expected - scaled_value(max_unavailable, expected, True), 0)
            return Expected(expected, desired, unmanaged)
        if min_available is not None:
            if isinstance(min_available, int) and not isinstance(min_available, bool):
                return Expected(len(pods), min_available, [])
            expected, unmanaged = await self.expected_scale(pdb, pods)
            return Expected(expected, scaled_value(min_available, expected, True), unmanaged)
        return Expected(0, 0, [])

    async def expected_scale(self, pdb: Obj, pods: list[Obj]) -> tuple[int, list[str]]:
        """The sum of the scale of every controller of the selected pods (each counted once)."""
        scales: dict[str, int] = {}
        unmanaged: list[str] = []
        for pod in pods:
            ref = controller_of(pod)
            meta = pod.get("metadata") or {}
            if ref is None:
                unmanaged.append(str(meta.get("name", "")))
                continue
            if ref.get("uid") in scales:
                continue
            found = await self._scale_of(ref, str(meta.get("namespace", "")))
            if found is None:
                raise DisruptionError(f"found no controllers for pod \"{meta.get('name', '')}\"")
            uid, replicas = found
            scales[uid] = replicas
        return sum(scales.values()), unmanaged

    async def _scale_of(self, ref: Mapping[str, Any], ns: str) -> tuple[str, int] | None:
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        kind, name, uid = ref.get("kind"), str(ref.get("name", "")), ref.get("uid")
        if kind == "ReplicaSet" and group in ("apps", "extensions"):
            rs = self.replicasets.get(ns, name)
            if rs is None or rs["metadata"].get("uid") != uid:
                return None
            owner = controller_of(rs)
            if owner is not None and owner.get("kind") == "Deployment":
                dep = self.deployments.get(ns, str(owner.get("name", "")))
                if dep is None or dep["metadata"].get("uid") != owner.get("uid"):
                    return None
                return str(dep["metadata"]["uid"]), _replicas(dep)
            return str(uid), _replicas(rs)
        if kind == "ReplicationController" and group == "":
            rc = self.rcs.get(ns, name)
            return (str(uid), _replicas(rc)) if rc is not None and rc["metadata"].get("uid") == uid else None
        if kind == "StatefulSet" and group == "apps":
            sts = self.statefulsets.get(ns, name)
            return (str(uid), _replicas(sts)) if sts is not None and sts["metadata"].get("uid") == uid else None
        if kind == "Deployment" and group == "apps":
            dep = self.deployments.get(ns, name)
            return (str(uid), _replicas(dep)) if dep is not None and dep["metadata"].get("uid") == uid else None
        # Any other controller that has a scale subresource.
        registry = self.client.registry
        res = next((r for r in registry.resources if r.kind == kind and r.group == group and r.subresource("scale")),
                   None)
        if res is None:
            return None
        try:
            scale = await self.client.get(res, name, ns, subresource="scale")
        except ApiError as e:
            if is_not_found(e):
                return None
            raise
        if (scale.get("metadata") or {}).get("uid") not in (None, "", uid):
            return None
        return str(uid), int((scale.get("spec") or {}).get("replicas") or 0)

    async def _update_status(self, pdb: Obj, healthy: int, desired: int, expected: int,
                             disrupted: dict[str, str]) -> None:
        allowed = disruptions_allowed(healthy, desired, expected)
        status = pdb.get("status") or {}
        generation = int((pdb.get("metadata") or {}).get("generation") or 0)
        if (status.get("currentHealthy"), status.get("desiredHealthy"), status.get("expectedPods"),
                status.get("disruptionsAllowed"), status.get("disruptedPods") or {},
                status.get("observedGeneration")) == (healthy, desired, expected, allowed, disrupted, generation) \
                and conditions_up_to_date(pdb):
            return
        new = copy.deepcopy(dict(pdb))
        new_status: dict[str, Any] = {
            "currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
            "disruptionsAllowed": allowed, "observedGeneration": generation,
            "conditions": copy.deepcopy(status.get("conditions") or []),
        }
        if disrupted:
            new_status["disruptedPods"] = disrupted
        if allowed > 0:
            set_condition(new_status, "True", SUFFICIENT, "", generation, self.clock)
        else:
            set_condition(new_status, "False", INSUFFICIENT, "", generation, self.clock)
        new["status"] = new_status
        await self.client.update_status("poddisruptionbudgets", new)

    async def _fail_safe(self, pdb: Obj, err: BaseException) -> None:
        new = copy.deepcopy(dict(pdb))
        status = new.setdefault("status", {})
        status["disruptionsAllowed"] = 0
        set_condition(status, "False", SYNC_FAILED, str(err), int(status.get("observedGeneration") or 0), self.clock)
        try:
            await self.client.update_status("poddisruptionbudgets", new)
        except ApiError as e:
            self.log.warning("could not fail safe PDB %s/%s: %s", pdb["metadata"].get("namespace"),
                             pdb["metadata"].get("name"), e)


def _replicas(obj: Obj) -> int:
    replicas = (obj.get("spec") or {}).get("replicas")
    return 1 if replicas is None else int(replicas)

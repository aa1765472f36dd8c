"""The ReplicaSet and ReplicationController controllers: keep ``spec.replicas`` pods alive.

As upstream's ``pkg/controller/replicaset`` (which also runs ReplicationControllers through the same
code): each sync claims the pods its selector matches (adopting orphans, releasing pods that no longer
match, always by uid), creates missing pods from the template in slow-start batches (1, 2, 4, ...) so
a failing quota or admission hook costs one request rather than hundreds, deletes surplus pods in the
order upstream ranks them, and always writes status. Expectations stop a sync from acting again
before the informer has shown it its own creations and deletions.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
from datetime import datetime
from typing import Any, Awaitable, Callable, ClassVar, Mapping

from navarch.api import selectors
from navarch.client.errors import ApiError, is_conflict, is_invalid, is_not_found
from navarch.client.rest import Client
from navarch.controllers import workload
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, object_key, split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.expectations import ControllerExpectations, UIDTrackingExpectations
from navarch.machinery.indexer import OWNER_INDEX

Obj = Mapping[str, Any]

# Upstream's --concurrent burst: at most this many creations or deletions per sync.
BURST_REPLICAS = 500
SLOW_START_INITIAL_BATCH = 1
STATUS_UPDATE_RETRIES = 1
POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
REPLICA_FAILURE = "ReplicaFailure"
NAMESPACE_TERMINATING_CAUSE = "NamespaceTerminating"

_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# ---- pure helpers ------------------------------------------------------------------------------


async def slow_start_batch(count: int, initial: int, fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Call ``fn`` ``count`` times in batches that double after each fully successful one.

    Returns (successes, first error). A batch with any failure ends the run: when every call fails
    for the same reason (quota, webhook), only a handful of requests are wasted.
    """
    remaining, successes, batch = count, 0, min(count, initial)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for r in errors:
            if isinstance(r, asyncio.CancelledError):
                raise r
        successes += batch - len(errors)
        if errors:
            return successes, errors[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def deletion_cost(pod: Obj) -> int:
    """The ``controller.kubernetes.io/pod-deletion-cost`` annotation; 0 when absent or invalid."""
    raw = (workload.meta(pod).get("annotations") or {}).get(POD_DELETION_COST)
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return 0
    return value if -(2**31) <= value < 2**31 else 0


def _ready_time(pod: Obj) -> datetime | None:
    c = workload.condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return workload.parse_time(c.get("lastTransitionTime"))


def _max_restarts(pod: Obj) -> int:
    return max((int(c.get("restartCount") or 0) for c in workload.status(pod).get("containerStatuses") or []),
               default=0)


def _log_rank(t: datetime, now: datetime) -> int:
    """Upstream's LogarithmicScaleDown bucket: floor(log2(age in nanoseconds)), -1 for no age."""
    age_ns = (now - t).total_seconds() * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _newer_first(t1: datetime | None, t2: datetime | None, uid1: str, uid2: str, now: datetime | None) -> int:
    """-1 when the first pod should go first by time: missing times first, then younger, where ages in
    the same power-of-two bucket count as equal (and the uid decides) so scale-down is not always the
    very newest pods (upstream's logarithmicRankDiff)."""
    if t1 is None or t2 is None or now is None:
        if t1 is None and t2 is None:
            return 0
        return -1 if t1 is None else 1
    if t1 == t2:
        return 0
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return -1 if uid1 < uid2 else (1 if uid1 > uid2 else 0)
    return -1 if diff < 0 else 1


def compare_for_deletion(a: Obj, b: Obj, rank_a: int, rank_b: int, now: datetime | None) -> int:
    """Negative when ``a`` should be deleted before ``b`` (upstream ActivePodsWithRanks.Less):
    unscheduled < scheduled; Pending < Unknown < Running; not ready < ready; lower deletion cost;
    more pods of the same owner family on its node; ready more recently; more restarts; newer."""
    node_a, node_b = workload.spec(a).get("nodeName") or "", workload.spec(b).get("nodeName") or ""
    if node_a != node_b and (not node_a or not node_b):
        return -1 if not node_a else 1
    pa, pb = _PHASE_ORDINAL.get(workload.phase(a), 0), _PHASE_ORDINAL.get(workload.phase(b), 0)
    if pa != pb:
        return -1 if pa < pb else 1
    ready_a, ready_b = workload.is_pod_ready(a), workload.is_pod_ready(b)
    if ready_a != ready_b:
        return -1 if not ready_a else 1
    ca, cb = deletion_cost(a), deletion_cost(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if rank_a != rank_b:
        return -1 if rank_a > rank_b else 1
    uid_a, uid_b = str(workload.meta(a).get("uid") or ""), str(workload.meta(b).get("uid") or "")
    if ready_a and ready_b:
        ta, tb = _ready_time(a), _ready_time(b)
        if ta != tb:
            c = _newer_first(ta, tb, uid_a, uid_b, now)
            if c:
                return c
    ra, rb = _max_restarts(a), _max_restarts(b)
    if ra != rb:
        return -1 if ra > rb else 1
    ta = workload.parse_time(workload.meta(a).get("creationTimestamp"))
    tb = workload.parse_time(workload.meta(b).get("creationTimestamp"))
    if ta != tb:
        return _newer_first(ta, tb, uid_a, uid_b, now)
    return 0


def rank_for_deletion(pods: list[Obj], related: list[Obj], now: datetime | None) -> list[Obj]:
    """``pods`` ordered most-deletable first. A pod's rank is how many active ``related`` pods (this
    owner's and its siblings', e.g. the other ReplicaSets of one Deployment) share its node, so
    scale-down spreads what remains."""
    on_node: dict[str, int] = {}
    for p in related:
        if workload.is_active(p):
            node = workload.spec(p).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked: list[tuple[Obj, int]] = [(p, on_node.get(workload.spec(p).get("nodeName") or "", 0)) for p in pods]

    def cmp(x: tuple[Obj, int], y: tuple[Obj, int]) -> int:
        return compare_for_deletion(x[0], y[0], x[1], y[1], now)

    ranked.sort(key=functools.cmp_to_key(cmp))
    return [p for p, _ in ranked]


def pods_to_delete(pods: list[Obj], related: list[Obj], diff: int, now: datetime | None) -> list[Obj]:
    if diff >= len(pods):
        return list(pods)
    return rank_for_deletion(pods, related, now)[:diff]


def _count(status: Mapping[str, Any], field: str) -> int:
    return int(status.get(field) or 0)


def calculate_status(rs: Obj, pods: list[Obj], manage_error: BaseException | None, now: datetime) -> dict[str, Any]:
    """The status a sync writes: counts over the claimed active pods, and a ReplicaFailure condition
    while creating or deleting fails (upstream calculateStatus)."""
    spec = workload.spec(rs)
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(spec.get("minReadySeconds") or 0)
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = workload.meta(pod).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if workload.is_pod_ready(pod):
            ready += 1
            if workload.is_pod_available(pod, min_ready, now):
                available += 1
    status = copy.deepcopy(dict(workload.status(rs)))
    conditions = [c for c in status.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None and failure is None:
        diff = len(pods) - int(spec.get("replicas", 1))
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append({"type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": workload.timestamp(now),
                           "reason": reason, "message": error_message(manage_error)})
    elif manage_error is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != REPLICA_FAILURE]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)
    status.update(replicas=len(pods), fullyLabeledReplicas=fully_labeled, readyReplicas=ready,
                  availableReplicas=available)
    return status


def status_unchanged(rs: Obj, new: Mapping[str, Any]) -> bool:
    old = workload.status(rs)
    fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    return (all(_count(old, f) == _count(new, f) for f in fields)
            and int(workload.meta(rs).get("generation") or 0) == _count(old, "observedGeneration")
            and list(old.get("conditions") or []) == list(new.get("conditions") or []))


def error_message(e: BaseException) -> str:
    """What Go's ``err.Error()`` prints: an API error is its Status message."""
    return e.message if isinstance(e, ApiError) and e.message else str(e)


def has_status_cause(e: BaseException, cause: str) -> bool:
    return isinstance(e, ApiError) and any(c.get("type") == cause for c in e.details.get("causes") or [])


async def recheck_owner(client: Client, resource: str, owner: Obj) -> BaseException | None:
    """None when ``owner`` still exists with the same uid and is not being deleted; otherwise why
    adoption must not happen (upstream RecheckDeletionTimestamp reads the server, not the cache)."""
    meta = workload.meta(owner)
    try:
        fresh = await client.get(resource, meta["name"], meta.get("namespace"))
    except ApiError as e:
        return e
    fmeta = workload.meta(fresh)
    if fmeta.get("uid") != meta.get("uid"):
        return RuntimeError(f"original {meta.get('namespace')}/{meta['name']} is gone: got uid "
                            f"{fmeta.get('uid')}, wanted {meta.get('uid')}")
    if fmeta.get("deletionTimestamp"):
        return RuntimeError(f"{meta.get('namespace')}/{meta['name']} has just been deleted at "
                            f"{fmeta['deletionTimestamp']}")
    return None


async def claim_children(client: Client, owner: Obj, owner_resource: str, kind: str, api_version: str,
                         selector: selectors.LabelSelector, children: list[Obj], child_resource: str) -> list[Obj]:
    """The children ``owner`` controls after claiming (upstream ControllerRefManager): its own that
    still match, plus adopted orphans that match; its own that stopped matching are released. Adoption
    first re-reads the owner from the server, once, so a just-deleted or re-created owner never adopts.
    Raises the first failure after trying every child."""
    claimed: list[Obj] = []
    errors: list[BaseException] = []
    can_adopt: list[BaseException | None] = []
    ns = workload.meta(owner).get("namespace")
    for child in children:
        decision = controllerref.claim(owner, selector, child)
        child_name = workload.meta(child)["name"]
        if decision == "keep":
            claimed.append(child)
        elif decision == "adopt":
            if not can_adopt:
                can_adopt.append(await recheck_owner(client, owner_resource, owner))
            if can_adopt[0] is not None:
                errors.append(can_adopt[0])
                continue
            patch = controllerref.adopt_patch(owner, kind, api_version, child)
            try:
                claimed.append(await client.patch(child_resource, child_name, patch, "strategic", ns))
            except ApiError as e:
                if not is_not_found(e):
                    errors.append(e)
        elif decision == "release":
            try:
                await client.patch(child_resource, child_name, controllerref.release_patch(owner, child),
                                   "strategic", ns)
            except ApiError as e:
                # Gone, or replaced by another object under the same name (uid mismatch): nothing to release.
                if not (is_not_found(e) or is_invalid(e)):
                    errors.append(e)
    if errors:
        raise errors[0]
    return claimed


# ---- the controller ----------------------------------------------------------------------------


class ReplicaSetController(QueueController):
    name: ClassVar[str] = "replicaset"
    workers: ClassVar[int] = 5
    resource: ClassVar[str] = "apps/v1/replicasets"
    kind: ClassVar[str] = "ReplicaSet"
    api_version: ClassVar[str] = "apps/v1"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.burst_replicas = int(ctx.options.get("burst-replicas", BURST_REPLICAS))
        self.expectations = UIDTrackingExpectations(ControllerExpectations(clock=ctx.clock))
        owner_informer = self.factory.informer(self.resource)
        pod_informer = self.factory.informer("v1/pods")
        self.owners = self.factory.lister(self.resource)
        self.pods = self.factory.lister("v1/pods")
        owner_informer.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), self._owner_deleted)
        pod_informer.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # -- what differs between ReplicaSets and ReplicationControllers

    def selector_of(self, owner: Obj) -> selectors.LabelSelector:
        return selectors.label_selector_from_object(workload.spec(owner).get("selector"))

    # -- handlers: objects to keys, nothing else

    def _owner_deleted(self, obj: Any) -> None:
        key = object_key(obj)
        self.expectations.delete_expectations(key)
        self.queue.add(key)

    def _resolve(self, namespace: str, ref: Mapping[str, Any]) -> Obj | None:
        if ref.get("kind") != self.kind:
            return None
        owner = self.owners.get(namespace, str(ref.get("name") or ""))
        if owner is None or workload.meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        labels = workload.meta(pod).get("labels") or {}
        out = []
        for owner in self.owners.list(workload.meta(pod).get("namespace")):
            try:
                sel = self.selector_of(owner)
            except Exception:  # noqa: BLE001 - an invalid selector selects nothing
                continue
            if not sel.empty and sel.matches(labels):
                out.append(owner)
        return out

    def _pod_added(self, pod: Obj) -> None:
        if workload.is_terminating(pod):
            # After a restart a pod may first appear already being deleted: not a creation.
            self._pod_deleted(pod)
            return
        ref = controllerref.controller_of(pod)
        if ref is not None:
            owner = self._resolve(workload.meta(pod).get("namespace") or "", ref)
            if owner is not None:
                key = object_key(owner)
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if workload.meta(old).get("resourceVersion") == workload.meta(cur).get("resourceVersion"):
            return
        label_changed = workload.meta(old).get("labels") != workload.meta(cur).get("labels")
        if workload.is_terminating(cur):
            self._pod_deleted(cur)
            if label_changed:
                self._pod_deleted(old)
            return
        ns = workload.meta(cur).get("namespace") or ""
        cur_ref, old_ref = controllerref.controller_of(cur), controllerref.controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            owner = self._resolve(ns, old_ref)
            if owner is not None:
                self.enqueue(owner)
        if cur_ref is not None:
            owner = self._resolve(ns, cur_ref)
            if owner is None:
                return
            self.enqueue(owner)
            min_ready = int(workload.spec(owner).get("minReadySeconds") or 0)
            if min_ready > 0 and not workload.is_pod_ready(old) and workload.is_pod_ready(cur):
                self.queue.add_after(object_key(owner), float(min_ready))
            return
        if label_changed or ref_changed:
            for owner in self._matching_owners(cur):
                self.enqueue(owner)

    def _pod_deleted(self, obj: Any) -> None:
        pod = final_state(obj)
        ref = controllerref.controller_of(pod)
        if ref is None:
            return  # an orphan's deletion changes nobody's count
        owner = self._resolve(workload.meta(pod).get("namespace") or "", ref)
        if owner is None:
            return
        key = object_key(owner)
        self.expectations.deletion_observed(key, str(workload.meta(pod).get("uid") or ""))
        self.queue.add(key)

    # -- sync

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        owner = self.owners.get(ns, name)
        if owner is None:
            self.expectations.delete_expectations(key)
            return
        needs_sync = self.expectations.satisfied(key)
        try:
            selector = self.selector_of(owner)
        except Exception as e:  # noqa: BLE001 - retrying will not fix a bad selector
            self.log.warning("%s %s has an invalid selector: %s", self.kind, key, e)
            return
        active = [p for p in self.pods.list(ns) if workload.is_active(p)]
        pods = await self.claim_pods(owner, selector, active)

        manage_error: BaseException | None = None
        if needs_sync and not workload.is_terminating(owner):
            try:
                await self.manage_replicas(pods, owner, key)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - status records it, then the sync is retried
                manage_error = e
        updated = await self.update_status(owner, calculate_status(owner, pods, manage_error, self.clock.now()))
        if manage_error is not None:
            raise manage_error
        spec, status = workload.spec(updated), workload.status(updated)
        min_ready = int(spec.get("minReadySeconds") or 0)
        replicas = int(spec.get("replicas", 1))
        if min_ready > 0 and _count(status, "readyReplicas") == replicas \
                and _count(status, "availableReplicas") != replicas:
            self.queue.add_after(key, float(min_ready))

    async def claim_pods(self, owner: Obj, selector: selectors.LabelSelector, pods: list[Obj]) -> list[Obj]:
        return await claim_children(self.client, owner, self.resource, self.kind, self.api_version, selector,
                                    pods, "v1/pods")

    async def manage_replicas(self, pods: list[Obj], owner: Obj, key: str) -> None:
        spec = workload.spec(owner)
        diff = len(pods) - int(spec.get("replicas", 1))
        if diff < 0:
            diff = min(-diff, self.burst_replicas)
            # Raised before any write: an informer event for a pod we created may beat the response.
            self.expectations.expect_creations(key, diff)
            self.log.info("too few replicas for %s %s, need %d, creating %d", self.kind, key,
                          int(spec.get("replicas", 1)), diff)
            successes, error = await slow_start_batch(diff, SLOW_START_INITIAL_BATCH, lambda: self._create_pod(owner))
            if error is not None:
                skipped = diff - successes
                if skipped > 0:
                    self.expectations.lower_expectations(key, adds=skipped)
                raise error
        elif diff > 0:
            diff = min(diff, self.burst_replicas)
            self.log.info("too many replicas for %s %s, need %d, deleting %d", self.kind, key,
                          int(spec.get("replicas", 1)), diff)
            victims = pods_to_delete(pods, self._related_pods(owner), diff, self.clock.now())
            self.expectations.expect_deletions(key, [str(workload.meta(p).get("uid") or "") for p in victims])
            results = await asyncio.gather(*(self._delete_pod(owner, key, p) for p in victims), return_exceptions=True)
            for r in results:
                if isinstance(r, asyncio.CancelledError):
                    raise r
            errors = [r for r in results if isinstance(r, BaseException)]
            if errors:
                raise errors[0]

    def _related_pods(self, owner: Obj) -> list[Obj]:
        """Pods of this owner and of every sibling controlled by the same parent (a Deployment's
        ReplicaSets), for ranking by co-location."""
        meta = workload.meta(owner)
        ns = meta.get("namespace")
        parent = controllerref.controller_of(owner)
        family = [owner]
        if parent is not None:
            family = [o for o in self.owners.list(ns)
                      if (controllerref.controller_of(o) or {}).get("uid") == parent.get("uid")] or [owner]
        related: list[Obj] = []
        for member in family:
            uid = workload.meta(member).get("uid")
            for pod in self.pods.by_index(OWNER_INDEX, str(uid)):
                if (controllerref.controller_of(pod) or {}).get("uid") == uid:
                    related.append(pod)
        return related

    async def _create_pod(self, owner: Obj) -> None:
        meta = workload.meta(owner)
        template = workload.spec(owner).get("template") or {}
        ref = controllerref.new_controller_ref(owner, self.kind, self.api_version)
        body = workload.pod_from_template(template, meta.get("namespace") or "", ref,
                                          generate_name=f"{meta['name']}-")
        if not body["metadata"].get("labels"):
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self.client.create("v1/pods", body, meta.get("namespace"))
        except ApiError as e:
            if has_status_cause(e, NAMESPACE_TERMINATING_CAUSE):
                return  # every later create fails too; the namespace's deletion ends this owner
            self.recorder.event(owner, WARNING, "FailedCreate", f"Error creating: {error_message(e)}")
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, owner: Obj, key: str, pod: Obj) -> None:
        pmeta = workload.meta(pod)
        try:
            await self.client.delete("v1/pods", pmeta["name"], pmeta.get("namespace"))
        except ApiError as e:
            # The informer will never show a deletion we did not make: lower it ourselves.
            self.expectations.deletion_observed(key, str(pmeta.get("uid") or ""))
            if is_not_found(e):
                return
            self.recorder.event(owner, WARNING, "FailedDelete", f"Error deleting: {error_message(e)}")
            raise
        except BaseException:
            self.expectations.deletion_observed(key, str(pmeta.get("uid") or ""))
            raise
        self.recorder.event(owner, NORMAL, "SuccessfulDelete", f"Deleted pod: {pmeta['name']}")

    async def update_status(self, owner: Obj, new_status: dict[str, Any]) -> Obj:
        """Write status unless nothing changed; one retry after a conflict, on a fresh read."""
        if status_unchanged(owner, new_status):
            return owner
        current: Obj = owner
        for attempt in range(STATUS_UPDATE_RETRIES + 1):
            body = copy.deepcopy(dict(current))
            body["status"] = {**new_status, "observedGeneration": int(workload.meta(current).get("generation") or 0)}
            try:
                return await self.client.update_status(self.resource, body)
            except ApiError as e:
                if not is_conflict(e) or attempt == STATUS_UPDATE_RETRIES:
                    raise
            meta = workload.meta(current)
            current = await self.client.get(self.resource, meta["name"], meta.get("namespace"))
        return current


class ReplicationControllerController(ReplicaSetController):
    """The same loop over ``v1`` ReplicationControllers, whose selector is a plain label map."""

    name: ClassVar[str] = "replicationcontroller"
    resource: ClassVar[str] = "v1/replicationcontrollers"
    kind: ClassVar[str] = "ReplicationController"
    api_version: ClassVar[str] = "v1"

    def selector_of(self, owner: Obj) -> selectors.LabelSelector:
        sel = workload.spec(owner).get("selector")
        if not sel:
            # Defaulted from the template's labels by the API server; without either, select nothing.
            return selectors.NOTHING
        return selectors.label_selector_from_set(sel)

"""The DaemonSet controller: one pod on every node the template can run on.

As upstream's ``pkg/controller/daemon``:
- a node is eligible when the template's ``nodeSelector`` and required node affinity match it and
  every NoSchedule/NoExecute taint is tolerated, counting the tolerations every daemon pod gets
  (``daemon_tolerations``); a pod already on a node whose only untolerated taints are NoSchedule keeps
  running there;
- pods are pinned to their node by required node affinity ``metadata.name In [node]`` (not by
  ``spec.nodeName``): the scheduler still binds them, so resources and ports are checked;
- failed pods are deleted (with per-node backoff) and re-created; a node with several daemon pods keeps
  the oldest;
- RollingUpdate replaces pods whose ``controller-revision-hash`` is not the current revision's, within
  ``maxUnavailable`` (or by surging up to ``maxSurge`` extra pods); OnDelete leaves them;
- expectations stop a sync from creating again while its own creations are not yet in the cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from navarch.client.errors import is_not_found
from navarch.controllers import history
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.expectations import (
    ControllerExpectations,
    UIDTrackingExpectations,
)
from navarch.machinery.indexer import OWNER_INDEX
from navarch.machinery.listers import as_label_selector

KIND, API_VERSION = "DaemonSet", "apps/v1"
DS, PODS, NODES, REVISIONS = "apps/v1/daemonsets", "v1/pods", "v1/nodes", "apps/v1/controllerrevisions"
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"
FAILED_POD_BACKOFF = (1.0, 900.0)

Obj = Mapping[str, Any]

_DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)
_NETWORK_UNAVAILABLE = ("node.kubernetes.io/network-unavailable", "NoSchedule")


# ---- eligibility (pure) -----------------------------------------------------------------------

def daemon_tolerations(pod_spec: Obj) -> list[dict[str, Any]]:
    """The pod's tolerations plus upstream's automatic daemon ones (AddOrUpdateDaemonPodTolerations):
    daemons survive node conditions that would evict or block ordinary pods."""
    out = [dict(t) for t in pod_spec.get("tolerations") or []]
    wanted = list(_DAEMON_TOLERATIONS)
    if pod_spec.get("hostNetwork"):
        wanted.append(_NETWORK_UNAVAILABLE)
    for key, effect in wanted:
        tol = {"key": key, "operator": "Exists", "effect": effect}
        if not any(t.get("key") == key and t.get("effect") == effect for t in out):
            out.append(tol)
    return out


def tolerates(toleration: Obj, taint: Obj) -> bool:
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    if toleration.get("operator", "Equal") == "Exists":
        return True
    return bool(toleration.get("key")) and (toleration.get("value") or "") == (taint.get("value") or "")


def untolerated(taints: Sequence[Obj], tolerations: Sequence[Obj], effects: tuple[str, ...]) -> list[Obj]:
    return [t for t in taints if t.get("effect") in effects
            and not any(tolerates(tol, t) for tol in tolerations)]


def requirement_matches(req: Obj, values: Mapping[str, str]) -> bool:
    key, op, want = req.get("key", ""), req.get("operator", ""), list(req.get("values") or [])
    present = key in values
    value = values.get(key, "")
    if op == "In":
        return present and value in want
    if op == "NotIn":
        return not present or value not in want
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(want) == 1:
        try:
            have, bound = int(value), int(want[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: all its label expressions and field expressions hold; an empty term
    matches nothing (upstream)."""
    exprs, fields = term.get("matchExpressions") or [], term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = wl.meta(node).get("labels") or {}
    node_fields = {"metadata.name": wl.meta(node).get("name", "")}
    return all(requirement_matches(r, labels) for r in exprs) and \
        all(requirement_matches(r, node_fields) for r in fields)


def fits_node_affinity(pod_spec: Obj, node: Obj) -> bool:
    labels = wl.meta(node).get("labels") or {}
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(t, node) for t in required.get("nodeSelectorTerms") or [])


def node_should_run(template_spec: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run a daemon pod here, should keep an existing one running) — NodeShouldRunDaemonPod."""
    node_name = template_spec.get("nodeName")
    if node_name and node_name != wl.meta(node).get("name"):
        return False, False
    if not fits_node_affinity(template_spec, node):
        return False, False
    taints = list(wl.spec(node).get("taints") or [])
    tolerations = daemon_tolerations(template_spec)
    if untolerated(taints, tolerations, ("NoSchedule", "NoExecute")):
        return False, not untolerated(taints, tolerations, ("NoExecute",))
    return True, True


def pin_to_node(pod_spec: dict[str, Any], node_name: str) -> None:
    """Replace required node affinity with ``metadata.name In [node]`` (ReplaceDaemonSetPodNodeNameNodeAffinity):
    the controller has already checked the node against the template's terms."""
    affinity = pod_spec.setdefault("affinity", {})
    node_aff = affinity.setdefault("nodeAffinity", {})
    node_aff["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: its nodeName, or the one its pinning affinity names."""
    pspec = wl.spec(pod)
    if pspec.get("nodeName"):
        return str(pspec["nodeName"])
    required = (((pspec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or []) == 1:
                return str(f["values"][0])
    return None


def pod_hash(pod: Obj) -> str:
    return str((wl.meta(pod).get("labels") or {}).get(history.REVISION_HASH_LABEL) or "")


def _created(pod: Obj) -> str:
    return str(wl.meta(pod).get("creationTimestamp") or "")


# ---- planning (pure) --------------------------------------------------------------------------

@dataclass
class Plan:
    create_on: list[str] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    failed: list[tuple[str, Obj]] = field(default_factory=list)  # (node, pod): deleted with backoff


def manage(nodes: list[Obj], template_spec: Obj, node_pods: Mapping[str, list[Obj]], surge: bool,
           update_hash: str) -> Plan:
    """Which nodes need a pod and which pods must go (upstream podsShouldBeOnNode)."""
    plan = Plan()
    for node in nodes:
        nname = wl.meta(node)["name"]
        pods = node_pods.get(nname, [])
        should_run, keep_running = node_should_run(template_spec, node)
        if should_run and not pods:
            plan.create_on.append(nname)
        elif keep_running:
            running = []
            for pod in pods:
                if wl.is_terminating(pod):
                    continue
                if wl.phase(pod) == wl.FAILED:
                    plan.failed.append((nname, pod))
                    continue
                running.append(pod)
            running.sort(key=_created)
            if surge and len(running) > 1:
                # During a surge one old and one new pod may share the node: keep the oldest of each.
                old = [p for p in running if pod_hash(p) != update_hash]
                new = [p for p in running if pod_hash(p) == update_hash]
                plan.delete.extend(old[1:] + new[1:])
            elif len(running) > 1:
                plan.delete.extend(running[1:])
        else:
            plan.delete.extend(p for p in pods if not wl.is_terminating(p))
    return plan


def rolling_update(ds: Obj, nodes: list[Obj], node_pods: Mapping[str, list[Obj]], update_hash: str,
                   now: datetime) -> Plan:
    """Old pods to delete (and nodes to surge onto) this round, within maxUnavailable/maxSurge."""
    dspec = wl.spec(ds)
    min_ready = int(dspec.get("minReadySeconds") or 0)
    ru = (dspec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    eligible = [n for n in nodes if node_should_run(dspec.get("template", {}).get("spec") or {}, n)[0]]
    desired = len(eligible)
    max_surge = wl.scaled_value(ru.get("maxSurge"), desired, True)
    max_unavailable = wl.scaled_value(ru.get("maxUnavailable", 1), desired, True)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    plan = Plan()
    if max_surge == 0:
        unavailable = 0
        allowed: list[Obj] = []
        candidates: list[Obj] = []
        for node in eligible:
            pods = [p for p in node_pods.get(wl.meta(node)["name"], []) if not wl.is_terminating(p)]
            old = [p for p in pods if pod_hash(p) != update_hash]
            new = [p for p in pods if pod_hash(p) == update_hash]
            if len(old) > 1 or len(new) > 1 or (old and new) or not pods:
                unavailable += 1 if not pods else 0
                continue  # manage() sorts these out first
            if new:
                if not wl.is_pod_available(new[0], min_ready, now):
                    unavailable += 1
                continue
            if not wl.is_pod_available(old[0], min_ready, now):
                unavailable += 1
                allowed.append(old[0])  # already down: replacing it costs nothing
            elif unavailable < max_unavailable:
                candidates.append(old[0])
        budget = min(max(max_unavailable - unavailable, 0), len(candidates))
        plan.delete = allowed + candidates[:budget]
        return plan
    surged = 0
    for node in eligible:
        nname = wl.meta(node)["name"]
        pods = [p for p in node_pods.get(nname, []) if not wl.is_terminating(p)]
        old = [p for p in pods if pod_hash(p) != update_hash]
        new = [p for p in pods if pod_hash(p) == update_hash]
        if not old:
            continue
        if new:
            if wl.is_pod_available(new[0], min_ready, now):
                plan.delete.extend(old)
            else:
                surged += 1
            continue
        if not wl.is_pod_available(old[0], min_ready, now):
            plan.delete.extend(old)
        elif surged < max_surge:
            surged += 1
            plan.create_on.append(nname)
    return plan


def compute_status(ds: Obj, nodes: list[Obj], node_pods: Mapping[str, list[Obj]], update_hash: str,
                   now: datetime) -> dict[str, Any]:
    dspec = wl.spec(ds)
    tspec = (dspec.get("template") or {}).get("spec") or {}
    min_ready = int(dspec.get("minReadySeconds") or 0)
    st = {"desiredNumberScheduled": 0, "currentNumberScheduled": 0, "numberMisscheduled": 0,
          "numberReady": 0, "numberAvailable": 0, "updatedNumberScheduled": 0, "numberUnavailable": 0,
          "observedGeneration": wl.meta(ds).get("generation") or 0}
    for node in nodes:
        pods = sorted(node_pods.get(wl.meta(node)["name"], []), key=_created)
        should_run, _ = node_should_run(tspec, node)
        if should_run:
            st["desiredNumberScheduled"] += 1
            if pods:
                st["currentNumberScheduled"] += 1
                pod = pods[0]
                if wl.is_pod_ready(pod):
                    st["numberReady"] += 1
                    if wl.is_pod_available(pod, min_ready, now):
                        st["numberAvailable"] += 1
                if any(pod_hash(p) == update_hash for p in pods):
                    st["updatedNumberScheduled"] += 1
        elif pods:
            st["numberMisscheduled"] += 1
    st["numberUnavailable"] = max(st["desiredNumberScheduled"] - st["numberAvailable"], 0)
    return st


# ---- the controller ---------------------------------------------------------------------------

class DaemonSetController(QueueController):
    name: ClassVar[str] = "daemonset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.factory.lister(DS)
        self.pods = self.factory.lister(PODS)
        self.nodes = self.factory.lister(NODES)
        self.revisions = self.factory.lister(REVISIONS)
        self.expectations = UIDTrackingExpectations(ControllerExpectations(self.clock))
        # (ds uid, node) -> (failures, not before): upstream's failedPodsBackoff.
        self._failed_backoff: dict[tuple[str, str], tuple[int, float]] = {}
        self.factory.informer(DS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new),
                                                    self._ds_deleted)
        self.factory.informer(PODS).add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        self.factory.informer(NODES).add_event_handler(self._node_changed,
                                                       lambda old, new: self._node_changed(new))
        self.factory.informer(REVISIONS)

    # ---- handlers ----

    def _ds_deleted(self, obj: Any) -> None:
        ds = final_state(obj)
        key = f"{wl.meta(ds).get('namespace')}/{wl.meta(ds).get('name')}"
        self.expectations.delete_expectations(key)
        self.queue.add(key)

    def _node_changed(self, node: Any) -> None:
        for ds in self.sets.list():
            self.enqueue(ds)

    def _pod_added(self, pod: Obj) -> None:
        key = wl.observe_added_pod(self.expectations, pod, KIND)
        if key is None:
            return
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = wl.controller_key(new, KIND)
        if key is None:
            return
        if wl.is_terminating(new):
            self.expectations.deletion_observed(key, wl.meta(new).get("uid", ""))
        self.queue.add(key)

    def _pod_deleted(self, obj: Any) -> None:
        pod = final_state(obj)
        key = wl.controller_key(pod, KIND)
        if key is None:
            return
        self.expectations.deletion_observed(key, wl.meta(pod).get("uid", ""))
        self.queue.add(key)

    # ---- sync ----

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        ds = self.sets.get(ns, name)
        if ds is None:
            self.expectations.delete_expectations(key)
            return
        now = self.clock.now()
        nodes = self.nodes.list()
        pods = [p for p in self.pods.by_index(OWNER_INDEX, wl.meta(ds)["uid"])
                if controllerref.is_controlled_by(p, ds)]
        pods += await self._adopt_orphans(ds)
        node_pods: dict[str, list[Obj]] = {}
        for pod in pods:
            target = target_node(pod)
            if target is not None:
                node_pods.setdefault(target, []).append(pod)
        revision, collision = await self._revision_for(ds)
        update_hash = (revision["metadata"].get("labels") or {}).get(history.REVISION_HASH_LABEL, "")
        if not wl.is_terminating(ds) and self.expectations.satisfied(key):
            await self._act(key, ds, nodes, node_pods, update_hash, now)
        status = compute_status(ds, nodes, node_pods, update_hash, now)
        status["collisionCount"] = collision
        if any((wl.status(ds).get(k) or 0) != (v or 0) for k, v in status.items()):
            try:
                await self.client.patch(DS, name, {"status": status}, "merge", ns, "status")
            except Exception as e:
                if not is_not_found(e):
                    raise
        await self._truncate_history(ds, pods, revision["metadata"]["name"])
        min_ready = int(wl.spec(ds).get("minReadySeconds") or 0)
        if min_ready and any(wl.is_pod_ready(p) and not wl.is_pod_available(p, min_ready, now) for p in pods):
            self.queue.add_after(key, float(min_ready))

    async def _act(self, key: str, ds: Obj, nodes: list[Obj], node_pods: dict[str, list[Obj]],
                   update_hash: str, now: datetime) -> None:
        dspec = wl.spec(ds)
        strategy = dspec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        surge = rolling and wl.scaled_value((strategy.get("rollingUpdate") or {}).get("maxSurge"), 1, True) > 0
        tspec = (dspec.get("template") or {}).get("spec") or {}
        plan = manage(nodes, tspec, node_pods, surge, update_hash)
        delete = list(plan.delete)
        for node_name, pod in plan.failed:
            wait = self._failed_pod_wait(ds, node_name)
            if wait > 0:
                self.queue.add_after(key, wait)
                continue
            self.recorder.event(ds, WARNING, "FailedDaemonPod",
                                f"Found failed daemon pod {wl.meta(pod)['namespace']}/{wl.meta(pod)['name']} "
                                f"on node {node_name}, will try to kill it")
            delete.append(pod)
        create_on = list(plan.create_on)
        if rolling and not create_on and not delete:
            update = rolling_update(ds, nodes, node_pods, update_hash, now)
            delete += update.delete
            create_on += update.create_on
        await self._sync_nodes(key, ds, create_on, delete, update_hash)

    def _failed_pod_wait(self, ds: Obj, node_name: str) -> float:
        """Seconds until a failed pod on this node may be replaced again; records this attempt."""
        k = (wl.meta(ds)["uid"], node_name)
        now = self.clock.monotonic()
        failures, not_before = self._failed_backoff.get(k, (0, 0.0))
        if now < not_before:
            return not_before - now
        initial, cap = FAILED_POD_BACKOFF
        self._failed_backoff[k] = (failures + 1, now + min(initial * 2 ** failures, cap))
        return 0.0

    async def _sync_nodes(self, key: str, ds: Obj, create_on: list[str], delete: list[Obj], update_hash: str) -> None:
        dmeta = wl.meta(ds)
        self.expectations.expect_deletions(key, [wl.meta(p)["uid"] for p in delete])
        self.expectations.expectations.raise_expectations(key, adds=len(create_on))
        generation = (dmeta.get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION) \
            or str(dmeta.get("generation") or 1)
        errors: list[Exception] = []
        for node_name in create_on:
            pod = new_daemon_pod(ds, node_name, update_hash, generation)
            try:
                created = await self.client.create(PODS, pod, dmeta["namespace"])
            except Exception as e:  # noqa: BLE001 - counted, reported, and re-raised after the batch
                self.expectations.lower_expectations(key, adds=1)
                self.recorder.event(ds, WARNING, "FailedCreate", f"Error creating: {e}")
                errors.append(e)
                continue
            self.log.info("created pod %s/%s for node %s", dmeta["namespace"], created["metadata"]["name"], node_name)
            self.recorder.event(ds, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        for victim in delete:
            pmeta = wl.meta(victim)
            try:
                await self.client.delete(PODS, pmeta["name"], pmeta["namespace"], preconditions={"uid": pmeta["uid"]})
            except Exception as e:  # noqa: BLE001 - counted, reported, and re-raised after the batch
                self.expectations.deletion_observed(key, pmeta["uid"])
                if is_not_found(e):
                    continue
                self.recorder.event(ds, WARNING, "FailedDelete", f"Error deleting: {e}")
                errors.append(e)
                continue
            self.recorder.event(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {pmeta['name']}")
        if errors:
            raise errors[0]

    async def _adopt_orphans(self, ds: Obj) -> list[Obj]:
        if wl.is_terminating(ds):
            return []
        selector = as_label_selector(wl.spec(ds).get("selector") or {})
        out: list[Obj] = []
        for pod in self.pods.list(wl.meta(ds)["namespace"], selector):
            if controllerref.claim(ds, selector, pod) == "adopt":
                try:
                    out.append(await self.client.patch(PODS, wl.meta(pod)["name"], controllerref.adopt_patch(
                        ds, KIND, API_VERSION, pod), "strategic", wl.meta(pod)["namespace"]))
                except Exception as e:
                    if not is_not_found(e):
                        raise
        return out

    async def _revision_for(self, ds: Obj) -> tuple[dict[str, Any], int]:
        dmeta = wl.meta(ds)
        revisions = history.sort_revisions(wl.owned_by(self.revisions.list(dmeta["namespace"]), ds, KIND))
        collision = int(wl.status(ds).get("collisionCount") or 0)
        data = history.template_patch(wl.spec(ds).get("template") or {})
        number = history.next_revision_number(revisions)
        labels = dict(((wl.spec(ds).get("template") or {}).get("metadata") or {}).get("labels") or {})
        candidate = history.new_revision(ds, KIND, API_VERSION, data, number, collision, labels)
        equal = history.equal_revisions(revisions, candidate)
        if equal:
            current = dict(equal[-1])
            if history.revision_number(current) != history.revision_number(revisions[-1]):
                current = await self.client.patch(REVISIONS, current["metadata"]["name"], {"revision": number},
                                                  "merge", dmeta["namespace"])
            return current, collision
        return await history.create_revision(self.client, ds, KIND, API_VERSION, data, number, collision,
                                             labels, revisions)

    async def _truncate_history(self, ds: Obj, pods: list[Obj], current: str) -> None:
        dmeta = wl.meta(ds)
        limit = int(wl.spec(ds).get("revisionHistoryLimit", 10))
        live = {pod_hash(p) for p in pods}
        revisions = history.sort_revisions(wl.owned_by(self.revisions.list(dmeta["namespace"]), ds, KIND))
        spare = [r for r in revisions if r["metadata"]["name"] != current
                 and (r["metadata"].get("labels") or {}).get(history.REVISION_HASH_LABEL) not in live]
        for rev in spare[:max(len(spare) - limit, 0)]:
            try:
                await self.client.delete(REVISIONS, rev["metadata"]["name"], dmeta["namespace"])
            except Exception as e:
                if not is_not_found(e):
                    raise


def new_daemon_pod(ds: Obj, node_name: str, update_hash: str, generation: str = "1") -> dict[str, Any]:
    """The pod for one node: the template with the revision labels, the daemon tolerations and
    required affinity to that node."""
    dmeta = wl.meta(ds)
    pod = wl.pod_from_template(wl.spec(ds).get("template") or {}, dmeta["namespace"],
                               controllerref.new_controller_ref(ds, KIND, API_VERSION),
                               generate_name=f"{dmeta['name']}-",
                               extra_labels={history.REVISION_HASH_LABEL: update_hash,
                                             TEMPLATE_GENERATION_LABEL: generation})
    pod["spec"]["tolerations"] = daemon_tolerations(pod["spec"])
    pin_to_node(pod["spec"], node_name)
    return pod

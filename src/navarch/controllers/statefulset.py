"""The StatefulSet controller: pods with stable names, stable storage and ordered rollouts.

Upstream's ``pkg/controller/statefulset``, reduced to plain data:
- pod ``<set>-<ordinal>`` for ordinals ``0..replicas-1``, labelled with its name and index, with
  ``hostname``/``subdomain`` for stable DNS, and one PVC ``<template>-<set>-<ordinal>`` per volume claim
  template, created before the pod and never deleted with it unless the retention policy says so;
- ``OrderedReady``: create one pod at a time, each only once all lower ordinals are Running and Ready;
  scale down from the highest ordinal, one at a time. ``Parallel``: all at once;
- ``RollingUpdate``: replace the highest ordinal not at the update revision, down to ``partition``,
  one at a time, waiting for each replacement to become healthy; ``OnDelete``: only pods deleted by
  someone else come back at the new revision;
- revisions are ControllerRevisions; pods carry the revision's *name* in ``controller-revision-hash``.

``decide`` is the pure ordering logic (tested table-driven); ``sync`` gathers state, runs it and
writes status. Pod names are fixed, so a create that races a stale cache answers AlreadyExists and
needs no expectations.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from navarch.client.errors import is_already_exists, is_not_found
from navarch.controllers import history
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.indexer import OWNER_INDEX
from navarch.machinery.listers import as_label_selector

KIND, API_VERSION = "StatefulSet", "apps/v1"
STS, PODS, PVCS, REVISIONS = "apps/v1/statefulsets", "v1/pods", "v1/persistentvolumeclaims", \
    "apps/v1/controllerrevisions"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"

Obj = Mapping[str, Any]
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


@dataclass(frozen=True)
class Action:
    kind: Literal["create", "delete"]
    ordinal: int
    revision: str = ""


def parse_ordinal(set_name: str, pod_name: str) -> int | None:
    """The ordinal of a pod named ``<set>-<n>``, or None for a pod that is not a member by name."""
    m = _ORDINAL.match(pod_name)
    if not m or m.group(1) != set_name:
        return None
    return int(m.group(2))


def pod_revision(pod: Obj) -> str:
    return str((wl.meta(pod).get("labels") or {}).get(history.REVISION_HASH_LABEL) or "")


def is_healthy(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Running, Ready (for minReadySeconds) and not being deleted."""
    return (wl.phase(pod) == wl.RUNNING and not wl.is_terminating(pod)
            and wl.is_pod_available(pod, min_ready_seconds, now))


def decide(replicas: int, parallel: bool, on_delete: bool, partition: int, pods: Mapping[int, Obj],
           current_revision: str, update_revision: str, min_ready_seconds: int, now: datetime) -> list[Action]:
    """What to do next, in upstream's order: replace finished pods and create missing ones (lowest
    ordinal first), then delete condemned ones (highest first), then roll one pod to the update
    revision. In OrderedReady mode (not ``parallel``) at most one action, and none while any pod
    it depends on is unhealthy."""
    monotonic = not parallel
    actions: list[Action] = []

    def revision_for(ordinal: int) -> str:
        return current_revision if not on_delete and ordinal < partition else update_revision

    for i in range(replicas):
        pod = pods.get(i)
        if pod is None:
            actions.append(Action("create", i, revision_for(i)))
            if monotonic:
                return actions
            continue
        if wl.is_terminal(pod) and not wl.is_terminating(pod):
            # A finished pod is replaced: delete now, re-create on a later sync once it is gone.
            actions.append(Action("delete", i))
            if monotonic:
                return actions
            continue
        if monotonic and not is_healthy(pod, min_ready_seconds, now):
            return actions
    for i in sorted((o for o in pods if o >= replicas), reverse=True):
        pod = pods[i]
        if wl.is_terminating(pod):
            if monotonic:
                return actions
            continue
        actions.append(Action("delete", i))
        if monotonic:
            return actions
    if on_delete or actions:
        return actions
    for target in range(replicas - 1, max(partition, 0) - 1, -1):
        pod = pods.get(target)
        if pod is None:
            return actions
        if pod_revision(pod) != update_revision and not wl.is_terminating(pod):
            return [Action("delete", target)]
        if not is_healthy(pod, min_ready_seconds, now):
            return actions
    return actions


def claim_name(template_name: str, set_name: str, ordinal: int) -> str:
    return f"{template_name}-{set_name}-{ordinal}"


def new_pod(sts: Obj, ordinal: int, revision_name: str, template: Obj) -> dict[str, Any]:
    """The pod for one ordinal: identity (name, labels, hostname, subdomain) and storage (one
    volume per claim template, replacing a template volume of the same name)."""
    smeta, sspec = wl.meta(sts), wl.spec(sts)
    name = f"{smeta['name']}-{ordinal}"
    pod = wl.pod_from_template(template, smeta["namespace"],
                               controllerref.new_controller_ref(sts, KIND, API_VERSION), name=name,
                               extra_labels={POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                                             history.REVISION_HASH_LABEL: revision_name})
    pspec = pod["spec"]
    pspec["hostname"] = name
    if sspec.get("serviceName"):
        pspec["subdomain"] = sspec["serviceName"]
    claims = [c for c in sspec.get("volumeClaimTemplates") or [] if (c.get("metadata") or {}).get("name")]
    if claims:
        names = {c["metadata"]["name"] for c in claims}
        volumes = [v for v in pspec.get("volumes") or [] if v.get("name") not in names]
        for c in claims:
            cname = c["metadata"]["name"]
            volumes.append({"name": cname, "persistentVolumeClaim": {
                "claimName": claim_name(cname, smeta["name"], ordinal)}})
        pspec["volumes"] = volumes
    return pod


def new_claims(sts: Obj, ordinal: int) -> list[dict[str, Any]]:
    """PVCs for one ordinal: the template plus the set's selector labels; owned by the set when the
    retention policy deletes claims with it."""
    smeta, sspec = wl.meta(sts), wl.spec(sts)
    match = ((sspec.get("selector") or {}).get("matchLabels")) or {}
    policy = sspec.get("persistentVolumeClaimRetentionPolicy") or {}
    out = []
    for tpl in sspec.get("volumeClaimTemplates") or []:
        tmeta = tpl.get("metadata") or {}
        if not tmeta.get("name"):
            continue
        cmeta: dict[str, Any] = {"name": claim_name(tmeta["name"], smeta["name"], ordinal),
                                 "namespace": smeta["namespace"],
                                 "labels": {**(tmeta.get("labels") or {}), **match}}
        if tmeta.get("annotations"):
            cmeta["annotations"] = dict(tmeta["annotations"])
        if policy.get("whenDeleted") == "Delete":
            cmeta["ownerReferences"] = [controllerref.new_controller_ref(sts, KIND, API_VERSION)]
        out.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": cmeta,
                    "spec": dict(tpl.get("spec") or {})})
    return out


def compute_status(sts: Obj, pods: list[Obj], current: str, update: str, collision_count: int,
                   now: datetime) -> dict[str, Any]:
    sspec = wl.spec(sts)
    min_ready = int(sspec.get("minReadySeconds") or 0)
    st: dict[str, Any] = {"observedGeneration": wl.meta(sts).get("generation") or 0, "replicas": 0, "readyReplicas": 0,
          "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0,
          "currentRevision": current, "updateRevision": update, "collisionCount": collision_count}
    for pod in pods:
        if wl.phase(pod):
            st["replicas"] += 1
        if wl.phase(pod) == wl.RUNNING and wl.is_pod_ready(pod):
            st["readyReplicas"] += 1
            if wl.is_pod_available(pod, min_ready, now):
                st["availableReplicas"] += 1
        if wl.phase(pod) and not wl.is_terminating(pod):
            rev = pod_revision(pod)
            if rev == current:
                st["currentReplicas"] += 1
            if rev == update:
                st["updatedReplicas"] += 1
    strategy = (sspec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    # A finished rollout makes the update revision current (upstream completeRollingUpdate).
    if strategy == "RollingUpdate" and st["updatedReplicas"] == st["replicas"] \
            and st["readyReplicas"] == st["replicas"]:
        st["currentRevision"] = update
        st["currentReplicas"] = st["updatedReplicas"]
    return st


def status_differs(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    return any((old.get(k) or 0) != (v or 0) for k, v in new.items())


class StatefulSetController(QueueController):
    name: ClassVar[str] = "statefulset"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.sets = self.factory.lister(STS)
        self.pods = self.factory.lister(PODS)
        self.claims = self.factory.lister(PVCS)
        self.revisions = self.factory.lister(REVISIONS)
        self.factory.informer(STS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new),
                                                     self.enqueue)
        self.factory.informer(PODS).add_event_handler(self._pod_changed, lambda old, new: self._pod_changed(new),
                                                      self._pod_changed)
        self.factory.informer(PVCS)
        self.factory.informer(REVISIONS)

    def _pod_changed(self, obj: Any) -> None:
        pod = final_state(obj)
        key = wl.controller_key(pod, KIND)
        if key is not None:
            self.queue.add(key)
            return
        if controllerref.controller_of(pod) is None:
            # An orphan: any set that selects it may adopt it.
            labels = wl.meta(pod).get("labels") or {}
            for sts in self.sets.list(wl.meta(pod).get("namespace")):
                if as_label_selector(wl.spec(sts).get("selector") or {}).matches(labels):
                    self.enqueue(sts)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        sts = self.sets.get(ns, name)
        if sts is None or wl.is_terminating(sts):
            return
        now = self.clock.now()
        sspec = wl.spec(sts)
        pods = await self._claim_pods(sts)
        current, update, collision = await self._revisions_for(sts, pods)
        by_ordinal: dict[int, Obj] = {}
        for pod in pods:
            ordinal = parse_ordinal(name, wl.meta(pod)["name"])
            if ordinal is not None:
                by_ordinal[ordinal] = pod
        strategy = sspec.get("updateStrategy") or {}
        on_delete = strategy.get("type") == "OnDelete"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        replicas = int(sspec.get("replicas", 1))
        min_ready = int(sspec.get("minReadySeconds") or 0)
        templates = {current["metadata"]["name"]: _template_of(current, sts),
                     update["metadata"]["name"]: _template_of(update, sts)}
        actions = decide(replicas, sspec.get("podManagementPolicy") == "Parallel", on_delete, partition,
                         by_ordinal, current["metadata"]["name"], update["metadata"]["name"], min_ready, now)
        for action in actions:
            if action.kind == "create":
                await self._create(sts, action.ordinal, action.revision, templates[action.revision])
            else:
                await self._delete(sts, by_ordinal[action.ordinal], condemned=action.ordinal >= replicas)
        status = compute_status(sts, pods, current["metadata"]["name"], update["metadata"]["name"],
                                collision, now)
        if status_differs(wl.status(sts), status):
            try:
                await self.client.patch(STS, name, {"status": status}, "merge", ns, "status")
            except Exception as e:
                if not is_not_found(e):
                    raise
        await self._truncate_history(sts, pods, {status["currentRevision"], status["updateRevision"]})
        if min_ready and any(wl.is_pod_ready(p) and not wl.is_pod_available(p, min_ready, now) for p in pods):
            # Nothing else will wake us when a ready pod becomes available.
            self.queue.add_after(key, float(min_ready))

    async def _claim_pods(self, sts: Obj) -> list[Obj]:
        """Pods this set controls, adopting orphans that match its selector and name pattern and
        releasing its pods that no longer match (upstream's ControllerRefManager)."""
        smeta = wl.meta(sts)
        selector = as_label_selector(wl.spec(sts).get("selector") or {})
        owned = {wl.meta(p)["name"]: p for p in self.pods.by_index(OWNER_INDEX, smeta["uid"])}
        candidates = list(owned.values()) + [p for p in self.pods.list(smeta["namespace"], selector)
                                             if wl.meta(p)["name"] not in owned]
        out = []
        for pod in candidates:
            decision = controllerref.claim(sts, selector, pod)
            pname = wl.meta(pod)["name"]
            if decision == "keep":
                out.append(pod)
            elif decision == "adopt" and parse_ordinal(smeta["name"], pname) is not None:
                try:
                    out.append(await self.client.patch(PODS, pname, controllerref.adopt_patch(
                        sts, KIND, API_VERSION, pod), "strategic", smeta["namespace"]))
                except Exception as e:
                    if not is_not_found(e):
                        raise
            elif decision == "release":
                try:
                    await self.client.patch(PODS, pname, controllerref.release_patch(sts, pod), "strategic",
                                            smeta["namespace"])
                except Exception as e:
                    if not is_not_found(e):
                        raise
        return out

    async def _revisions_for(self, sts: Obj, pods: list[Obj]) -> tuple[dict[str, Any], dict[str, Any], int]:
        """(current revision, update revision, collisionCount), creating the update revision when the
        template has changed (upstream getStatefulSetRevisions)."""
        smeta = wl.meta(sts)
        revisions = history.sort_revisions(wl.owned_by(self.revisions.list(smeta["namespace"]), sts, KIND))
        collision = int(wl.status(sts).get("collisionCount") or 0)
        data = history.template_patch(wl.spec(sts).get("template") or {})
        number = history.next_revision_number(revisions)
        labels = dict((wl.spec(sts).get("template") or {}).get("metadata", {}).get("labels") or {})
        candidate = history.new_revision(sts, KIND, API_VERSION, data, number, collision, labels)
        equal = history.equal_revisions(revisions, candidate)
        if equal and history.revision_number(equal[-1]) == history.revision_number(revisions[-1]):
            update = dict(equal[-1])
        elif equal:
            # Rolling back to an older template: that revision becomes the newest again.
            update = await self.client.patch(REVISIONS, equal[-1]["metadata"]["name"], {"revision": number},
                                             "merge", smeta["namespace"])
        else:
            update, collision = await history.create_revision(self.client, sts, KIND, API_VERSION, data, number,
                                                              collision, labels, revisions)
        want = wl.status(sts).get("currentRevision")
        current = next((dict(r) for r in revisions if r["metadata"]["name"] == want), update)
        return current, update, collision

    async def _create(self, sts: Obj, ordinal: int, revision: str, template: Obj) -> None:
        smeta = wl.meta(sts)
        for claim in new_claims(sts, ordinal):
            if self.claims.get(smeta["namespace"], claim["metadata"]["name"]) is not None:
                continue
            try:
                await self.client.create(PVCS, claim, smeta["namespace"])
            except Exception as e:
                if not is_already_exists(e):
                    self.recorder.event(sts, WARNING, "FailedCreate",
                                        f"create Claim {claim['metadata']['name']} for Pod "
                                        f"{smeta['name']}-{ordinal} in StatefulSet {smeta['name']} failed "
                                        f"error: {e}")
                    raise
            else:
                self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                                    f"create Claim {claim['metadata']['name']} Pod {smeta['name']}-{ordinal} "
                                    f"in StatefulSet {smeta['name']} success")
        pod = new_pod(sts, ordinal, revision, template)
        try:
            await self.client.create(PODS, pod, smeta["namespace"])
        except Exception as e:
            if is_already_exists(e):
                return  # our cache is behind our own write
            self.recorder.event(sts, WARNING, "FailedCreate",
                                f"create Pod {pod['metadata']['name']} in StatefulSet {smeta['name']} failed "
                                f"error: {e}")
            raise
        self.log.info("created pod %s/%s", smeta["namespace"], pod["metadata"]["name"])
        self.recorder.event(sts, NORMAL, "SuccessfulCreate",
                            f"create Pod {pod['metadata']['name']} in StatefulSet {smeta['name']} successful")

    async def _delete(self, sts: Obj, pod: Obj, condemned: bool) -> None:
        smeta, pmeta = wl.meta(sts), wl.meta(pod)
        policy = wl.spec(sts).get("persistentVolumeClaimRetentionPolicy") or {}
        if condemned and policy.get("whenScaled") == "Delete":
            # The claims of a scaled-away ordinal go with its pod: the garbage collector deletes
            # them once the pod is gone.
            ref = {"apiVersion": "v1", "kind": "Pod", "name": pmeta["name"], "uid": pmeta["uid"],
                   "blockOwnerDeletion": True}
            ordinal = parse_ordinal(smeta["name"], pmeta["name"])
            for claim in new_claims(sts, ordinal or 0):
                cname = claim["metadata"]["name"]
                if self.claims.get(smeta["namespace"], cname) is not None:
                    try:
                        await self.client.patch(PVCS, cname, {"metadata": {"ownerReferences": [ref]}},
                                                "strategic", smeta["namespace"])
                    except Exception as e:
                        if not is_not_found(e):
                            raise
        try:
            await self.client.delete(PODS, pmeta["name"], smeta["namespace"],
                                     preconditions={"uid": pmeta["uid"]})
        except Exception as e:
            if is_not_found(e):
                return
            self.recorder.event(sts, WARNING, "FailedDelete",
                                f"delete Pod {pmeta['name']} in StatefulSet {smeta['name']} failed error: {e}")
            raise
        self.log.info("deleted pod %s/%s", smeta["namespace"], pmeta["name"])
        self.recorder.event(sts, NORMAL, "SuccessfulDelete",
                            f"delete Pod {pmeta['name']} in StatefulSet {smeta['name']} successful")

    async def _truncate_history(self, sts: Obj, pods: list[Obj], keep: set[str]) -> None:
        """Delete the oldest revisions beyond revisionHistoryLimit that no live pod uses."""
        smeta = wl.meta(sts)
        limit = int(wl.spec(sts).get("revisionHistoryLimit", 10))
        live = keep | {pod_revision(p) for p in pods}
        revisions = history.sort_revisions(wl.owned_by(self.revisions.list(smeta["namespace"]), sts, KIND))
        spare = [r for r in revisions if r["metadata"]["name"] not in live]
        for rev in spare[:max(len(spare) - limit, 0)]:
            try:
                await self.client.delete(REVISIONS, rev["metadata"]["name"], smeta["namespace"])
            except Exception as e:
                if not is_not_found(e):
                    raise


def _template_of(revision: Obj, sts: Obj) -> Obj:
    """The pod template a revision recorded (its data is a patch replacing ``spec.template``)."""
    tpl = ((revision.get("data") or {}).get("spec") or {}).get("template")
    if not isinstance(tpl, Mapping):
        return wl.spec(sts).get("template") or {}
    return {k: v for k, v in tpl.items() if k != "$patch"}

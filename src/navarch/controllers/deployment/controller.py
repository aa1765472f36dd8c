"""The Deployment controller's loop: handlers, claiming ReplicaSets, and the dispatch of one sync.

As upstream's ``deployment_controller.go``: ``sync`` claims the ReplicaSets the selector matches, then
either only records status (being deleted), scales (paused, or ``spec.replicas`` changed), rolls back
(the deprecated rollback annotation) or rolls out with the strategy. The rollout steps live in
``sync.py``, ``rolling.py``, ``recreate.py``, ``rollback.py``, ``history.py`` and ``progress.py``.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Mapping

from navarch.api import selectors
from navarch.controllers import workload
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.deployment import progress, recreate, rollback, rolling
from navarch.controllers.deployment import sync as syncing
from navarch.controllers.deployment import util
from navarch.controllers.replicaset import claim_children
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, object_key, split_key
from navarch.machinery.events import WARNING
from navarch.machinery.indexer import OWNER_INDEX

Obj = Mapping[str, Any]

DEPLOYMENTS = "apps/v1/deployments"
REPLICASETS = "apps/v1/replicasets"
PODS = "v1/pods"


class DeploymentController(QueueController):
    name: ClassVar[str] = "deployment"
    workers: ClassVar[int] = 5
    kind: ClassVar[str] = "Deployment"
    api_version: ClassVar[str] = "apps/v1"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        d_informer = self.factory.informer(DEPLOYMENTS)
        rs_informer = self.factory.informer(REPLICASETS)
        pod_informer = self.factory.informer(PODS)
        self.deployments = self.factory.lister(DEPLOYMENTS)
        self.replicasets = self.factory.lister(REPLICASETS)
        self.pods = self.factory.lister(PODS)
        # What a sync already wrote, per Deployment key, while the cache still shows older versions:
        # the Deployment's annotations, and ReplicaSets by uid.
        self._annotations_written: dict[str, dict[str, Any]] = {}
        self._rs_written: dict[str, dict[str, Obj]] = {}
        d_informer.add_event_handler(self.enqueue, lambda old, new: self.enqueue(new), self.enqueue)
        rs_informer.add_event_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        pod_informer.add_event_handler(on_delete=self._pod_deleted)

    # ---- handlers ----------------------------------------------------------------------------

    def _resolve(self, namespace: str, ref: Mapping[str, Any]) -> Obj | None:
        if ref.get("kind") != self.kind:
            return None
        d = self.deployments.get(namespace, str(ref.get("name") or ""))
        if d is None or util.uid(d) != ref.get("uid"):
            return None
        return d

    def _deployments_for(self, rs: Obj) -> list[Obj]:
        labels = workload.meta(rs).get("labels") or {}
        out = []
        for d in self.deployments.list(workload.meta(rs).get("namespace")):
            try:
                sel = selectors.label_selector_from_object(workload.spec(d).get("selector"))
            except Exception:  # noqa: BLE001 - an invalid selector selects nothing
                continue
            if not sel.empty and sel.matches(labels):
                out.append(d)
        if len(out) > 1:
            self.log.info("more than one deployment selects replica set %s: %s", object_key(rs),
                          ", ".join(util.name(d) for d in out))
        return out

    def _rs_added(self, rs: Obj) -> None:
        if workload.is_terminating(rs):
            self._rs_deleted(rs)
            return
        ref = controllerref.controller_of(rs)
        if ref is not None:
            d = self._resolve(workload.meta(rs).get("namespace") or "", ref)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._deployments_for(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Obj, cur: Obj) -> None:
        if workload.meta(old).get("resourceVersion") == workload.meta(cur).get("resourceVersion"):
            return
        ns = workload.meta(cur).get("namespace") or ""
        cur_ref, old_ref = controllerref.controller_of(cur), controllerref.controller_of(old)
        ref_changed = cur_ref != old_ref
        if ref_changed and old_ref is not None:
            d = self._resolve(ns, old_ref)
            if d is not None:
                self.enqueue(d)
        if cur_ref is not None:
            d = self._resolve(ns, cur_ref)
            if d is not None:
                self.enqueue(d)
            return
        if ref_changed or workload.meta(old).get("labels") != workload.meta(cur).get("labels"):
            for d in self._deployments_for(cur):
                self.enqueue(d)

    def _rs_deleted(self, obj: Any) -> None:
        rs = final_state(obj)
        ref = controllerref.controller_of(rs)
        if ref is not None:
            d = self._resolve(workload.meta(rs).get("namespace") or "", ref)
            if d is not None:
                self.enqueue(d)

    def _pod_deleted(self, obj: Any) -> None:
        """A Recreate rollout waits for every old pod to be gone: wake it when the last one goes."""
        pod = final_state(obj)
        ns = workload.meta(pod).get("namespace") or ""
        ref = controllerref.controller_of(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.get(ns, str(ref.get("name") or ""))
        if rs is None or util.uid(rs) != ref.get("uid"):
            return
        d_ref = controllerref.controller_of(rs)
        d = self._resolve(ns, d_ref) if d_ref is not None else None
        if d is None or util.strategy_type(d) != "Recreate":
            return
        if not any(self._owned_pods(owned) for owned in self._owned_replicasets(d)):
            self.enqueue(d)

    def _owned_replicasets(self, d: Obj) -> list[Obj]:
        return [rs for rs in self.replicasets.by_index(OWNER_INDEX, util.uid(d)) if controllerref.is_controlled_by(rs, d)]

    def _owned_pods(self, rs: Obj) -> list[Obj]:
        return [p for p in self.pods.by_index(OWNER_INDEX, util.uid(rs)) if controllerref.is_controlled_by(p, rs)]

    # ---- helpers the rollout modules use --------------------------------------------------------

    def enqueue_after(self, d: Obj, seconds: float) -> None:
        self.queue.add_after(object_key(d), seconds)

    def enqueue_rate_limited(self, d: Obj) -> None:
        self.queue.add_rate_limited(object_key(d))

    async def update_replicaset(self, rs: Obj) -> dict[str, Any]:
        out = await self.client.update(REPLICASETS, rs)
        owner = controllerref.controller_of(out)
        if owner is not None:
            d_key = f"{workload.meta(out).get('namespace')}/{owner.get('name')}"
            self._rs_written.setdefault(d_key, {})[util.uid(out)] = out
        return out

    def _fresher(self, key: str, rss: list[Obj]) -> list[Obj]:
        """``rss`` with the versions this sync wrote, so a later step does not act on (or PUT) the
        stale cached copy."""
        written = self._rs_written.get(key) or {}
        return [written.get(util.uid(rs), rs) for rs in rss]

    async def update_deployment(self, d: dict[str, Any]) -> dict[str, Any]:
        """PUT the whole Deployment (spec and metadata); ``d`` takes the new resourceVersion."""
        out = await self.client.update(DEPLOYMENTS, d)
        d["metadata"]["resourceVersion"] = out["metadata"]["resourceVersion"]
        self._annotations_written[object_key(d)] = dict(util.annotations_of(out))
        return out

    async def update_status(self, d: dict[str, Any]) -> dict[str, Any]:
        """Write ``d``'s status and the annotations the controller keeps on it (the revision).

        Upstream writes both through ``/status``; navarch's status strategy keeps metadata from the
        stored object, so changed annotations go first as a merge patch of the object itself. ``d``
        takes each write's resourceVersion, so later writes in the same sync are not refused as stale
        while a write by anyone else still is.
        """
        meta = d["metadata"]
        key = object_key(d)
        written = self._annotations_written.get(key)
        if written is None:
            written = dict(util.annotations_of(self.deployments.get(meta.get("namespace"), meta["name"])))
        after = dict(meta.get("annotations") or {})
        if written != after:
            delta: dict[str, Any] = {k: v for k, v in after.items() if written.get(k) != v}
            delta.update({k: None for k in written if k not in after})
            patched = await self.client.patch(DEPLOYMENTS, meta["name"], {"metadata": {"annotations": delta}},
                                              "merge", meta.get("namespace"))
            meta["resourceVersion"] = patched["metadata"]["resourceVersion"]
            # The cache has not seen this patch yet: later writes in this sync compare with it.
            self._annotations_written[key] = after
        out = await self.client.update_status(DEPLOYMENTS, d)
        meta["resourceVersion"] = out["metadata"]["resourceVersion"]
        return out

    # ---- sync --------------------------------------------------------------------------------

    async def get_replicasets_for_deployment(self, d: Obj) -> list[Obj]:
        """Every ReplicaSet this Deployment controls after adopting matching orphans and releasing
        its own that no longer match."""
        selector = selectors.label_selector_from_object(workload.spec(d).get("selector"))
        candidates = self.replicasets.list(workload.meta(d).get("namespace"))
        return await claim_children(self.client, d, DEPLOYMENTS, self.kind, self.api_version, selector,
                                    candidates, REPLICASETS)

    def pod_map(self, d: Obj, rss: list[Obj]) -> dict[str, list[Obj]]:
        """Pods of each claimed ReplicaSet by its uid (only Recreate needs them: it waits for old
        pods to stop before starting new ones)."""
        selector = selectors.label_selector_from_object(workload.spec(d).get("selector"))
        out: dict[str, list[Obj]] = {util.uid(rs): [] for rs in rss}
        for pod in self.pods.list(workload.meta(d).get("namespace"), selector):
            ref = controllerref.controller_of(pod)
            if ref is not None and ref.get("uid") in out:
                out[str(ref["uid"])].append(pod)
        return out

    async def sync(self, key: str) -> None:
        try:
            await self._sync(key)
        finally:
            self._annotations_written.pop(key, None)
            self._rs_written.pop(key, None)

    async def _sync(self, key: str) -> None:
        ns, name = split_key(key)
        cached = self.deployments.get(ns, name)
        if cached is None:
            return
        d: dict[str, Any] = copy.deepcopy(dict(cached))
        sel = workload.spec(d).get("selector") or {}
        if not sel.get("matchLabels") and not sel.get("matchExpressions"):
            self.recorder.event(d, WARNING, "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            status = d.setdefault("status", {})
            generation = int(workload.meta(d).get("generation") or 0)
            if int(status.get("observedGeneration") or 0) < generation:
                status["observedGeneration"] = generation
                await self.update_status(d)
            return

        rss = await self.get_replicasets_for_deployment(d)
        pods = self.pod_map(d, rss)

        if workload.is_terminating(d):
            await syncing.sync_status_only(self, d, rss)
            return
        await progress.check_paused_conditions(self, d)
        rss = self._fresher(key, rss)
        if workload.spec(d).get("paused"):
            await syncing.sync(self, d, rss)
            return
        if rollback.rollback_to(d) is not None:
            await rollback.rollback(self, d, rss)
            return
        if await syncing.is_scaling_event(self, d, rss):
            await syncing.sync(self, d, self._fresher(key, rss))
            return
        rss = self._fresher(key, rss)
        strategy = util.strategy_type(d)
        if strategy == "Recreate":
            await recreate.rollout_recreate(self, d, rss, pods)
        elif strategy == "RollingUpdate":
            await rolling.rollout_rolling(self, d, rss)
        else:
            raise ValueError(f"unexpected deployment strategy type: {strategy}")

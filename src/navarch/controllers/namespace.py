"""The namespace controller: a deleted namespace first loses everything in it, then itself.

When a namespace gets a ``deletionTimestamp`` and still carries the ``kubernetes`` entry in
``spec.finalizers``, every namespaced resource the server serves is emptied in that namespace
(``deletecollection`` where the resource has it, else one delete per object, background
propagation), then listed again. While anything remains the namespace is revisited after a delay
estimated from the remaining pods' grace periods (upstream: estimate/2 + 1 seconds). Once nothing
remains, ``kubernetes`` is removed through ``PUT namespaces/{name}/finalize``; the API server
deletes the namespace when both ``spec.finalizers`` and ``metadata.finalizers`` are empty.

Progress is reported in the namespace's status conditions with upstream's types, reasons and
messages (``NamespaceDeletionDiscoveryFailure`` ... ``NamespaceFinalizersRemaining``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from navarch.api.resources import REGISTRY, Registry, ResourceInfo
from navarch.client.errors import ApiError, is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj
from navarch.machinery.clock import Clock
from navarch.machinery.events import timestamp

FINALIZER = "kubernetes"

DISCOVERY_FAILURE = "NamespaceDeletionDiscoveryFailure"
GV_PARSING_FAILURE = "NamespaceDeletionGroupVersionParsingFailure"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONDITION_TYPES = (DISCOVERY_FAILURE, GV_PARSING_FAILURE, CONTENT_FAILURE, CONTENT_REMAINING, FINALIZERS_REMAINING)
OK_REASONS = {
    DISCOVERY_FAILURE: "ResourcesDiscovered", GV_PARSING_FAILURE: "ParsedGroupVersions",
    CONTENT_FAILURE: "ContentDeleted", CONTENT_REMAINING: "ContentRemoved",
    FINALIZERS_REMAINING: "ContentHasNoFinalizers",
}
OK_MESSAGES = {
    DISCOVERY_FAILURE: "All resources successfully discovered",
    GV_PARSING_FAILURE: "All legacy kube types successfully parsed",
    CONTENT_FAILURE: "All content successfully deleted, may be waiting on finalization",
    CONTENT_REMAINING: "All content successfully removed",
    FINALIZERS_REMAINING: "All content-preserving finalizers finished",
}


@dataclass
class ContentTotals:
    """What one pass found still present: per resource, per finalizer, and failures deleting."""

    remaining: dict[str, int] = field(default_factory=dict)  # "pods." → count
    finalizers: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    estimate: int = 0  # seconds until the slowest remaining pod should be gone

    @property
    def done(self) -> bool:
        return not any(self.remaining.values()) and not self.errors


def namespaced_resources(registry: Registry = REGISTRY) -> list[ResourceInfo]:
    """Every stored namespaced resource that can be listed and deleted, one entry per storage."""
    seen: dict[str, ResourceInfo] = {}
    for r in registry.resources:
        if not r.namespaced or r.virtual or not {"list", "delete"} <= set(r.verbs):
            continue
        s = registry.storage_resource(r)
        seen.setdefault(s.storage_prefix(), s)
    return list(seen.values())


def new_conditions(totals: ContentTotals) -> dict[str, tuple[str, str, str]]:
    """Condition type → (status, reason, message) for this pass (upstream's condition updater)."""
    out = {t: ("False", OK_REASONS[t], OK_MESSAGES[t]) for t in CONDITION_TYPES}
    remaining = sorted(f"{res} has {n} resource instances" for res, n in totals.remaining.items() if n)
    if remaining:
        out[CONTENT_REMAINING] = ("True", "SomeResourcesRemain",
                                  f"Some resources are remaining: {', '.join(remaining)}")
    by_finalizer = sorted(f"{f} in {n} resource instances" for f, n in totals.finalizers.items() if n)
    if by_finalizer:
        out[FINALIZERS_REMAINING] = ("True", "SomeFinalizersRemain",
                                     f"Some content in the namespace has finalizers remaining: {', '.join(by_finalizer)}")
    if totals.errors:
        msgs = sorted(totals.errors)
        out[CONTENT_FAILURE] = ("True", "ContentDeletionFailed",
                                f"Failed to delete all resource types, {len(msgs)} remaining: {', '.join(msgs)}")
    return out


def update_conditions(status: dict[str, Any], wanted: Mapping[str, tuple[str, str, str]], clock: Clock) -> bool:
    """Write ``wanted`` into ``status.conditions`` in place; True if anything changed. The transition
    time moves only when a condition's status flips, as upstream."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    changed = False
    now = timestamp(clock.now())
    for ctype in CONDITION_TYPES:
        st, reason, message = wanted[ctype]
        old = next((c for c in conditions if c.get("type") == ctype), None)
        if old is None:
            conditions.append({"type": ctype, "status": st, "lastTransitionTime": now, "reason": reason,
                               "message": message})
            changed = True
        elif (old.get("status"), old.get("reason"), old.get("message")) != (st, reason, message):
            if old.get("status") != st:
                old["lastTransitionTime"] = now
            old.update(status=st, reason=reason, message=message)
            changed = True
    return changed


class NamespaceController(QueueController):
    name: ClassVar[str] = "namespace"
    workers: ClassVar[int] = 5

    def __init__(self, ctx: ControllerContext, resources: list[ResourceInfo] | None = None) -> None:
        super().__init__(ctx)
        self.resources = resources if resources is not None else namespaced_resources(ctx.client.registry)
        self.lister = self.factory.lister("namespaces")
        self.factory.informer("namespaces").add_event_handler(
            on_add=self._maybe_enqueue, on_update=lambda _old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, ns: Obj) -> None:
        if (ns.get("metadata") or {}).get("deletionTimestamp"):
            self.enqueue(ns)

    async def sync(self, key: str) -> None:
        cached = self.lister.get(None, key)
        if cached is None or not (cached.get("metadata") or {}).get("deletionTimestamp"):
            return
        # The cache may lag behind a finalize we already did: decide from the live object.
        try:
            ns = await self.client.get("namespaces", key)
        except ApiError as e:
            if is_not_found(e):
                return
            raise
        meta = ns.get("metadata") or {}
        if not meta.get("deletionTimestamp") or FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        totals = await self.delete_all_content(key)
        ns = await self._update_conditions(ns, totals)
        if not totals.done:
            delay = totals.estimate / 2 + 1
            self.log.info("namespace %s: content remains (%s), checking again in %.0fs", key,
                          ", ".join(f"{k} {v}" for k, v in sorted(totals.remaining.items()) if v) or
                          "; ".join(totals.errors), delay)
            self.queue.add_after(key, delay)
            return
        await self._finalize(ns)

    async def delete_all_content(self, namespace: str) -> ContentTotals:
        totals = ContentTotals()
        for r in self.resources:
            try:
                await self._delete_collection(r, namespace)
                items = (await self.client.list_all(r, namespace)).get("items") or []
            except ApiError as e:
                if is_not_found(e):
                    continue
                totals.errors.append(f"{r.qualified}: {e.message or e}")
                continue
            if not items:
                continue
            totals.remaining[f"{r.plural}.{r.group}"] = len(items)
            for item in items:
                meta = item.get("metadata") or {}
                for f in meta.get("finalizers") or []:
                    totals.finalizers[f] = totals.finalizers.get(f, 0) + 1
                if r.kind == "Pod" and r.group == "":
                    grace = meta.get("deletionGracePeriodSeconds")
                    if grace is None:
                        grace = (item.get("spec") or {}).get("terminationGracePeriodSeconds") or 0
                    totals.estimate = max(totals.estimate, int(grace))
        return totals

    async def _delete_collection(self, r: ResourceInfo, namespace: str) -> None:
        if "deletecollection" in r.verbs:
            await self.client.delete_collection(r, namespace, propagation_policy="Background")
            return
        items = (await self.client.list_all(r, namespace)).get("items") or []
        for item in items:
            meta = item.get("metadata") or {}
            if meta.get("deletionTimestamp"):
                continue
            try:
                await self.client.delete(r, meta["name"], namespace, propagation_policy="Background",
                                         preconditions={"uid": meta["uid"]} if meta.get("uid") else None)
            except ApiError as e:
                if not (is_not_found(e) or is_conflict(e)):
                    raise

    async def _update_conditions(self, ns: dict[str, Any], totals: ContentTotals) -> dict[str, Any]:
        updated = copy.deepcopy(ns)
        status = updated.setdefault("status", {})
        if not update_conditions(status, new_conditions(totals), self.clock):
            return ns
        try:
            return await self.client.update_status("namespaces", updated)
        except ApiError as e:
            if is_not_found(e):
                return ns
            if is_conflict(e):
                raise  # retried: the namespace changed under us
            self.log.warning("namespace %s: could not update conditions: %s", ns["metadata"]["name"], e)
            return ns

    async def _finalize(self, ns: dict[str, Any]) -> None:
        body = copy.deepcopy(ns)
        body.setdefault("spec", {})["finalizers"] = [
            f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.update("namespaces", body, subresource="finalize")
        except ApiError as e:
            if is_not_found(e):
                return
            raise
        self.log.info("namespace %s: content removed, finalizer %s released", ns["metadata"]["name"], FINALIZER)

"""The resource quota controller: each ResourceQuota's ``status`` says what its namespace uses.

The ResourceQuota admission plugin charges a quota as objects are created; this controller is what
gives quota back. It recomputes ``status.used`` from the objects themselves when a quota is created
or its limits change, when counted objects go away (deleted, or pods that finished), and every
``resource-quota-sync-period`` seconds (upstream's 5 minutes) to correct anything else. As upstream,
creations do not trigger a recount: admission has already charged them, and a recount from a cache
that has not seen the new object yet would undercount.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar

from navarch.api import quota
from navarch.client.errors import ApiError, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state, split_key
from navarch.machinery.listers import Lister

# Counted kinds watched here, so their deletion gives quota back at once; others are listed at sync.
WATCHED = (("", "pods"), ("", "services"), ("", "persistentvolumeclaims"), ("", "configmaps"), ("", "secrets"))
DEFAULT_SYNC_PERIOD = 300.0


class ResourceQuotaController(QueueController):
    name: ClassVar[str] = "resourcequota"
    workers: ClassVar[int] = 2

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.period = float(ctx.options.get("resource-quota-sync-period", DEFAULT_SYNC_PERIOD))
        self.quotas = self.factory.lister("resourcequotas")
        self.factory.informer("resourcequotas").add_event_handler(
            on_add=self.enqueue, on_update=self._quota_updated)
        self.listers: dict[tuple[str, str], Lister] = {}
        for group, plural in WATCHED:
            self.listers[(group, plural)] = self.factory.lister(plural)
            self.factory.informer(plural).add_event_handler(
                on_update=functools.partial(self._object_updated, plural), on_delete=self._object_deleted)

    # ------------------------------------------------------------------ handlers

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        spec, old_spec = new.get("spec") or {}, old.get("spec") or {}
        hard = spec.get("hard") or {}
        if hard != (old_spec.get("hard") or {}) or spec.get("scopes") != old_spec.get("scopes") or \
                spec.get("scopeSelector") != old_spec.get("scopeSelector") or \
                hard != ((new.get("status") or {}).get("hard") or {}):
            self.enqueue(new)

    def _object_updated(self, plural: str, old: Obj, new: Obj) -> None:
        # Only changes that can give quota back: a pod finishing, a service or claim shrinking.
        if plural == "pods":
            if not quota.pod_counts(old) or quota.pod_counts(new):
                return
        elif plural in ("services", "persistentvolumeclaims"):
            if quota.usage(plural, "", old) == quota.usage(plural, "", new):
                return
        else:
            return
        self._enqueue_namespace((new.get("metadata") or {}).get("namespace"))

    def _object_deleted(self, obj: Any) -> None:
        self._enqueue_namespace((final_state(obj).get("metadata") or {}).get("namespace"))

    def _enqueue_namespace(self, namespace: str | None) -> None:
        if not namespace:
            return
        for q in self.quotas.list(namespace):
            self.enqueue(q)

    # ------------------------------------------------------------------ loop

    async def run(self, workers: int | None = None) -> None:
        resync = asyncio.create_task(self._resync_forever(), name="resourcequota-resync")
        try:
            await super().run(workers)
        finally:
            resync.cancel()
            await asyncio.gather(resync, return_exceptions=True)

    async def _resync_forever(self) -> None:
        while True:
            await self.clock.sleep(self.period)
            for q in self.quotas.list():
                self.enqueue(q)

    async def sync(self, key: str) -> None:
        namespace, name = split_key(key)
        q = self.quotas.get(namespace, name)
        if q is None or not namespace:
            return
        spec_hard = dict((q.get("spec") or {}).get("hard") or {})
        objects: dict[tuple[str, str], list[Obj]] = {}
        for kind in quota.kinds_of(spec_hard):
            objects[kind] = await self._objects(kind, namespace)
        used = quota.compute_used(q, objects)
        status = {"hard": spec_hard, "used": quota.render_list(used)}
        if (q.get("status") or {}) == status:
            return
        body = {**q, "status": status}
        try:
            await self.client.update_status("resourcequotas", body, namespace)
        except ApiError as e:
            if is_not_found(e):
                return
            raise  # a conflict: admission charged meanwhile; recount on the newer quota
        self.log.info("resource quota %s/%s used: %s", namespace, name, quota.pretty(used))

    async def _objects(self, kind: tuple[str, str], namespace: str) -> list[Obj]:
        lister = self.listers.get(kind)
        if lister is not None:
            return lister.list(namespace)
        group, plural = kind
        try:
            listing = await self.client.list_all(f"{plural}.{group}" if group else plural, namespace)
        except (ApiError, ValueError):
            return []  # a count/ of a resource this cluster does not serve counts nothing
        return list(listing.get("items") or [])

"""The service account controller: every active namespace has a ``default`` ServiceAccount.

Pods that name no service account run as ``default``, so it must exist in each namespace, and be
re-created if someone deletes it. Keys are namespace names; a namespace that is terminating (or
gone) is left alone, as upstream does, since the API server refuses new content there anyway.
"""

from __future__ import annotations

from typing import Any, ClassVar

from navarch.client.errors import (
    ApiError,
    is_already_exists,
    is_forbidden,
    is_not_found,
)
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state

DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountController(QueueController):
    name: ClassVar[str] = "serviceaccount"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.ensure: tuple[str, ...] = tuple(ctx.options.get("service-accounts", DEFAULT_SERVICE_ACCOUNTS))
        self.namespaces = self.factory.lister("namespaces")
        self.accounts = self.factory.lister("serviceaccounts")
        self.factory.informer("namespaces").add_event_handler(
            on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.factory.informer("serviceaccounts").add_event_handler(on_delete=self._account_deleted)

    def _account_deleted(self, obj: Any) -> None:
        ns = (final_state(obj).get("metadata") or {}).get("namespace")
        if ns:
            self.queue.add(ns)

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get(None, key)
        if ns is None or not _active(ns):
            return
        for name in self.ensure:
            if self.accounts.get(key, name) is not None:
                continue
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}}
            try:
                await self.client.create("serviceaccounts", body, key)
                self.log.info("created service account %s/%s", key, name)
            except ApiError as e:
                # Exists already (our cache lags), or the namespace began terminating meanwhile.
                if is_already_exists(e) or is_forbidden(e) or is_not_found(e):
                    continue
                raise


def _active(ns: Obj) -> bool:
    meta = ns.get("metadata") or {}
    return not meta.get("deletionTimestamp") and (ns.get("status") or {}).get("phase", "Active") == "Active"

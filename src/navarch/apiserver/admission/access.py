"""What admission plugins may read and write besides the object under review.

Reads come from the API server's watch cache without waiting for it to catch up, as upstream's
plugins read informer listers: cheap on every create, possibly a moment behind. The one write,
ResourceQuota's usage, is a compare-and-swap on the revision that was read, so a stale read turns
into a conflict (and a retry on fresh data), never into a lost update.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from navarch.api.resources import REGISTRY, ResourceInfo


class ObjectAccess(Protocol):
    async def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Current objects (read-only: copy before changing), of one namespace or all."""
        ...

    async def get(self, group: str, plural: str, namespace: str | None, name: str
                  ) -> tuple[dict[str, Any], int] | None:
        """An object (read-only) and the revision to compare-and-swap against."""
        ...

    async def compare_and_swap(self, group: str, plural: str, namespace: str | None, obj: dict[str, Any],
                               revision: int) -> int | None:
        """Write ``obj`` if the stored object is still at ``revision``: the new revision, or None if
        it changed (or went)."""
        ...

    async def refresh(self) -> None:
        """Wait until reads reflect every write the store has committed."""
        ...


def resource_for(group: str, plural: str) -> ResourceInfo | None:
    return REGISTRY.storage_of(group, plural)


class CacheAccess:
    """ObjectAccess over the API server's store and watch cache."""

    def __init__(self, store: Any, cache: Any) -> None:
        self.store = store
        self.cache = cache

    def _items(self, r: ResourceInfo) -> dict[str, Any]:
        return self.cache.cache_for(r.storage_prefix()).items

    async def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        r = resource_for(group, plural)
        if r is None:
            return []
        items = self._items(r)
        if namespace is None or not r.namespaced:
            return [e.obj for e in items.values()]
        prefix = f"{r.storage_prefix()}{namespace}/"
        return [e.obj for k, e in items.items() if k.startswith(prefix)]

    async def get(self, group: str, plural: str, namespace: str | None, name: str
                  ) -> tuple[dict[str, Any], int] | None:
        r = resource_for(group, plural)
        if r is None:
            return None
        e = self._items(r).get(r.storage_key(namespace, name))
        return (e.obj, e.revision) if e is not None else None

    async def compare_and_swap(self, group: str, plural: str, namespace: str | None, obj: dict[str, Any],
                               revision: int) -> int | None:
        from navarch.storage import KeyNotFound, RevisionConflict

        r = resource_for(group, plural)
        if r is None:
            return None
        meta = dict(obj.get("metadata") or {})
        meta.pop("resourceVersion", None)
        body = {**obj, "metadata": meta}
        try:
            kv = await self.store.update(r.storage_key(namespace, meta.get("name", "")), orjson.dumps(body), revision)
        except (RevisionConflict, KeyNotFound):
            return None
        return int(kv.mod_revision)

    async def refresh(self) -> None:
        await self.cache.wait_fresh()


def access_of(a: Any) -> ObjectAccess | None:
    """The attributes' access, or one over the server whose ``lookup`` the attributes carry."""
    if a.access is not None:
        return a.access
    server = getattr(a.lookup, "__self__", None)
    store, cache = getattr(server, "store", None), getattr(server, "cache", None)
    if store is None or cache is None:
        return None
    a.access = CacheAccess(store, cache)
    return a.access

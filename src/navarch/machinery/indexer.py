"""An in-memory store of objects by key, with secondary indexes (client-go's ``cache.Indexer``).

Not thread-safe and not meant to be: every method is synchronous, so within one event loop each
call is atomic, and readers never see a half-applied update. Indexes answer "which pods are on node
n1" or "which objects does owner uid X control" without scanning the whole cache.
"""

from __future__ import annotations

import builtins
from typing import Callable, Iterable, Mapping

from navarch.machinery.cache import CachedObjectMutated, Obj, fingerprint, object_key

IndexFunc = Callable[[Obj], Iterable[str]]

NAMESPACE_INDEX = "namespace"
OWNER_INDEX = "owner"
NODE_INDEX = "node"


def index_by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


def index_by_owner_uid(obj: Obj) -> list[str]:
    """Every owner's uid (controller or not): garbage collection and adoption both need them all."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref["uid"] for ref in refs if ref.get("uid")]


def index_by_node_name(obj: Obj) -> list[str]:
    node = (obj.get("spec") or {}).get("nodeName")
    return [node] if node else []


def default_indexers() -> dict[str, IndexFunc]:
    return {NAMESPACE_INDEX: index_by_namespace, OWNER_INDEX: index_by_owner_uid, NODE_INDEX: index_by_node_name}


class Indexer:
    """Objects by ``namespace/name`` plus named indexes. Returned objects are shared: copy before
    mutating (see ``navarch.machinery.cache``). With ``debug=True`` every write and ``verify()``
    check that no stored object was changed in place, raising ``CachedObjectMutated``."""

    def __init__(self, indexers: Mapping[str, IndexFunc] | None = None, *, debug: bool = False) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = dict(default_indexers() if indexers is None else indexers)
        # index name -> index value -> keys
        self._indices: dict[str, dict[str, set[str]]] = {name: {} for name in self._indexers}
        self._debug = debug
        self._prints: dict[str, bytes] = {}

    # ---- writes (the informer's, nobody else's) ----------------------------------------------

    def add(self, obj: Obj) -> None:
        self.update(obj)

    def update(self, obj: Obj) -> Obj | None:
        """Store ``obj``; returns the previous object under its key."""
        key = object_key(obj)
        old = self._items.get(key)
        self._check(key)
        self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        if self._debug:
            self._prints[key] = fingerprint(obj)
        return old

    def delete(self, obj_or_key: Obj | str) -> Obj | None:
        key = obj_or_key if isinstance(obj_or_key, str) else object_key(obj_or_key)
        self._check(key)
        old = self._items.pop(key, None)
        self._unindex(key, old)
        self._prints.pop(key, None)
        return old

    def replace(self, objs: Iterable[Obj]) -> None:
        self.verify()
        self._items = {}
        self._indices = {name: {} for name in self._indexers}
        self._prints = {}
        for obj in objs:
            self.update(obj)

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes at any time; existing objects are indexed at once."""
        for name, fn in indexers.items():
            if name in self._indexers:
                raise ValueError(f"indexer {name!r} already exists")
            self._indexers[name] = fn
            self._indices[name] = {}
            for key, obj in self._items.items():
                for value in fn(obj):
                    self._indices[name].setdefault(value, set()).add(key)

    # ---- reads -------------------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def list_keys(self) -> builtins.list[str]:
        return list(self._items)

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return [self._items[k] for k in sorted(self._index_keys(index, value))]

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        return sorted(self._index_keys(index, value))

    def index_values(self, index: str) -> builtins.list[str]:
        return sorted(self._indices_for(index))

    def verify(self) -> None:
        """In debug mode, raise if any cached object was mutated in place since it was stored."""
        for key in self._prints:
            self._check(key)

    # ---- internals ---------------------------------------------------------------------------

    def _indices_for(self, index: str) -> dict[str, set[str]]:
        try:
            return self._indices[index]
        except KeyError:
            raise KeyError(f"no indexer named {index!r}") from None

    def _index_keys(self, index: str, value: str) -> set[str]:
        return self._indices_for(index).get(value, set())

    def _index(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for value in fn(obj):
                self._indices[name].setdefault(value, set()).add(key)

    def _unindex(self, key: str, obj: Obj | None) -> None:
        if obj is None:
            return
        for name, fn in self._indexers.items():
            bucket = self._indices[name]
            for value in fn(obj):
                keys = bucket.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del bucket[value]

    def _check(self, key: str) -> None:
        if not self._debug or key not in self._prints:
            return
        if fingerprint(self._items[key]) != self._prints[key]:
            raise CachedObjectMutated(f"cached object {key} was mutated in place; copy before mutating")


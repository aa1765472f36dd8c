"""Keys, tombstones and the read-only rule for cached objects.

Objects in an informer's cache are shared by every handler and lister in the process (one pod cache
serves scheduler, controllers and kubelet). They are stored as received and handed out without
copying, so **callers must copy before mutating** (``copy.deepcopy`` or build a patch). Mutating a
cached object corrupts every other reader's view, silently; the indexer's ``debug`` mode detects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import orjson

Obj = Mapping[str, Any]


def object_key(obj: Obj) -> str:
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (client-go's
    MetaNamespaceKeyFunc), so keys from listers, handlers and queues always agree."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ValueError("object has no metadata.name")
    ns = meta.get("namespace")
    return f"{ns}/{name}" if ns else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """(namespace or None, name)."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, ns)


@dataclass(frozen=True)
class DeletedFinalStateUnknown:
    """What ``on_delete`` receives for an object that vanished while the watch was down: the relist
    proved it gone, but its final state was never seen; ``obj`` is the last state the cache had."""

    key: str
    obj: Obj

    def get(self, field: str, default: Any = None) -> Any:
        """Reads fall through to the last known state, so handlers can treat it like the object."""
        return self.obj.get(field, default)

    def __getitem__(self, field: str) -> Any:
        return self.obj[field]


def final_state(obj: Obj | DeletedFinalStateUnknown) -> Obj:
    """The object a delete handler should reason about, tombstone or not."""
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


def fingerprint(obj: Obj) -> bytes:
    """A cheap full-content digest for the debug check that cached objects were not mutated."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)


class CachedObjectMutated(AssertionError):
    """A caller changed an object it got from a cache instead of copying it first."""

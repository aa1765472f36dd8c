"""The store contract every backend (memory, SQLite, etcd) implements.

Revisions are global and strictly increasing; an object's ``metadata.resourceVersion`` is the
revision of its last write. Values are opaque bytes (the API server stores JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import AsyncIterator, Literal, Protocol


class StoreError(Exception):
    """Base of every error a backend raises on purpose."""


class KeyExists(StoreError):
    """create() of a key that is present."""


class KeyNotFound(StoreError):
    """update()/delete() of a key that is absent."""


class RevisionConflict(StoreError):
    """update()/delete() whose expected revision is not the key's current one.

    ``current`` is the key's present value, so callers can report or retry without a second read.
    """

    def __init__(self, current: "KeyValue | None") -> None:
        super().__init__("revision conflict")
        self.current = current


class Compacted(StoreError):
    """A read or watch at a revision older than the compacted one (the API answers 410 Gone)."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (compacted revision {compacted})")
        self.requested = requested
        self.compacted = compacted


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, ``kv.value`` is the last value and ``kv.mod_revision`` the delete's revision."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev: KeyValue | None  # the value before this change (None for a create)

    @property
    def revision(self) -> int:
        return self.kv.mod_revision

    @property
    def created(self) -> bool:
        return self.type == "PUT" and self.prev is None


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the revision the list is consistent at
    more: bool  # True when ``limit`` cut the list short; continue after items[-1].key


class Store(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def current_revision(self) -> int: ...

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Insert ``key``; raises KeyExists. Returns the stored KeyValue (with its new revision)."""

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        """Compare-and-swap on the key's mod revision; raises KeyNotFound or RevisionConflict."""

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Remove ``key``; returns the deleted value with ``mod_revision`` = the delete's revision."""

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None: ...

    async def list(self, prefix: str, *, revision: int | None = None, limit: int | None = None,
                   start_after: str | None = None) -> ListResult:
        """Keys under ``prefix`` in key order, consistent at one revision (the latest when None).

        ``start_after`` continues a paginated list (exclusive); raises Compacted for an old revision.
        """

    async def count(self, prefix: str) -> int: ...

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[list[Event]]:
        """Every change under ``prefix`` with revision > ``after_revision``, in revision order, in batches.

        Raises Compacted (on first iteration) when ``after_revision`` < the compacted revision. A watcher
        that falls too far behind is ended with Compacted too, so it re-lists.
        """

    async def compact(self, revision: int) -> None:
        """Drop history at and below ``revision`` that is not the latest value of its key."""

    async def compacted_revision(self) -> int: ...

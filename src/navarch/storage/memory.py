"""The in-process store: the reference semantics every other backend is checked against.

History is a log with one Event per revision (as etcd's MVCC keeps one entry per revision), plus an
index from each key to the revisions that touched it. Nothing survives the process.
"""

from __future__ import annotations

import bisect
from typing import AsyncIterator

from navarch.storage import broadcaster as broadcasting
from navarch.storage.interface import (
    Compacted, Event, KeyExists, KeyNotFound, KeyValue, ListResult, RevisionConflict, StoreError,
)

REPLAY_BATCH = 500


def prefix_matches(key: str, prefix: str, start_after: str | None) -> bool:
    return key.startswith(prefix) and (start_after is None or key > start_after)


class MemoryStore:
    def __init__(self, *, watch_queue_limit: int = broadcasting.DEFAULT_QUEUE_LIMIT) -> None:
        self._revision = 0
        self._compacted = 0
        self._log: dict[int, Event] = {}  # revision -> the change made at that revision
        self._revisions: list[int] = []  # sorted keys of _log, for replay by range
        self._history: dict[str, list[int]] = {}  # key -> revisions of its surviving changes
        self._broadcaster = broadcasting.Broadcaster(0, watch_queue_limit)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._broadcaster.close()

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    # -- writes ---------------------------------------------------------------------------------

    def _latest(self, key: str) -> KeyValue | None:
        revisions = self._history.get(key)
        if not revisions:
            return None
        event = self._log[revisions[-1]]
        return None if event.type == "DELETE" else event.kv

    def _append(self, event: Event) -> None:
        rev = event.revision
        self._log[rev] = event
        self._revisions.append(rev)
        self._history.setdefault(event.kv.key, []).append(rev)
        self._revision = rev
        self._broadcaster.publish([event])

    async def create(self, key: str, value: bytes) -> KeyValue:
        if self._latest(key) is not None:
            raise KeyExists(key)
        rev = self._revision + 1
        kv = KeyValue(key, value, rev, rev)
        self._append(Event("PUT", kv, None))
        return kv

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        current = self._latest(key)
        if current is None:
            raise KeyNotFound(key)
        if current.mod_revision != expected_revision:
            raise RevisionConflict(current)
        kv = KeyValue(key, value, current.create_revision, self._revision + 1)
        self._append(Event("PUT", kv, current))
        return kv

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        current = self._latest(key)
        if current is None:
            raise KeyNotFound(key)
        if expected_revision is not None and current.mod_revision != expected_revision:
            raise RevisionConflict(current)
        kv = KeyValue(key, current.value, current.create_revision, self._revision + 1)
        self._append(Event("DELETE", kv, current))
        return kv

    # -- reads ----------------------------------------------------------------------------------

    def _read_revision(self, revision: int | None) -> int:
        if revision is None or revision == 0:
            return self._revision
        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        if revision > self._revision:
            raise StoreError(f"revision {revision} is a future revision (current {self._revision})")
        return revision

    def _at(self, key: str, revision: int) -> KeyValue | None:
        revisions = self._history.get(key, [])
        i = bisect.bisect_right(revisions, revision)
        if i == 0:
            return None
        event = self._log[revisions[i - 1]]
        return None if event.type == "DELETE" else event.kv

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        return self._at(key, self._read_revision(revision))

    async def list(self, prefix: str, *, revision: int | None = None, limit: int | None = None,
                   start_after: str | None = None) -> ListResult:
        rev = self._read_revision(revision)
        items: list[KeyValue] = []
        more = False
        for key in sorted(k for k in self._history if prefix_matches(k, prefix, start_after)):
            kv = self._at(key, rev)
            if kv is None:
                continue
            if limit is not None and limit > 0 and len(items) == limit:
                more = True
                break
            items.append(kv)
        return ListResult(items, rev, more)

    async def count(self, prefix: str) -> int:
        return sum(1 for k in self._history if k.startswith(prefix) and self._latest(k) is not None)

    # -- watch and compaction -------------------------------------------------------------------

    async def _replay(self, prefix: str, after: int, up_to: int) -> AsyncIterator[list[Event]]:
        if after < self._compacted:
            raise Compacted(after, self._compacted)
        start = bisect.bisect_right(self._revisions, after)
        end = bisect.bisect_right(self._revisions, up_to)
        selected = [self._log[r] for r in self._revisions[start:end]]
        matching = [e for e in selected if e.kv.key.startswith(prefix)]
        for i in range(0, len(matching), REPLAY_BATCH):
            yield matching[i:i + REPLAY_BATCH]

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[list[Event]]:
        return broadcasting.watch(self._broadcaster, prefix, after_revision, self.compacted_revision,
                                  self._replay)

    async def compact(self, revision: int) -> None:
        if revision > self._revision:
            raise StoreError(f"cannot compact to future revision {revision} (current {self._revision})")
        if revision <= self._compacted:
            return
        dropped: set[int] = set()
        for key in list(self._history):
            revisions = self._history[key]
            i = bisect.bisect_right(revisions, revision)
            if i == 0:
                continue
            # Keep the newest change at or below the bound, unless it is a delete (the key is gone).
            keep_from = i if self._log[revisions[i - 1]].type == "DELETE" else i - 1
            dropped.update(revisions[:keep_from])
            del revisions[:keep_from]
            if not revisions:
                del self._history[key]
        for rev in dropped:
            del self._log[rev]
        self._revisions = [r for r in self._revisions if r not in dropped]
        self._compacted = revision

"""The watch cache: every resource's objects and recent changes, in memory, fed by one store watch.

Lists and watches are served from here so that many watchers cost one store watch. Each change is
decoded and re-encoded once (to stamp ``metadata.resourceVersion``, which the store does not keep in
the value), and watchers share those bytes.

Watches whose field selector pins ``metadata.name`` (a kubelet's watch of its Node, ``kubectl get
-w NAME``) or, for pods, ``spec.nodeName`` (every kubelet's pod watch) are indexed by that value,
as upstream's cacher indexes its "triggers": a change is offered only to the watches of the values
its object has or had, so a cluster of N kubelets costs each pod change a few watchers, not N
selector evaluations.

History: the cache keeps the events of the last ``history_seconds`` (bounded in count). A watch from a
resourceVersion older than what the cache can replay gets 410 Gone, as upstream's cacher answers
"too old resource version".
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import orjson

from navarch.storage import Compacted, Event, KeyValue, Store

log = logging.getLogger("navarch.apiserver.watchcache")


@dataclass(slots=True)
class Entry:
    """One live object: its decoded form (read-only!) and its JSON bytes with resourceVersion stamped."""

    key: str
    obj: dict[str, Any]
    raw: bytes
    revision: int

    def copy(self) -> dict[str, Any]:
        """A private, mutable copy of ``obj``: decoding ``raw`` again is ~10x faster than
        ``copy.deepcopy`` and gives the same dict (``raw`` is ``obj`` encoded)."""
        return orjson.loads(self.raw)


@dataclass(slots=True)
class CacheEvent:
    type: str  # ADDED | MODIFIED | DELETED
    entry: Entry  # for DELETED: the last state, stamped with the delete's revision
    prev: Entry | None
    revision: int
    at: float = 0.0


def stamp(kv: KeyValue, revision: int | None = None) -> Entry:
    obj = orjson.loads(kv.value)
    rev = revision if revision is not None else kv.mod_revision
    obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
    return Entry(kv.key, obj, orjson.dumps(obj), rev)


class TooOld(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


# Fields a watch can be indexed by: the value an object has there (as field selectors read it).
TRIGGER_FIELDS: dict[str, Callable[[dict[str, Any]], str]] = {
    "metadata.name": lambda obj: str((obj.get("metadata") or {}).get("name") or ""),
    "spec.nodeName": lambda obj: str((obj.get("spec") or {}).get("nodeName") or ""),
}


@dataclass(eq=False)
class Watcher:
    """A subscriber: gets every event under ``prefix`` after its start revision via its queue.

    With a ``trigger`` (field, value) only the events of objects whose field has, or had before the
    change, that value are queued: the watch's selector requires it, so the others would be
    filtered out anyway.
    """

    prefix: str
    predicate: Callable[[CacheEvent], bool] | None
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    overflowed: bool = False
    trigger: tuple[str, str] | None = None


class ResourceCache:
    """Objects and history under one storage prefix (one resource)."""

    def __init__(self, prefix: str, history_seconds: float = 300.0, history_max: int = 100_000) -> None:
        self.prefix = prefix
        self.items: dict[str, Entry] = {}
        self.history: collections.deque[CacheEvent] = collections.deque()
        self.history_seconds = history_seconds
        self.history_max = history_max
        # Every event after this revision is in ``history``.
        self.window_start = 0
        self.watchers: set[Watcher] = set()  # all of them; see subscribe()
        self._untriggered: set[Watcher] = set()
        self._triggered: dict[str, dict[str, set[Watcher]]] = {}  # field -> value -> watchers
        self._sorted_keys: list[str] | None = None

    def subscribe(self, w: Watcher) -> None:
        self.watchers.add(w)
        if w.trigger is None:
            self._untriggered.add(w)
        else:
            name, value = w.trigger
            self._triggered.setdefault(name, {}).setdefault(value, set()).add(w)

    def unsubscribe(self, w: Watcher) -> None:
        self.watchers.discard(w)
        if w.trigger is None:
            self._untriggered.discard(w)
            return
        name, value = w.trigger
        by_value = self._triggered.get(name, {})
        ws = by_value.get(value)
        if ws is not None:
            ws.discard(w)
            if not ws:
                del by_value[value]
                if not by_value:
                    del self._triggered[name]

    def unsubscribe_all(self) -> None:
        self.watchers.clear()
        self._untriggered.clear()
        self._triggered.clear()

    def _targets(self, ev: CacheEvent) -> list[Watcher]:
        """The watchers this event may concern: every untriggered one, and the triggered ones of the
        values the object has and had."""
        out = list(self._untriggered)
        for name, by_value in self._triggered.items():
            value_of = TRIGGER_FIELDS[name]
            now = value_of(ev.entry.obj)
            out.extend(by_value.get(now, ()))
            if ev.prev is not None:
                before = value_of(ev.prev.obj)
                if before != now:
                    out.extend(by_value.get(before, ()))
        return out

    def sorted_keys(self) -> list[str]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self.items)
        return self._sorted_keys

    def apply(self, ev: CacheEvent) -> None:
        if ev.type == "DELETED":
            if self.items.pop(ev.entry.key, None) is not None:
                self._sorted_keys = None
        else:
            if ev.entry.key not in self.items:
                self._sorted_keys = None
            self.items[ev.entry.key] = ev.entry
        self.history.append(ev)
        cutoff = ev.at - self.history_seconds
        while self.history and (len(self.history) > self.history_max or self.history[0].at < cutoff):
            self.window_start = self.history.popleft().revision
        for w in (self._targets(ev) if self._triggered else list(self._untriggered)):
            if not ev.entry.key.startswith(w.prefix):
                continue
            try:
                w.queue.put_nowait(ev)
            except asyncio.QueueFull:
                # A watcher that cannot keep up is ended; its client re-lists (upstream does the same).
                w.overflowed = True
                self.unsubscribe(w)
                w.queue = asyncio.Queue()
                w.queue.put_nowait(None)

    def events_after(self, revision: int, prefix: str) -> list[CacheEvent]:
        if revision < self.window_start:
            raise TooOld(revision, self.window_start)
        out = []
        for ev in reversed(self.history):
            if ev.revision <= revision:
                break
            if ev.entry.key.startswith(prefix):
                out.append(ev)
        out.reverse()
        return out


class WatchCache:
    """All resources' caches, fed by one watch on the whole ``/registry/`` prefix."""

    ROOT = "/registry/"

    def __init__(self, store: Store, prefixes: list[str], history_seconds: float = 300.0) -> None:
        self.store = store
        self.caches = {p: ResourceCache(p, history_seconds) for p in prefixes}
        self.revision = 0
        self._progress = asyncio.Condition()
        self._task: asyncio.Task | None = None
        self.ready = asyncio.Event()

    def cache_for(self, prefix: str) -> ResourceCache:
        return self.caches[prefix]

    async def start(self) -> None:
        await self._load()
        self._task = asyncio.create_task(self._run(), name="watchcache")
        self.ready.set()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def _load(self) -> None:
        start = None
        loaded: dict[str, dict[str, Entry]] = {p: {} for p in self.caches}
        after = None
        while True:
            res = await self.store.list(self.ROOT, revision=start, limit=10_000, start_after=after)
            start = res.revision
            for kv in res.items:
                cache = self._match(kv.key)
                if cache is not None:
                    loaded[cache.prefix][kv.key] = stamp(kv)
            if not res.more or not res.items:
                break
            after = res.items[-1].key
        for p, items in loaded.items():
            c = self.caches[p]
            c.items = items
            c._sorted_keys = None
            c.history.clear()
            c.window_start = start or 0
        self.revision = start or 0

    def _match(self, key: str) -> ResourceCache | None:
        # Keys are /registry/<group>/<plural>/...: the prefix is the first three segments.
        cut = key.find("/", key.find("/", 10) + 1)
        return self.caches.get(key[: cut + 1]) if cut > 0 else None

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                async for batch in self.store.watch(self.ROOT, self.revision):
                    self._dispatch(batch)
                    backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Compacted:
                log.warning("watch cache fell behind the store's compaction; reloading")
                await self._reload_and_notify()
            except Exception:
                log.exception("store watch failed; retrying")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _reload_and_notify(self) -> None:
        old = {p: dict(c.items) for p, c in self.caches.items()}
        watchers = {p: set(c.watchers) for p, c in self.caches.items()}
        await self._load()
        # Watchers cannot be told what they missed: end them so their clients re-list.
        for p, ws in watchers.items():
            for w in ws:
                w.queue.put_nowait(None)
            self.caches[p].unsubscribe_all()
        del old
        async with self._progress:
            self._progress.notify_all()

    def _dispatch(self, batch: list[Event]) -> None:
        now = time.monotonic()
        for ev in batch:
            cache = self._match(ev.kv.key)
            if cache is None:
                self.revision = max(self.revision, ev.revision)
                continue
            if ev.type == "DELETE":
                prev = cache.items.get(ev.kv.key)
                entry = stamp(ev.kv, ev.revision)
                cache.apply(CacheEvent("DELETED", entry, prev, ev.revision, now))
            else:
                prev = cache.items.get(ev.kv.key)
                entry = stamp(ev.kv)
                cache.apply(CacheEvent("MODIFIED" if prev is not None else "ADDED", entry, prev,
                                       ev.revision, now))
            self.revision = max(self.revision, ev.revision)
        if batch:
            self._notify()

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._progress:
                self._progress.notify_all()
        if self._progress._waiters:  # type: ignore[attr-defined]
            asyncio.ensure_future(notify())

    async def wait_for(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has seen ``revision``; False on timeout (upstream answers 504 then)."""
        if self.revision >= revision:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self._progress:
                    await self._progress.wait_for(lambda: self.revision >= revision)
            return True
        except TimeoutError:
            return False

    async def wait_fresh(self, timeout: float = 3.0) -> bool:
        """A consistent read: wait until the cache is at the store's current revision."""
        return await self.wait_for(await self.store.current_revision(), timeout)

"""In-process fan-out of committed event batches to watchers, shared by the memory and SQLite stores.

The store publishes each commit's events, in revision order, from the event loop. A watcher first
subscribes (which pins the revision it will receive live events after), replays older history from
the store up to that pinned revision, then follows the live queue: so there is neither a gap nor a
duplicate between history and live events. A subscriber whose queue grows past ``queue_limit``
events is ended with ``Compacted`` instead of buffering without bound (kine drops slow watchers the
same way); the API server answers that with 410 Gone and the client re-lists.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import AsyncIterator, Awaitable, Callable

from navarch.storage.interface import Compacted, Event

DEFAULT_QUEUE_LIMIT = 10_000

# replay(prefix, after_revision, up_to_revision) yields history batches in revision order.
Replay = Callable[[str, int, int], AsyncIterator[list[Event]]]


class Subscription:
    """One watcher's live queue: batches published after ``start_revision``, filtered by prefix."""

    def __init__(self, prefix: str, start_revision: int, queue_limit: int) -> None:
        self.prefix = prefix
        self.start_revision = start_revision
        self._queue_limit = queue_limit
        self._batches: deque[list[Event]] = deque()
        self._pending = 0
        self._wakeup = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False

    def offer(self, events: list[Event], latest_revision: int) -> bool:
        """Queue the matching events; returns False once this subscriber has been ended."""
        if self._closed:
            return False
        matching = [e for e in events if e.kv.key.startswith(self.prefix)] if self.prefix else events
        if not matching:
            return True
        self._pending += len(matching)
        if self._pending > self._queue_limit:
            # The watcher cannot keep up; end it so it re-lists rather than holding memory forever.
            self._batches.clear()
            self._end(Compacted(self._last_queued_revision(), latest_revision))
            return False
        self._batches.append(matching)
        self._wakeup.set()
        return True

    def _last_queued_revision(self) -> int:
        return self._batches[-1][-1].revision if self._batches else self.start_revision

    def _end(self, error: BaseException | None) -> None:
        self._closed = True
        self._error = error
        self._wakeup.set()

    def close(self) -> None:
        self._end(None)

    async def next_batch(self) -> list[Event] | None:
        """The next queued batch; None when the subscription ended cleanly; raises when ended by error."""
        while not self._batches:
            if self._closed:
                if self._error is not None:
                    raise self._error
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        batch = self._batches.popleft()
        self._pending -= len(batch)
        return batch


class Broadcaster:
    """Delivers each committed batch to every live subscription (called on the event loop only)."""

    def __init__(self, revision: int, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.revision = revision  # the last published revision
        self._queue_limit = queue_limit
        self._subscribers: set[Subscription] = set()

    def subscribe(self, prefix: str) -> Subscription:
        sub = Subscription(prefix, self.revision, self._queue_limit)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.close()

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        self.revision = events[-1].revision
        for sub in list(self._subscribers):
            if not sub.offer(events, self.revision):
                self._subscribers.discard(sub)

    def close(self) -> None:
        for sub in self._subscribers:
            sub.close()
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


async def watch(broadcaster: Broadcaster, prefix: str, after_revision: int,
                compacted_revision: Callable[[], Awaitable[int]], replay: Replay) -> AsyncIterator[list[Event]]:
    """The Store.watch algorithm: subscribe, replay history up to the pinned revision, then follow live.

    ``replay`` must itself raise Compacted if history it needs was compacted while it read.
    """
    sub = broadcaster.subscribe(prefix)
    try:
        compacted = await compacted_revision()
        if after_revision < compacted:
            raise Compacted(after_revision, compacted)
        last = after_revision
        if after_revision < sub.start_revision:
            async for batch in replay(prefix, after_revision, sub.start_revision):
                if batch:
                    last = batch[-1].revision
                    yield batch
        while True:
            batch = await sub.next_batch()
            if batch is None:
                return
            # The pinned revision may lie below after_revision (a watch from the future): skip seen ones.
            if batch[-1].revision <= last:
                continue
            if batch[0].revision <= last:
                batch = [e for e in batch if e.revision > last]
            last = batch[-1].revision
            yield batch
    finally:
        broadcaster.unsubscribe(sub)

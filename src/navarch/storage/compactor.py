"""Periodic compaction of old history, the way kube-apiserver compacts etcd every five minutes.

Every ``interval`` seconds the compactor notes the store's current revision with the time; it then
compacts to the newest noted revision that is at least ``retention`` seconds old. Watchers and
paginated lists within the retention window therefore never see Compacted because of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable

from navarch.storage.interface import Store

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0
DEFAULT_RETENTION = 300.0


class Compactor:
    def __init__(self, store: Store, *, interval: float = DEFAULT_INTERVAL,
                 retention: float = DEFAULT_RETENTION, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._interval = interval
        self._retention = retention
        self._clock = clock
        self._marks: deque[tuple[float, int]] = deque()  # (time, revision), oldest first
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> int | None:
        """Note the current revision and compact what fell out of the window; returns the new bound."""
        now = self._clock()
        self._marks.append((now, await self._store.current_revision()))
        target = None
        while self._marks and self._marks[0][0] <= now - self._retention:
            target = self._marks.popleft()[1]
        if target is None or target <= await self._store.compacted_revision():
            return None
        await self._store.compact(target)
        log.info("compacted store history up to revision %d", target)
        return target

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a failed round is retried next interval
                log.exception("store compaction failed")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-compactor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

"""Time as a dependency: queues, limiters, expectations and leases ask a ``Clock``, never the OS.

Tests pass a ``FakeClock`` and move time explicitly, so backoff of 1000 s or a 5-minute expiry is
tested in microseconds and without races against the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Guarantees: ``monotonic`` never goes backwards; ``sleep`` and ``call_later`` run on the
    current event loop; ``call_later`` callbacks are plain sync callables and must not block."""

    def now(self) -> datetime:
        """Wall time, timezone-aware UTC (for timestamps written into objects)."""
        ...

    def monotonic(self) -> float:
        """Seconds for measuring intervals (for deadlines and expiry)."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...


class RealClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback)


@dataclass(order=True)
class _Timer:
    when: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time moves only when a test calls ``advance``; due timers and sleepers fire in time order.

    Woken sleepers resume at the loop's next turns, so tests ``await asyncio.sleep(0)`` (or a small
    settle helper) after advancing before asserting on what those coroutines did.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._wall0 = start or datetime(2025, 1, 1, tzinfo=timezone.utc)
        self._elapsed = 0.0
        self._timers: list[_Timer] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            timer.cancel()

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self._elapsed + max(delay, 0.0), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, each at its own instant."""
        target = self._elapsed + seconds
        while self._timers and self._timers[0].when <= target:
            timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._elapsed = max(self._elapsed, timer.when)
            timer.callback()
        self._elapsed = target

    @property
    def pending_timers(self) -> int:
        """Timers (including sleepers) still waiting: lets tests wait until a coroutine is parked."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        live = [t.when for t in self._timers if not t.cancelled]
        return min(live) - self._elapsed if live else None

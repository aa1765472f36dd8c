"""The work queue every controller drains: keys, not events, so bursts collapse into one sync.

Rules (client-go's workqueue, which controllers' correctness leans on):
- a key added many times before a worker takes it is handed out once (``dirty`` set);
- a key is never handed to two workers at once: while it is being processed (``processing``), an
  ``add`` only marks it dirty, and ``done`` puts it back in the queue;
- ``add_after`` parks a key on a timer; parking it again keeps the earlier deadline;
- ``add_rate_limited`` parks it for the rate limiter's delay; ``forget`` resets its backoff once a
  sync succeeds;
- after ``shutdown`` new adds are dropped, timers are cancelled, and ``get`` raises ``ShutDown`` once
  the queue is empty, so workers finish what is queued and exit.

Everything but ``get`` is synchronous: event handlers (sync callables) enqueue without awaiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Hashable, TypeVar

from navarch.machinery.clock import Clock, RealClock, TimerHandle
from navarch.machinery.ratelimit import RateLimiter, default_controller_rate_limiter

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down and nothing is left to hand out: the worker should return."""


class WorkQueue(Generic[K]):
    def __init__(self, name: str = "", *, clock: Clock | None = None,
                 rate_limiter: RateLimiter | None = None) -> None:
        self.name = name
        self._clock = clock or RealClock()
        self._limiter = rate_limiter or default_controller_rate_limiter(self._clock)
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, tuple[float, TimerHandle]] = {}
        self._getters: deque[asyncio.Future[None]] = deque()
        self._shutting_down = False

    def __len__(self) -> int:
        """Keys ready to be handed out (not those being processed or parked on a timer)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # ``done`` re-queues it: never two workers on one key
        self._queue.append(key)
        self._wake_one()

    async def get(self) -> K:
        """The next key; the caller owns it until ``done(key)``. Raises ``ShutDown`` when drained."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # If we were woken and cancelled in the same turn, pass the wake-up on.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                raise
            finally:
                if fut in self._getters:
                    self._getters.remove(fut)
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.monotonic() + delay
        parked = self._waiting.get(key)
        if parked is not None:
            if parked[0] <= ready_at:
                return
            parked[1].cancel()
        handle = self._clock.call_later(delay, lambda: self._ready(key))
        self._waiting[key] = (ready_at, handle)

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)

    def shutdown(self) -> None:
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _ready(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def _wake_one(self) -> None:
        while self._getters:
            fut = self._getters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

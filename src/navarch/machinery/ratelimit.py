"""How long a work-queue key waits before it is retried.

Two limits combine, as client-go's DefaultControllerRateLimiter: per key, exponential backoff so one
failing object backs off to a slow poll without delaying others; overall, a token bucket so a burst
of failures (say, the API server restarting) cannot turn into a storm of retries.
"""

from __future__ import annotations

from typing import Hashable, Protocol

from navarch.machinery.clock import Clock, RealClock


class RateLimiter(Protocol):
    """``when`` records a failure and says how many seconds to wait; ``forget`` ends the key's
    failure history (call it when the key succeeds); ``num_requeues`` counts failures so far.
    All three are synchronous, cheap and never block."""

    def when(self, key: Hashable) -> float: ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    """``base * 2**failures``, capped: 5 ms, 10 ms, 20 ms ... up to 1000 s by default."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # Past 2**64 the float would overflow long after the cap applies; stop computing there.
        if failures > 64:
            return self.cap
        return float(min(self.base * (2 ** failures), self.cap))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter:
    """A token bucket over all keys (``qps`` refill, ``burst`` capacity), as golang.org/x/time/rate.

    Each ``when`` reserves one token; once the bucket is empty tokens go into debt, and the wait is
    the time until the debt is repaid, so callers are spread at ``qps`` rather than all woken at once.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock | None = None) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self.qps = qps
        self.burst = burst
        self._clock = clock or RealClock()
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    def when(self, key: Hashable) -> float:
        now = self._clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: Hashable) -> None:
        pass

    def num_requeues(self, key: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest wait any of the limiters asks for; every limiter records every failure."""

    def __init__(self, *limiters: RateLimiter) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: Hashable) -> float:
        return max([limiter.when(key) for limiter in self.limiters])

    def forget(self, key: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock | None = None) -> MaxOfRateLimiter:
    """Per-key 5 ms..1000 s exponential backoff, overall 10 qps with a burst of 100 (client-go's defaults)."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0),
                            BucketRateLimiter(10.0, 100, clock))

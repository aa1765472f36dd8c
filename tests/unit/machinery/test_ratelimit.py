import pytest

from navarch.machinery.clock import FakeClock
from navarch.machinery.ratelimit import (BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter,
                                         default_controller_rate_limiter)


def test_exponential_doubles_per_key_and_caps():
    rl = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [rl.when("a") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert rl.when("b") == 0.005  # keys are independent
    assert rl.num_requeues("a") == 4
    for _ in range(100):
        last = rl.when("a")
    assert last == 1000.0
    rl.forget("a")
    assert rl.num_requeues("a") == 0
    assert rl.when("a") == 0.005


def test_bucket_allows_burst_then_spreads_at_qps():
    clock = FakeClock()
    rl = BucketRateLimiter(qps=10, burst=3, clock=clock)
    assert [rl.when(i) for i in range(3)] == [0, 0, 0]
    assert rl.when(3) == pytest.approx(0.1)
    assert rl.when(4) == pytest.approx(0.2)  # debt accumulates: callers are spread out
    clock.advance(1.0)  # repays 10 tokens, capped at burst
    assert rl.when(5) == 0
    assert rl.num_requeues(5) == 0


@pytest.mark.parametrize("qps,burst", [(0, 1), (1, 0)], ids=["zero-qps", "zero-burst"])
def test_bucket_rejects_bad_parameters(qps, burst):
    with pytest.raises(ValueError):
        BucketRateLimiter(qps, burst, FakeClock())


def test_max_of_takes_longest_and_records_in_all():
    clock = FakeClock()
    rl = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(1.0, 100.0), BucketRateLimiter(1, 1, clock))
    assert rl.when("a") == 1.0  # exponential 1 s, bucket 0
    assert rl.when("a") == 2.0  # exponential 2 s, bucket 1 s
    assert rl.num_requeues("a") == 2
    rl.forget("a")
    assert rl.num_requeues("a") == 0


def test_default_controller_limiter_is_exponential_until_bucket_debt_dominates():
    clock = FakeClock()
    rl = default_controller_rate_limiter(clock)
    assert rl.when("x") == 0.005
    waits = [rl.when(f"k{i}") for i in range(120)]
    assert waits[0] == 0.005
    assert waits[-1] > 1.0  # 100 burst used up: ~20 over at 10 qps

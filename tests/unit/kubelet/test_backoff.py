"""CrashLoopBackOff timing on fake time (upstream flowcontrol.Backoff as the kubelet uses it)."""

from __future__ import annotations

import pytest

from navarch.kubelet.backoff import Backoff, CrashLoopBackOff, should_restart
from navarch.machinery.clock import FakeClock


@pytest.mark.parametrize(("policy", "code", "restart"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 2, True),
    ("Never", 0, False), ("Never", 1, False),
], ids=lambda v: str(v))
def test_should_restart(policy: str, code: int, restart: bool) -> None:
    assert should_restart(policy, code) is restart


def test_first_restart_is_immediate_then_10s_doubling_to_5min() -> None:
    clock = FakeClock()
    clb = CrashLoopBackOff(clock)
    key = CrashLoopBackOff.key("u", "c")
    assert clb.decide(key, clock.monotonic(), "c", "p_ns(u)").restart
    delays = []
    for _ in range(8):
        finished = clock.monotonic()  # crashed again at once
        held = clb.decide(key, finished, "c", "p_ns(u)")
        assert not held.restart
        delays.append(held.retry_in)
        clock.advance(held.retry_in - 1)
        assert not clb.decide(key, finished, "c", "p_ns(u)").restart
        clock.advance(1)
        assert clb.decide(key, finished, "c", "p_ns(u)").restart
    assert delays == [10, 20, 40, 80, 160, 300, 300, 300]


def test_message_names_the_backoff_container_and_pod() -> None:
    clock = FakeClock()
    clb = CrashLoopBackOff(clock)
    clb.decide("k", 0.0, "c", "p_ns(u)")
    held = clb.decide("k", 0.0, "c", "p_ns(u)")
    assert held.message == "back-off 10s restarting failed container=c pod=p_ns(u)"


def test_a_container_that_ran_ten_minutes_starts_over() -> None:
    clock = FakeClock()
    b = Backoff(clock, 10, 300)
    for _ in range(5):
        b.next("k", clock.monotonic())
    assert b.get("k") == 160
    clock.advance(601)
    assert not b.in_backoff_since("k", clock.monotonic())
    b.next("k", clock.monotonic())
    assert b.get("k") == 10


def test_gc_and_forget() -> None:
    clock = FakeClock()
    clb = CrashLoopBackOff(clock)
    clb.decide(CrashLoopBackOff.key("u1", "a"), 0.0, "a", "x")
    clb.decide(CrashLoopBackOff.key("u2", "a"), 0.0, "a", "x")
    clb.forget_pod("u1")
    assert len(clb.backoff) == 1
    clock.advance(601)
    clb.backoff.gc()
    assert len(clb.backoff) == 0

import asyncio
from datetime import timedelta

from navarch.machinery.clock import FakeClock, RealClock


async def test_fake_sleepers_wake_in_order_only_when_time_reaches_them():
    clock = FakeClock()
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.create_task(sleeper("late", 10)), asyncio.create_task(sleeper("early", 1))]
    await asyncio.sleep(0)
    assert clock.pending_timers == 2
    clock.advance(0.5)
    await asyncio.sleep(0)
    assert woke == []
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke == ["early", "late"]
    assert clock.monotonic() == 10.5


async def test_fake_wall_time_follows_monotonic():
    clock = FakeClock()
    start = clock.now()
    clock.advance(90)
    assert clock.now() - start == timedelta(seconds=90)


async def test_fake_timers_see_their_own_instant_and_cancel():
    clock = FakeClock()
    seen: list[float] = []
    clock.call_later(3, lambda: seen.append(clock.monotonic()))
    clock.call_later(1, lambda: seen.append(clock.monotonic()))
    handle = clock.call_later(2, lambda: seen.append(-1))
    handle.cancel()
    clock.advance(5)
    assert seen == [1, 3]


async def test_cancelled_fake_sleep_leaves_no_timer():
    clock = FakeClock()
    task = asyncio.create_task(clock.sleep(5))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert clock.pending_timers == 0


async def test_real_clock_is_utc_and_sleeps():
    clock = RealClock()
    assert clock.now().tzinfo is not None
    before = clock.monotonic()
    await clock.sleep(0)
    assert clock.monotonic() >= before

import asyncio

import pytest

from navarch.machinery.clock import FakeClock
from navarch.machinery.ratelimit import ItemExponentialFailureRateLimiter
from navarch.machinery.workqueue import ShutDown, WorkQueue


async def settle(turns: int = 10) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


def make_queue() -> tuple[WorkQueue[str], FakeClock]:
    clock = FakeClock()
    return WorkQueue("test", clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 60.0)), clock


async def test_repeated_adds_are_handed_out_once():
    q, _ = make_queue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0


async def test_key_added_while_processing_is_requeued_on_done_not_before():
    q, _ = make_queue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0  # never a second worker on "a" while the first holds it
    waiter = asyncio.create_task(q.get())
    await settle()
    assert not waiter.done()
    q.done(key)
    assert await asyncio.wait_for(waiter, 1) == "a"
    q.done("a")
    assert len(q) == 0


async def test_done_without_dirty_does_not_requeue():
    q, _ = make_queue()
    q.add("a")
    q.done(await q.get())
    assert len(q) == 0


async def test_waiting_getters_are_woken_one_per_key():
    q, _ = make_queue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.add("x")
    q.add("y")
    await settle()
    done = [g for g in getters if g.done()]
    assert sorted(g.result() for g in done) == ["x", "y"]
    q.shutdown()
    await settle()
    remaining = [g for g in getters if g not in done]
    with pytest.raises(ShutDown):
        await remaining[0]


async def test_cancelled_getter_does_not_swallow_a_key():
    q, _ = make_queue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await settle()
    q.add("a")  # wakes ``first``...
    first.cancel()  # ...which is cancelled before it runs: ``second`` must get the key
    await settle()
    assert second.done() and second.result() == "a"


async def test_add_after_fires_on_the_clock_and_keeps_the_earliest_deadline():
    q, clock = make_queue()
    q.add_after("a", 10)
    q.add_after("a", 20)  # later: ignored
    q.add_after("b", 5)
    q.add_after("b", 2)  # earlier: replaces
    clock.advance(2)
    assert len(q) == 1 and await q.get() == "b"
    clock.advance(7.9)
    assert len(q) == 0
    clock.advance(0.1)
    assert await q.get() == "a"


async def test_add_after_with_no_delay_adds_now():
    q, _ = make_queue()
    q.add_after("a", 0)
    assert len(q) == 1


async def test_rate_limited_backoff_grows_until_forget():
    q, clock = make_queue()
    delays = []
    for _ in range(3):
        q.add_rate_limited("a")
        start = clock.monotonic()
        while not len(q):
            clock.advance(0.25)
        delays.append(clock.monotonic() - start)
        q.done(await q.get())
    assert delays == [1.0, 2.0, 4.0]
    assert q.num_requeues("a") == 3
    q.forget("a")
    assert q.num_requeues("a") == 0


async def test_shutdown_drains_then_raises_and_drops_new_work():
    q, clock = make_queue()
    q.add("a")
    q.add_after("late", 1)
    q.shutdown()
    q.add("b")
    clock.advance(5)
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()
    assert q.shutting_down


async def test_workers_never_process_one_key_concurrently():
    q, _ = make_queue()
    active: set[str] = set()
    overlaps = []
    processed = []

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            q.add(key) if len(processed) < 20 else None  # dirty it while in flight
            await asyncio.sleep(0)
            active.discard(key)
            processed.append(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for k in ["a", "b", "a", "c", "a"]:
        q.add(k)
    for _ in range(200):
        await asyncio.sleep(0)
    q.shutdown()
    await asyncio.gather(*workers)
    assert overlaps == []
    assert len(processed) > 20

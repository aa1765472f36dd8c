import asyncio

from navarch.machinery.clock import FakeClock
from navarch.scheduler.framework.types import ASSIGNED_POD_DELETE, NODE_ADD, ActionType, ClusterEvent, PodInfo
from navarch.scheduler.plugins.queuesort import PrioritySort
from navarch.scheduler.queue import SchedulingQueue
from tests.unit.scheduler.builders import make_pod

EVENTS = {"NodeResourcesFit": [ClusterEvent("Pod", ActionType.DELETE), ClusterEvent("Node", ActionType.ADD)],
          "TaintToleration": [ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT)]}


def new_queue():
    clock = FakeClock()
    return clock, SchedulingQueue(PrioritySort().less, clock=clock, events=EVENTS)


async def pop_now(q):
    return await asyncio.wait_for(q.pop(), 1)


async def test_priority_then_fifo():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("low1", priority=1)))
    clock.advance(1)
    q.add(PodInfo(make_pod("high", priority=10)))
    clock.advance(1)
    q.add(PodInfo(make_pod("low0", priority=1)))
    order = [(await pop_now(q)).pod_info.name for _ in range(3)]
    assert order == ["high", "low1", "low0"]


async def test_unschedulable_moves_only_on_registered_event():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    qpi.unschedulable_plugins = {"TaintToleration"}
    q.add_unschedulable(qpi, q.scheduling_cycle)
    assert q.pending()["unschedulable"] == ["default/p"]
    assert q.move_all_to_active_or_backoff(NODE_ADD) == 0
    assert q.move_all_to_active_or_backoff(ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT)) == 1
    # Still within its 1 s backoff: parked in backoffQ, then active after the flush.
    assert q.pending()["backoff"] == ["default/p"]
    clock.advance(1.0)
    assert q.flush_backoff_completed() == 1
    assert (await pop_now(q)).attempts == 2


async def test_event_during_attempt_sends_pod_to_backoff():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    cycle = q.scheduling_cycle
    q.move_all_to_active_or_backoff(ASSIGNED_POD_DELETE)
    qpi.unschedulable_plugins = {"TaintToleration"}
    q.add_unschedulable(qpi, cycle)
    assert q.pending()["backoff"] == ["default/p"]


async def test_backoff_doubles_to_max():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    durations = []
    for attempts in range(1, 7):
        qpi.attempts = attempts
        durations.append(q.backoff_duration(qpi))
    assert durations == [1, 2, 4, 8, 10, 10]


async def test_leftover_unschedulable_flushed_after_five_minutes():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    qpi.unschedulable_plugins = {"TaintToleration"}
    q.add_unschedulable(qpi, q.scheduling_cycle)
    clock.advance(299)
    assert q.flush_unschedulable_leftover() == 0
    clock.advance(2)
    assert q.flush_unschedulable_leftover() == 1
    assert q.pending()["active"] == ["default/p"]


async def test_update_and_delete():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    qpi.unschedulable_plugins = {"TaintToleration"}
    q.add_unschedulable(qpi, q.scheduling_cycle)
    q.update(PodInfo(make_pod("p", labels={"x": "y"})), spec_changed=False)
    assert q.pending()["unschedulable"] == ["default/p"]
    clock.advance(5)
    q.update(PodInfo(make_pod("p", spec={"tolerations": [{"operator": "Exists"}]})))
    assert q.pending()["active"] == ["default/p"]
    q.delete("default/p")
    assert len(q) == 0


async def test_pop_waits_for_add():
    clock, q = new_queue()
    waiter = asyncio.create_task(q.pop())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add(PodInfo(make_pod("p")))
    assert (await asyncio.wait_for(waiter, 1)).pod_info.name == "p"


async def test_run_flushes_backoff_on_fake_time():
    clock, q = new_queue()
    q.add(PodInfo(make_pod("p")))
    qpi = await pop_now(q)
    q.add_unschedulable(qpi, q.scheduling_cycle, error=True)
    runner = asyncio.create_task(q.run())
    try:
        await asyncio.sleep(0)
        clock.advance(1.0)
        assert (await pop_now(q)).pod_info.name == "p"
    finally:
        q.close()
        runner.cancel()

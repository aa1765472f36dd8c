import asyncio
from typing import Any, Callable

import aiohttp
import pytest

from navarch.api.resources import REGISTRY
from navarch.machinery.cache import DeletedFinalStateUnknown
from navarch.machinery.clock import FakeClock
from navarch.machinery.informer import Informer
from navarch.machinery.reflector import ReflectorOptions
from tests.unit.machinery.fakes import ScriptedClient, bookmark, event, gone, list_result, obj

CONFIGMAPS = REGISTRY.get("", "v1", "configmaps")


class Recorder:
    """Handlers that log what they were told, as (kind, name[, rv])."""

    def __init__(self) -> None:
        self.log: list[tuple[str, ...]] = []

    def add(self, o: Any) -> None:
        self.log.append(("add", o["metadata"]["name"], o["metadata"]["resourceVersion"]))

    def update(self, old: Any, new: Any) -> None:
        self.log.append(("update", new["metadata"]["name"], new["metadata"]["resourceVersion"]))

    def delete(self, o: Any) -> None:
        kind = "tombstone" if isinstance(o, DeletedFinalStateUnknown) else "delete"
        self.log.append((kind, o["metadata"]["name"]))


def make(client: ScriptedClient, resync: float = 0.0) -> tuple[Informer, Recorder, FakeClock]:
    clock = FakeClock()
    inf = Informer(client, CONFIGMAPS, resync=resync, clock=clock,  # type: ignore[arg-type]
                   options=ReflectorOptions(backoff_initial=1.0, backoff_max=4.0))
    rec = Recorder()
    inf.add_event_handler(rec.add, rec.update, rec.delete)
    return inf, rec, clock


async def run_until(clock: FakeClock, cond: Callable[[], bool], step: float = 1.0, limit: int = 200) -> None:
    for _ in range(limit):
        for _ in range(20):
            await asyncio.sleep(0)
        if cond():
            return
        clock.advance(step)
    raise AssertionError("condition never became true")


async def test_lists_then_watches_from_the_list_version_in_order():
    c = ScriptedClient()
    c.lists.append(list_result(10, obj("a", 5), obj("b", 6)))
    c.watches.append([event("ADDED", obj("c", 11)), event("MODIFIED", obj("a", 12)),
                      event("DELETED", obj("b", 13)), bookmark(20)])
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.watch_calls) == 2)
        assert inf.has_synced()
        assert c.list_calls == ["0"]  # first list: any recent state, from the watch cache
        assert c.watch_calls == ["10", "20"]  # resumes after a normal end from the bookmark
        assert rec.log == [("add", "a", "5"), ("add", "b", "6"), ("add", "c", "11"), ("update", "a", "12"),
                           ("delete", "b")]
        assert sorted(inf.indexer.list_keys()) == ["default/a", "default/c"]
        assert inf.last_sync_resource_version == "20"
    finally:
        await inf.stop()


async def test_gone_relists_and_diffs_into_tombstones_updates_and_adds():
    c = ScriptedClient()
    c.lists.append(list_result(10, obj("a", 5), obj("b", 6)))
    c.watches.append([event("MODIFIED", obj("a", 11)), gone()])
    c.lists.append(list_result(30, obj("a", 25), obj("c", 26)))
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.watch_calls) == 2)
        assert c.list_calls == ["0", "11"]  # re-list not older than what was seen
        assert c.watch_calls == ["10", "30"]
        assert rec.log[2:] == [("update", "a", "11"), ("tombstone", "b"), ("update", "a", "25"), ("add", "c", "26")]
    finally:
        await inf.stop()


async def test_list_gone_falls_back_to_a_consistent_read():
    c = ScriptedClient()
    c.lists.append(list_result(10, obj("a", 5)))
    c.watches.append(gone())
    c.lists.append(gone())
    c.lists.append(list_result(40, obj("a", 5)))
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.watch_calls) == 2)
        assert c.list_calls == ["0", "10", ""]
        assert c.watch_calls == ["10", "40"]
        assert rec.log == [("add", "a", "5"), ("update", "a", "5")]  # a relist re-delivers as updates
    finally:
        await inf.stop()


async def test_broken_connection_resumes_the_watch_without_relisting():
    c = ScriptedClient()
    c.lists.append(list_result(10))
    c.watches.append([event("ADDED", obj("a", 11)), aiohttp.ServerDisconnectedError()])
    c.watches.append(aiohttp.ClientConnectionError("refused"))
    c.watches.append([event("ADDED", obj("b", 12))])
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.watch_calls) == 4)
        assert c.list_calls == ["0"]
        assert c.watch_calls == ["10", "11", "11", "12"]
        assert [e[1] for e in rec.log] == ["a", "b"]
    finally:
        await inf.stop()


async def test_failed_list_is_retried_and_sync_waits_for_it():
    c = ScriptedClient()
    c.lists.append(aiohttp.ClientConnectionError("refused"))
    c.lists.append(list_result(3, obj("a", 2)))
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: bool(c.list_calls))
        assert not inf.has_synced()
        await run_until(clock, inf.has_synced)
        await asyncio.wait_for(inf.wait_synced(), 1)
        assert c.list_calls == ["0", "0"]
    finally:
        await inf.stop()


async def test_empty_immediate_watch_end_counts_as_failure_and_relists():
    c = ScriptedClient()
    c.lists.append(list_result(3))
    c.watches.append([])
    c.lists.append(list_result(4))
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.list_calls) == 2)
        assert c.list_calls == ["0", "3"]
    finally:
        await inf.stop()


async def test_resync_redelivers_every_object_as_an_update():
    c = ScriptedClient()
    c.lists.append(list_result(3, obj("a", 2), obj("b", 3)))
    inf, rec, clock = make(c, resync=30)
    inf.start()
    try:
        await run_until(clock, inf.has_synced, step=0.0)
        clock.advance(29)
        await asyncio.sleep(0)
        assert len(rec.log) == 2
        await run_until(clock, lambda: len(rec.log) == 4)
        assert sorted(rec.log[2:]) == [("update", "a", "2"), ("update", "b", "3")]
    finally:
        await inf.stop()


async def test_late_handler_gets_existing_objects_and_a_failing_handler_is_contained():
    c = ScriptedClient()
    c.lists.append(list_result(3, obj("a", 2)))
    c.watches.append([event("ADDED", obj("b", 4))])
    inf, rec, clock = make(c)

    def broken(o: Any) -> None:
        raise RuntimeError("boom")

    inf.add_event_handler(on_add=broken)
    inf.start()
    try:
        await run_until(clock, lambda: len(c.watch_calls) == 2)
        late = Recorder()
        handle = inf.add_event_handler(late.add)
        assert sorted(late.log) == [("add", "a", "2"), ("add", "b", "4")]
        assert [e[1] for e in rec.log] == ["a", "b"]
        inf.remove_event_handler(handle)
    finally:
        await inf.stop()


async def test_list_items_get_their_type_filled_in():
    c = ScriptedClient()
    bare = {"metadata": {"name": "a", "namespace": "default", "resourceVersion": "1"}}
    c.lists.append({"metadata": {"resourceVersion": "1"}, "items": [bare]})
    inf, rec, clock = make(c)
    inf.start()
    try:
        await run_until(clock, inf.has_synced, step=0.0)
        cached = inf.indexer.get("default/a")
        assert cached["kind"] == "ConfigMap" and cached["apiVersion"] == "v1"
    finally:
        await inf.stop()


@pytest.mark.parametrize("twice", [False, True], ids=["once", "twice"])
async def test_stop_is_clean_and_idempotent(twice):
    c = ScriptedClient()
    inf, _, _ = make(c)
    inf.start()
    await asyncio.sleep(0)
    await inf.stop()
    if twice:
        await inf.stop()
    assert not inf.started

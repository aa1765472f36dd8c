import asyncio
from typing import Any

import pytest

from navarch.client.errors import ApiError
from navarch.client.watch import WatchEvent
from navarch.kubelet.objectcache import ObjectCache


class FakeClient:
    """Lists from ``objects``; each watch replays what ``push`` sends it."""

    def __init__(self, objects: dict[tuple[str, str], dict[str, Any]] | None = None,
                 refuse: ApiError | None = None) -> None:
        self.objects = objects or {}
        self.refuse = refuse
        self.lists: list[tuple[str, str, str | None]] = []
        self.queues: list[asyncio.Queue] = []

    async def list(self, resource: str, namespace: str, *, field_selector: str | None = None) -> dict[str, Any]:
        self.lists.append((resource, namespace, field_selector))
        if self.refuse is not None:
            raise self.refuse
        name = (field_selector or "").split("=", 1)[1]
        obj = self.objects.get((namespace, name))
        return {"metadata": {"resourceVersion": "5"}, "items": [obj] if obj else []}

    async def watch(self, resource: str, namespace: str, *, resource_version: str, field_selector: str):
        q: asyncio.Queue = asyncio.Queue()
        self.queues.append(q)
        while True:
            yield await q.get()

    def push(self, type_: str, obj: dict[str, Any]) -> None:
        for q in self.queues:
            q.put_nowait(WatchEvent(type_, obj))


def cm(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "data": {"k": value}}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_reads_after_the_first_come_from_the_watch_and_follow_changes() -> None:
    client = FakeClient({("ns", "a"): cm("a", "1")})
    cache = ObjectCache(client)
    assert (await cache.get("configmaps", "ns", "a"))["data"] == {"k": "1"}
    assert (await cache.get("configmaps", "ns", "a"))["data"] == {"k": "1"}
    assert client.lists == [("configmaps", "ns", "metadata.name=a")]
    await settle()
    client.push("MODIFIED", cm("a", "2"))
    await settle()
    assert (await cache.get("configmaps", "ns", "a"))["data"] == {"k": "2"}
    client.push("DELETED", cm("a", "2"))
    await settle()
    assert await cache.get("configmaps", "ns", "a") is None
    await cache.close()


async def test_a_missing_object_is_none_until_it_appears() -> None:
    client = FakeClient()
    cache = ObjectCache(client)
    assert await cache.get("secrets", "ns", "s") is None
    await settle()
    client.push("ADDED", cm("s", "x"))
    await settle()
    assert (await cache.get("secrets", "ns", "s"))["data"] == {"k": "x"}
    await cache.close()


async def test_a_refused_list_is_the_readers_error_and_the_next_read_asks_again() -> None:
    denied = ApiError({"code": 403, "reason": "Forbidden", "message": "no relationship found"})
    client = FakeClient(refuse=denied)
    cache = ObjectCache(client)
    with pytest.raises(ApiError) as e:
        await cache.get("secrets", "ns", "s")
    assert e.value.code == 403
    client.refuse = None
    client.objects[("ns", "s")] = cm("s", "y")
    assert (await cache.get("secrets", "ns", "s"))["data"] == {"k": "y"}
    assert len(client.lists) == 2
    await cache.close()


async def test_idle_objects_stop_being_watched() -> None:
    client = FakeClient({("ns", "a"): cm("a", "1"), ("ns", "b"): cm("b", "1")})
    cache = ObjectCache(client, idle_seconds=0.0)
    await cache.get("configmaps", "ns", "a")
    await asyncio.sleep(0.01)
    await cache.get("configmaps", "ns", "b")  # a read sweeps the idle ones
    assert ("configmaps", "ns", "a") not in cache._entries
    await cache.get("configmaps", "ns", "a")
    assert [sel for _, _, sel in client.lists].count("metadata.name=a") == 2
    await cache.close()

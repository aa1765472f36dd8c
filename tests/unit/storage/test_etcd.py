"""EtcdStore pieces that need no server, and failover against a real 3-member cluster (slow)."""

from __future__ import annotations

import asyncio

import pytest

from navarch.storage.etcd import EtcdStore, grpc_target, range_end
from tests import etcd_cluster


@pytest.mark.parametrize("prefix,end", [(b"/a/", b"/a0"), (b"a\xff", b"b"), (b"\xff\xff", b"\x00"), (b"", b"\x00")],
                         ids=["plain", "carry", "all-ff", "empty"])
def test_range_end(prefix: bytes, end: bytes) -> None:
    assert range_end(prefix) == end


@pytest.mark.parametrize("endpoint,target", [
    ("http://127.0.0.1:2379", ("127.0.0.1:2379", False)),
    ("https://etcd.example:4001", ("etcd.example:4001", True)),
    ("10.0.0.1:2379", ("10.0.0.1:2379", False)),
], ids=["http", "https", "bare"])
def test_grpc_target(endpoint: str, target: tuple[str, bool]) -> None:
    assert grpc_target(endpoint) == target


@pytest.mark.slow
@pytest.mark.etcd
async def test_failover_when_a_member_goes_down() -> None:
    if not etcd_cluster.etcd_available():
        pytest.skip("etcd binary not found")
    cluster = await asyncio.to_thread(etcd_cluster.EtcdCluster(size=3).start)
    store = EtcdStore(cluster.endpoints)
    try:
        await store.start()
        start = await store.current_revision()
        watch = store.watch("/k/", start)
        a = await store.create("/k/a", b"1")
        assert (await anext(watch))[0].kv == a
        await asyncio.to_thread(cluster.stop_member, 0)  # the endpoint the store talks to
        b = await store.create("/k/b", b"1")
        assert await store.get("/k/a") == a
        async with asyncio.timeout(20):
            events = await anext(watch)
        assert [e.kv for e in events] == [b]
        await watch.aclose()
    finally:
        await store.close()
        await asyncio.to_thread(cluster.stop)

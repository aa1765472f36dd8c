"""The client and the machinery against real ``navarch server`` processes."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest

from navarch.client.errors import ApiError, is_already_exists, is_conflict, is_not_found
from navarch.client.rest import Client
from navarch.machinery.cache import DeletedFinalStateUnknown
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.leaderelection import LeaderElectionConfig, LeaderElector
from navarch.machinery.reflector import ReflectorOptions
from tests.navarch_process import NavarchServer, free_port, remove_tree

FAST = ReflectorOptions(backoff_initial=0.1, backoff_max=0.5)


@pytest.fixture
async def client(server: NavarchServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(server.kubeconfig), user_agent="navarch-machinery-test") as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"mach-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    return name


def cm(name: str, ns: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns,
                                                                  "labels": {"app": "t"}}, "data": data}


async def eventually(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.05)


class Log:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str]] = []

    def add(self, o: Any) -> None:
        self.entries.append(("add", o["metadata"]["name"], o["metadata"].get("resourceVersion", "")))

    def update(self, old: Any, new: Any) -> None:
        if old["metadata"]["resourceVersion"] != new["metadata"]["resourceVersion"]:
            self.entries.append(("update", new["metadata"]["name"], new["metadata"]["resourceVersion"]))

    def delete(self, o: Any) -> None:
        kind = "tombstone" if isinstance(o, DeletedFinalStateUnknown) else "delete"
        self.entries.append((kind, o["metadata"]["name"], ""))


async def test_client_crud_and_errors(client: Client, ns: str) -> None:
    created = await client.create("configmaps", cm("a", ns, k="1"))
    assert created["metadata"]["uid"] and created["metadata"]["resourceVersion"]
    with pytest.raises(ApiError) as e:
        await client.create("configmaps", cm("a", ns))
    assert is_already_exists(e.value)

    got = await client.get("configmaps", "a", ns)
    assert got["data"] == {"k": "1"}
    updated = await client.update("configmaps", {**got, "data": {"k": "2"}})
    with pytest.raises(ApiError) as e:
        await client.update("configmaps", {**got, "data": {"k": "stale"}})  # old resourceVersion
    assert is_conflict(e.value)
    assert updated["data"] == {"k": "2"}

    patched = await client.patch("configmaps", "a", {"data": {"m": "merge"}}, "merge", ns)
    patched = await client.patch("configmaps", "a", [{"op": "add", "path": "/data/j", "value": "json"}], "json", ns)
    patched = await client.patch("configmaps", "a", {"metadata": {"labels": {"s": "smp"}}}, "strategic", ns)
    assert patched["data"] == {"k": "2", "m": "merge", "j": "json"}
    assert patched["metadata"]["labels"] == {"app": "t", "s": "smp"}

    for i in range(5):
        await client.create("configmaps", cm(f"page-{i}", ns))
    page = await client.list("configmaps", ns, limit=2, label_selector="app=t")
    assert len(page["items"]) == 2 and page["metadata"].get("continue")
    everything = await client.list_all("configmaps", ns, label_selector="app=t", page_size=2)
    assert sorted(i["metadata"]["name"] for i in everything["items"]) == ["a"] + [f"page-{i}" for i in range(5)]
    assert "continue" not in everything["metadata"]

    await client.delete_collection("configmaps", ns, label_selector="app=t")
    with pytest.raises(ApiError) as e:
        await client.get("configmaps", "a", ns)
    assert is_not_found(e.value)
    with pytest.raises(ApiError) as e:
        await client.delete("configmaps", "a", ns)
    assert is_not_found(e.value)
    version = await client.get_raw("/version")
    assert b"gitVersion" in version


async def test_watch_from_a_version_replays_and_bookmarks(client: Client, ns: str) -> None:
    start = (await client.list("configmaps", ns))["metadata"]["resourceVersion"]
    await client.create("configmaps", cm("w", ns))
    await client.delete("configmaps", "w", ns)
    seen = []
    async for ev in client.watch("configmaps", ns, resource_version=start, timeout_seconds=1):
        seen.append(ev.type)
    assert seen[:2] == ["ADDED", "DELETED"]
    assert seen[-1] == "BOOKMARK"


async def test_informer_lists_watches_and_delivers_in_order(client: Client, ns: str) -> None:
    await client.create("configmaps", cm("before", ns))
    factory = SharedInformerFactory(client, namespace=ns, options=FAST)
    informer = factory.informer("configmaps")
    log = Log()
    informer.add_event_handler(log.add, log.update, log.delete)
    lister = factory.lister("configmaps")
    factory.start()
    try:
        assert await factory.wait_for_cache_sync(timeout=10)
        assert [e[:2] for e in log.entries] == [("add", "before")]
        a = await client.create("configmaps", cm("a", ns, v="1"))
        a2 = await client.patch("configmaps", "a", {"data": {"v": "2"}}, "merge", ns)
        await client.delete("configmaps", "a", ns)
        await eventually(lambda: len(log.entries) == 4)
        assert log.entries[1:] == [("add", "a", a["metadata"]["resourceVersion"]),
                                   ("update", "a", a2["metadata"]["resourceVersion"]), ("delete", "a", "")]
        assert lister.get(ns, "a") is None
        assert [o["metadata"]["name"] for o in lister.list(ns, "app=t")] == ["before"]
        assert lister.get(ns, "before")["kind"] == "ConfigMap"
    finally:
        await factory.stop()


@pytest.fixture
def own_server() -> Any:
    """A server this test may stop and restart; the watch cache keeps almost no history, so a watch
    resumed after changes it did not see must be answered 410 and the informer must re-list."""
    root = Path(tempfile.mkdtemp(prefix="navarch-mach-"))
    srv = NavarchServer(root / "data", free_port(), args=["--watch-cache-history", "0.001"])
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        remove_tree(root)


async def test_informer_relists_after_the_server_restarts(own_server: NavarchServer) -> None:
    async with Client.from_kubeconfig(str(own_server.kubeconfig)) as client:
        ns = "relist"
        await client.create("namespaces", {"metadata": {"name": ns}})
        for name in ["keep", "gone", "changed"]:
            await client.create("configmaps", cm(name, ns))
        factory = SharedInformerFactory(client, namespace=ns, options=FAST)
        # Only the test's own ConfigMaps: the restarted server's root-CA publisher adds
        # kube-root-ca.crt to the namespace at a moment of its own, which raced the assertions.
        informer = factory.informer("configmaps", label_selector="app=t")
        log = Log()
        informer.add_event_handler(log.add, log.update, log.delete)
        factory.start()
        try:
            assert await factory.wait_for_cache_sync(timeout=10)
            synced_rv = informer.last_sync_resource_version
            await asyncio.to_thread(own_server.stop)
            # Change the store behind the informer's back: the same data dir served on another port.
            other = NavarchServer(own_server.data_dir, free_port())
            await asyncio.to_thread(other.start)
            try:
                async with Client.from_kubeconfig(str(other.kubeconfig)) as side:
                    await side.delete("configmaps", "gone", ns)
                    await side.patch("configmaps", "changed", {"data": {"x": "1"}}, "merge", ns)
                    await side.create("configmaps", cm("new", ns))
            finally:
                await asyncio.to_thread(other.stop)
            await asyncio.to_thread(own_server.start)
            await eventually(lambda: len(log.entries) >= 6, timeout=30)
            assert log.entries[3:] == [
                ("tombstone", "gone", ""),  # its delete happened while nobody watched
                ("update", "changed", informer.indexer.get(f"{ns}/changed")["metadata"]["resourceVersion"]),
                ("add", "new", informer.indexer.get(f"{ns}/new")["metadata"]["resourceVersion"]),
            ]
            assert int(informer.last_sync_resource_version) > int(synced_rv)
            assert sorted(informer.indexer.list_keys()) == [f"{ns}/changed", f"{ns}/keep", f"{ns}/new"]
            # And the informer keeps watching after the relist.
            await client.create("configmaps", cm("after", ns))
            await eventually(lambda: log.entries[-1][:2] == ("add", "after"))
        finally:
            await factory.stop()


async def test_leader_election_two_contenders(client: Client, ns: str) -> None:
    def elector(identity: str) -> LeaderElector:
        cfg = LeaderElectionConfig("test-lock", ns, identity, lease_duration=3, renew_deadline=2, retry_period=0.3)
        return LeaderElector(client, cfg)

    leading: set[str] = set()
    overlap: list[set[str]] = []

    def work(identity: str) -> Callable[[], Any]:
        async def run() -> None:
            leading.add(identity)
            if len(leading) > 1:
                overlap.append(set(leading))
            try:
                await asyncio.Event().wait()
            finally:
                leading.discard(identity)
        return run

    a, b = elector("a"), elector("b")
    tasks = {"a": asyncio.create_task(a.run(work("a"))), "b": asyncio.create_task(b.run(work("b")))}
    try:
        await eventually(lambda: len(leading) == 1)
        await asyncio.sleep(1.5)  # several renewals: still exactly one leader
        assert len(leading) == 1 and overlap == []
        first = next(iter(leading))
        second = "b" if first == "a" else "a"
        lease = await client.get("coordination.k8s.io/v1/leases", "test-lock", ns)
        assert lease["spec"]["holderIdentity"] == first
        tasks[first].cancel()  # a clean stop releases the lease
        await asyncio.gather(tasks[first], return_exceptions=True)
        await eventually(lambda: leading == {second}, timeout=10)
        lease = await client.get("coordination.k8s.io/v1/leases", "test-lock", ns)
        assert lease["spec"]["holderIdentity"] == second
        assert lease["spec"]["leaseTransitions"] == 1
        assert overlap == []
    finally:
        for t in tasks.values():
            t.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


async def test_event_recorder_writes_and_aggregates(client: Client, ns: str) -> None:
    obj = await client.create("configmaps", cm("subject", ns))
    recorder = EventRecorder(client, "machinery-test", "host-1")
    recorder.event(obj, "Normal", "Tested", "first time")
    recorder.event(obj, "Normal", "Tested", "first time")
    recorder.event(obj, "Warning", "Odd", "something else")
    await recorder.flush()
    await recorder.stop()
    events = (await client.list("events", ns))["items"]
    by_reason = {e["reason"]: e for e in events}
    assert sorted(by_reason) == ["Odd", "Tested"] and len(events) == 2
    tested = by_reason["Tested"]
    assert tested["count"] == 2 and tested["type"] == "Normal" and tested["message"] == "first time"
    assert tested["involvedObject"]["uid"] == obj["metadata"]["uid"]
    assert tested["involvedObject"]["kind"] == "ConfigMap"
    assert tested["source"] == {"component": "machinery-test", "host": "host-1"}
    assert by_reason["Odd"]["count"] == 1 and by_reason["Odd"]["type"] == "Warning"

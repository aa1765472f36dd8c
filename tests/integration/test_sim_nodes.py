"""Simulated nodes against a real navarch server: registration, Leases, pods, deletion, pausing, scale.

The server is this module's own: the nodes registered here must not attract other suites' pods.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import pytest

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.kubelet.runtimes.simulated import EXIT_CODE, RUN_SECONDS
from navarch.kubelet.simnodes import SimNodes, SimNodesConfig
from tests.navarch_process import NavarchServer, free_port, remove_tree

DEADLINE = 20.0


@pytest.fixture(scope="module")
def sim_server() -> Iterator[NavarchServer]:
    root = Path(tempfile.mkdtemp(prefix="navarch-sim-"))
    srv = NavarchServer(root / "data", free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        remove_tree(root)


@pytest.fixture
async def client(sim_server: NavarchServer) -> AsyncIterator[Client]:
    async with Client.from_kubeconfig(str(sim_server.kubeconfig)) as c:
        yield c


@pytest.fixture
async def sim(client: Client) -> AsyncIterator[SimNodes]:
    cfg = SimNodesConfig(count=3, name_prefix=f"sim-{uuid.uuid4().hex[:5]}-", lease_renew_interval=0.5,
                         node_status_update_frequency=1.0)
    nodes = SimNodes(client, cfg)
    task = asyncio.create_task(nodes.run())
    try:
        assert await nodes.wait_registered(DEADLINE)
        yield nodes
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy, or fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await check()
        except ApiError as e:
            last = e
        else:
            if last:
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout}s (last: {last!r})")


def pod(name: str, node: str, annotations: dict[str, str] | None = None, restart: str = "Always") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"nodeName": node, "restartPolicy": restart, "terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "c", "image": "busybox:1.36"}]}}


async def renew_time(client: Client, node: str) -> str:
    return (await client.get("leases", node, "kube-node-lease"))["spec"]["renewTime"]


async def test_nodes_register_ready_with_capacity_and_leases_renew(client: Client, sim: SimNodes) -> None:
    cidrs = set()
    for name in sim.names:
        async def ready(name: str = name) -> Any:
            node = await client.get("nodes", name)
            conds = {c["type"]: c for c in (node.get("status") or {}).get("conditions") or []}
            return node if conds.get("Ready", {}).get("status") == "True" else None
        node = await eventually(ready, f"node {name} Ready")
        assert node["status"]["capacity"]["cpu"] == "4" and node["status"]["allocatable"]["pods"] == "110"
        assert {c["type"]: c["reason"] for c in node["status"]["conditions"]}["Ready"] == "KubeletReady"
        assert node["metadata"]["labels"]["kubernetes.io/hostname"] == name
        cidrs.add(node["spec"]["podCIDR"])
        lease = await eventually(lambda name=name: client.get("leases", name, "kube-node-lease"), f"lease of {name}")
        assert lease["spec"]["holderIdentity"] == name and lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
        first = lease["spec"]["renewTime"]

        async def renewed(name: str = name, first: str = first) -> bool:
            return await renew_time(client, name) != first
        await eventually(renewed, f"lease of {name} renewed")
    assert len(cidrs) == 3


async def test_pod_runs_with_an_ip_from_its_node_cidr(client: Client, sim: SimNodes) -> None:
    node_name = sim.names[1]
    name = f"run-{uuid.uuid4().hex[:6]}"
    await client.create("pods", pod(name, node_name), "default")

    async def running() -> Any:
        p = await client.get("pods", name, "default")
        return p if p["status"].get("phase") == "Running" and p["status"].get("podIP") else None
    p = await eventually(running, "pod Running")
    node = await client.get("nodes", node_name)
    assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(node["spec"]["podCIDR"])
    internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"]
    assert p["status"]["hostIP"] == internal[0]
    cs = p["status"]["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["containerID"].startswith("sim://") and "running" in cs["state"]
    assert {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "True"


async def test_pod_annotated_to_exit_zero_succeeds(client: Client, sim: SimNodes) -> None:
    name = f"job-{uuid.uuid4().hex[:6]}"
    await client.create("pods", pod(name, sim.names[0], {EXIT_CODE: "0", RUN_SECONDS: "1"}, "Never"), "default")

    async def succeeded() -> Any:
        p = await client.get("pods", name, "default")
        return p if p["status"].get("phase") == "Succeeded" else None
    p = await eventually(succeeded, "pod Succeeded")
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"


async def test_deleting_a_running_pod_removes_it(client: Client, sim: SimNodes) -> None:
    name = f"del-{uuid.uuid4().hex[:6]}"
    await client.create("pods", pod(name, sim.names[2]), "default")

    async def running() -> bool:
        return (await client.get("pods", name, "default"))["status"].get("phase") == "Running"
    await eventually(running, "pod Running")
    await client.delete("pods", name, "default")

    async def gone() -> bool:
        try:
            await client.get("pods", name, "default")
        except ApiError as e:
            return is_not_found(e)
        return False
    await eventually(gone, "pod removed by its node")


async def test_a_paused_node_stops_renewing_its_lease(client: Client, sim: SimNodes) -> None:
    name = sim.names[0]
    await eventually(lambda: renew_time(client, name), "lease exists")
    sim.pause(name)
    await asyncio.sleep(0.6)  # let a renewal already in flight land
    frozen = await renew_time(client, name)
    other = await renew_time(client, sim.names[1])

    async def other_renewed() -> bool:
        return await renew_time(client, sim.names[1]) != other
    await eventually(other_renewed, "the other node's renewal")
    await eventually(other_renewed, "the other node's renewal")  # several intervals have passed
    assert await renew_time(client, name) == frozen
    sim.resume(name)

    async def renewed() -> bool:
        return await renew_time(client, name) != frozen
    await eventually(renewed, "renewal after resume")


async def test_a_thousand_nodes_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srv = NavarchServer(tmp_path / "data", free_port())
    srv.start()
    try:
        async with Client.from_kubeconfig(str(srv.kubeconfig)) as c:
            nodes = SimNodes(c, SimNodesConfig(count=1000, cluster_cidr="10.32.0.0/11"))
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            started = time.monotonic()
            task = asyncio.create_task(nodes.run())
            try:
                assert await nodes.wait_registered(180)
                took = time.monotonic() - started
                listed = await c.list_all("nodes")
                assert len(listed["items"]) == 1000
                leases = await eventually(
                    lambda: _count_leases(c, 1000), "1000 leases", timeout=60)
                assert leases
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with capsys.disabled():
            print(f"\nsim-nodes: 1000 nodes registered in {took:.1f}s; test process max RSS {rss / 1024:.0f} MiB "
                  f"(before {rss_before / 1024:.0f} MiB)")
    finally:
        srv.stop()


async def _count_leases(c: Client, want: int) -> bool:
    return len((await c.list_all("leases", "kube-node-lease"))["items"]) >= want

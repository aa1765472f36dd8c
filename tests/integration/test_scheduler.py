"""The scheduler against a real navarch server: Node objects created through the API, pods placed
as upstream's default profile places them, failures reported with upstream's message shape.

The scheduler runs in-process with its own profile name (``it-scheduler``), so a scheduler embedded
in ``navarch server`` would leave these pods alone.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, Awaitable, Callable, Iterator

import pytest

from navarch.client.rest import Client
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.scheduler.framework.profile import default_profile
from navarch.scheduler.scheduler import Scheduler
from tests.navarch_process import NavarchServer, running_server

NAME = "it-scheduler"
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


@pytest.fixture
def server() -> Iterator[NavarchServer]:
    """A server of its own per test: nodes are cluster-wide and each test shapes its own cluster."""
    with running_server("sched") as srv:
        yield srv


@pytest.fixture
async def client(server: NavarchServer):
    c = Client.from_kubeconfig(str(server.kubeconfig))
    yield c
    await c.close()


@pytest.fixture
async def scheduler(client: Client):
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, "default-scheduler")
    sched = Scheduler(client, factory, recorder, profiles=[default_profile(NAME)], initial_backoff=0.2,
                      max_backoff=1.0)
    task = asyncio.create_task(sched.run())
    await factory.wait_for_cache_sync(10)
    yield sched
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await recorder.stop()
    await factory.stop()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def add_node(client: Client, name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
                   labels: dict[str, str] | None = None, taints: list[dict[str, Any]] | None = None) -> None:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Node",
                            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                            "spec": {"taints": taints} if taints else {}}
    created = await client.create("nodes", body)
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    created["status"] = {"capacity": alloc, "allocatable": alloc,
                         "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                         "message": "simulated", "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                                         "lastTransitionTime": "2025-01-01T00:00:00Z"}]}
    await client.update_status("nodes", created)


async def add_pod(client: Client, ns: str, name: str, *, cpu: str = "100m", labels: dict[str, str] | None = None,
                  scheduler: str = NAME, **spec: Any) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"schedulerName": scheduler, "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}],
                **spec}}
    await client.create("pods", body, ns)


async def namespace(client: Client) -> str:
    ns = "sched-" + uuid.uuid4().hex[:6]
    await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return ns


async def placements(client: Client, ns: str, count: int) -> dict[str, str]:
    async def bound() -> dict[str, str] | None:
        pods = (await client.list("pods", ns))["items"]
        out = {p["metadata"]["name"]: p["spec"].get("nodeName", "") for p in pods}
        return out if len(out) >= count and all(out.values()) else None
    return await eventually(bound)


async def events_for(client: Client, ns: str, pod: str, reason: str) -> list[dict[str, Any]]:
    items = (await client.list("events", ns))["items"]
    return [e for e in items if e["involvedObject"].get("name") == pod and e.get("reason") == reason]


async def test_least_allocated_spreads_pods_and_records_scheduled(client: Client, scheduler: Scheduler) -> None:
    for n in ("n1", "n2", "n3"):
        await add_node(client, n)
    ns = await namespace(client)
    for i in range(6):
        await add_pod(client, ns, f"p{i}", cpu="1")
    placed = await placements(client, ns, 6)
    per_node: dict[str, int] = {}
    for node in placed.values():
        per_node[node] = per_node.get(node, 0) + 1
    assert per_node == {"n1": 2, "n2": 2, "n3": 2}
    ev = await eventually(lambda: events_for(client, ns, "p0", "Scheduled"))
    assert ev[0]["message"] == f"Successfully assigned {ns}/p0 to {placed['p0']}"
    assert ev[0]["source"]["component"] == "default-scheduler" and ev[0]["type"] == "Normal"
    pod = await client.get("pods", "p0", ns)
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in pod["status"]["conditions"])


async def test_too_big_pod_waits_for_a_big_node(client: Client, scheduler: Scheduler) -> None:
    await add_node(client, "small-1", cpu="2")
    await add_node(client, "small-2", cpu="2")
    await add_node(client, "not-ready", cpu="64", taints=[NOT_READY])
    ns = await namespace(client)
    await add_pod(client, ns, "big", cpu="16")
    await add_pod(client, ns, "elsewhere", scheduler="someone-else")

    async def unschedulable() -> dict[str, Any] | None:
        pod = await client.get("pods", "big", ns)
        conds = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        return conds[0] if conds and conds[0]["status"] == "False" else None
    cond = await eventually(unschedulable)
    expected = ("0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
                "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
                "scheduling, 2 No preemption victims found for incoming pod.")
    assert cond["reason"] == "Unschedulable" and cond["message"] == expected
    ev = await eventually(lambda: events_for(client, ns, "big", "FailedScheduling"))
    assert ev[0]["type"] == "Warning" and ev[0]["message"] == expected

    await add_node(client, "big-node", cpu="32")
    pod = await eventually(lambda: _bound(client, ns, "big"))
    assert pod["spec"]["nodeName"] == "big-node"
    other = await client.get("pods", "elsewhere", ns)
    assert not other["spec"].get("nodeName")


async def _bound(client: Client, ns: str, name: str) -> dict[str, Any] | None:
    pod = await client.get("pods", name, ns)
    return pod if pod["spec"].get("nodeName") else None


async def test_taints_tolerations_and_node_affinity(client: Client, scheduler: Scheduler) -> None:
    dedicated = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    await add_node(client, "gpu", cpu="64", labels={"zone": "a"}, taints=[dedicated])
    await add_node(client, "plain-a", labels={"zone": "a"})
    await add_node(client, "plain-b", labels={"zone": "b"})
    ns = await namespace(client)
    tolerate = [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]
    await add_pod(client, ns, "no-toleration", cpu="2")
    await add_pod(client, ns, "gpu-job", tolerations=tolerate, nodeSelector={"kubernetes.io/hostname": "gpu"})
    await add_pod(client, ns, "zone-b", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]}}})
    await add_pod(client, ns, "prefers-a", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}]}})
    placed = await placements(client, ns, 4)
    assert placed["no-toleration"] in ("plain-a", "plain-b")
    assert placed["gpu-job"] == "gpu"
    assert placed["zone-b"] == "plain-b"
    assert placed["prefers-a"] == "plain-a"


async def test_topology_spread_and_anti_affinity(client: Client, scheduler: Scheduler) -> None:
    await add_node(client, "a1", labels={"zone": "a"})
    await add_node(client, "a2", labels={"zone": "a"})
    await add_node(client, "b1", labels={"zone": "b"})
    ns = await namespace(client)
    spread = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
               "labelSelector": {"matchLabels": {"app": "web"}}}]
    for i in range(4):
        await add_pod(client, ns, f"web{i}", labels={"app": "web"}, topologySpreadConstraints=spread)
        await placements(client, ns, i + 1)  # one at a time, as a controller's slow start would
    placed = await placements(client, ns, 4)
    zones = {"a1": "a", "a2": "a", "b1": "b"}
    per_zone = {"a": 0, "b": 0}
    for node in placed.values():
        per_zone[zones[node]] += 1
    assert per_zone == {"a": 2, "b": 2}

    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}]}}
    for i in range(4):
        await add_pod(client, ns, f"db{i}", labels={"app": "db"}, affinity=anti)

    async def db_state() -> tuple[dict[str, str], str] | None:
        pods = {p["metadata"]["name"]: p for p in (await client.list("pods", ns))["items"]
                if p["metadata"]["name"].startswith("db")}
        bound = {n: p["spec"]["nodeName"] for n, p in pods.items() if p["spec"].get("nodeName")}
        pending = [p for p in pods.values() if not p["spec"].get("nodeName")]
        msgs = [c.get("message", "") for p in pending for c in p["status"].get("conditions") or []
                if c["type"] == "PodScheduled" and c["status"] == "False"]
        return (bound, msgs[0]) if len(bound) == 3 and msgs else None
    bound, message = await eventually(db_state)
    assert sorted(bound.values()) == ["a1", "a2", "b1"]
    assert message.startswith("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")


async def test_preemption_evicts_lower_priority(client: Client, scheduler: Scheduler) -> None:
    await add_node(client, "only", cpu="2")
    ns = await namespace(client)
    # Priorities come from PriorityClasses: the Priority admission plugin refuses a bare spec.priority.
    for cls, value in ((f"{ns}-low", 1), (f"{ns}-high", 1000)):
        await client.create("priorityclasses", {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                "metadata": {"name": cls}, "value": value})
    await add_pod(client, ns, "low", cpu="1500m", priorityClassName=f"{ns}-low")
    await eventually(lambda: _bound(client, ns, "low"))
    await add_pod(client, ns, "high", cpu="1500m", priorityClassName=f"{ns}-high")

    async def terminating() -> bool:
        return bool((await client.get("pods", "low", ns))["metadata"].get("deletionTimestamp"))
    await eventually(terminating)
    # No kubelet here: finish the graceful deletion as the victim's kubelet would.
    await client.delete("pods", "low", ns, grace_period_seconds=0)
    pod = await eventually(lambda: _bound(client, ns, "high"))
    assert pod["spec"]["nodeName"] == "only"
    names = {p["metadata"]["name"] for p in (await client.list("pods", ns))["items"]}
    assert "low" not in names
    ev = await eventually(lambda: events_for(client, ns, "low", "Preempted"))
    assert ev[0]["message"].startswith("Preempted by pod ")

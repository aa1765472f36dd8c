"""cloud-node, cloud-node-lifecycle and route controllers against the stub and small fake clouds."""

from __future__ import annotations

from typing import Any

from navarch.cloudprovider.controllers.node import (
    UNINITIALIZED_TAINT,
    CloudNodeController,
)
from navarch.cloudprovider.controllers.nodelifecycle import (
    SHUTDOWN_TAINT,
    CloudNodeLifecycleController,
)
from navarch.cloudprovider.controllers.route import ALL, RouteController
from navarch.cloudprovider.interface import InstanceMetadata, Route
from navarch.cloudprovider.stub import StubCloud
from tests.unit.cloudprovider.cloud_fakes import make_cloud_ctx, put

CLOUD_TAINT = {"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}


def node(name: str, taints: list[dict[str, Any]] | None = None, ready: str = "True", uid: str = "",
         **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "uid": uid or f"uid-{name}", "labels": {}},
            "spec": {"taints": taints or [], **spec},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


class FakeCloud(StubCloud):
    """The stub, with instances that can be shut down or gone, zones, and a routing table."""

    def __init__(self) -> None:
        super().__init__()
        self.shutdown: set[str] = set()
        self.gone: set[str] = set()
        self.table: list[Route] = []

    async def instance_exists(self, node: Any) -> bool:
        return node["metadata"]["name"] not in self.gone

    async def instance_shutdown(self, node: Any) -> bool:
        return node["metadata"]["name"] in self.shutdown

    async def instance_metadata(self, node: Any) -> InstanceMetadata:
        return InstanceMetadata(f"fake://{node['metadata']['name']}", "m1.small", zone="z1", region="r1",
                                node_addresses=({"type": "InternalIP", "address": "10.9.9.9"},))

    def routes(self) -> FakeCloud:
        return self

    async def list_routes(self, cluster_name: str) -> list[Route]:
        return list(self.table)

    async def create_route(self, cluster_name: str, name_hint: str, route: Route) -> None:
        self.table.append(route)

    async def delete_route(self, cluster_name: str, route: Route) -> None:
        self.table.remove(route)


async def test_stub_initializes_tainted_nodes_only() -> None:
    ctx, api, _ = make_cloud_ctx(StubCloud())
    ctrl = CloudNodeController(ctx)
    other = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    put(ctx, api, "nodes", node("n1", [CLOUD_TAINT, other]), node("n2"))
    assert len(ctrl.queue) == 1  # only the tainted node is queued
    await ctrl.sync("n1")
    await ctrl.sync("n2")
    n1 = api.objects[("nodes", "", "n1")]
    assert n1["spec"]["providerID"] == "stub://n1"
    assert n1["spec"]["taints"] == [other]
    assert n1["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "stub"
    assert "providerID" not in api.objects[("nodes", "", "n2")]["spec"]
    assert [w[:3] for w in api.writes] == [("patch", "nodes", "/n1")]


async def test_zone_region_addresses_and_existing_provider_id() -> None:
    ctx, api, _ = make_cloud_ctx(FakeCloud())
    ctrl = CloudNodeController(ctx)
    put(ctx, api, "nodes", node("n1", [CLOUD_TAINT], providerID="kept://n1"))
    await ctrl.sync("n1")
    n1 = api.objects[("nodes", "", "n1")]
    assert n1["spec"]["providerID"] == "kept://n1"
    assert "taints" not in n1["spec"]
    assert n1["status"]["addresses"] == [{"type": "InternalIP", "address": "10.9.9.9"}]
    labels = n1["metadata"]["labels"]
    assert labels["topology.kubernetes.io/zone"] == labels["failure-domain.beta.kubernetes.io/zone"] == "z1"
    assert labels["topology.kubernetes.io/region"] == "r1"


async def test_lifecycle_taints_shut_down_nodes_and_deletes_gone_ones() -> None:
    cloud = FakeCloud()
    ctx, api, events = make_cloud_ctx(cloud)
    ctrl = CloudNodeLifecycleController(ctx)
    cloud.shutdown.add("off")
    cloud.gone.add("gone")
    put(ctx, api, "nodes", node("off", ready="Unknown"), node("gone", ready="False"), node("fine", ready="False"),
        node("back", [{"key": SHUTDOWN_TAINT, "effect": "NoSchedule"}]))
    for name in ("off", "gone", "fine", "back"):
        await ctrl.sync(name)
    assert api.objects[("nodes", "", "off")]["spec"]["taints"] == [{"key": SHUTDOWN_TAINT, "effect": "NoSchedule"}]
    assert ("nodes", "", "gone") not in api.objects
    assert "DeletingNode" in events.reasons()
    assert api.objects[("nodes", "", "fine")]["spec"]["taints"] == []
    assert "taints" not in api.objects[("nodes", "", "back")]["spec"]


async def test_stub_instances_never_go_away() -> None:
    ctx, api, _ = make_cloud_ctx(StubCloud())
    ctrl = CloudNodeLifecycleController(ctx)
    put(ctx, api, "nodes", node("n1", ready="Unknown"))
    await ctrl.sync("n1")
    assert api.writes == []


async def test_routes_follow_node_pod_cidrs() -> None:
    cloud = FakeCloud()
    cloud.table = [Route("stale", "removed-node", "10.42.9.0/24"), Route("uid-a", "a", "10.42.0.0/24")]
    ctx, api, _ = make_cloud_ctx(cloud)
    ctrl = RouteController(ctx)
    put(ctx, api, "nodes", node("a", podCIDRs=["10.42.0.0/24"]), node("b", podCIDR="10.42.1.0/24"), node("c"))
    await ctrl.sync(ALL)
    assert sorted((r.target_node, r.destination_cidr) for r in cloud.table) == [
        ("a", "10.42.0.0/24"), ("b", "10.42.1.0/24")]
    conds = api.objects[("nodes", "", "b")]["status"]["conditions"]
    assert {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"}.items() <= conds[-1].items()
    assert not any(c["type"] == "NetworkUnavailable" for c in api.objects[("nodes", "", "c")]["status"]["conditions"])


async def test_stub_has_no_routes_so_the_route_controller_is_idle() -> None:
    ctx, api, _ = make_cloud_ctx(StubCloud())
    ctrl = RouteController(ctx)
    put(ctx, api, "nodes", node("a", podCIDR="10.42.0.0/24"))
    await ctrl.sync(ALL)
    assert api.writes == [] and len(ctrl.queue) == 0

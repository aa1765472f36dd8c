"""Node status as upstream's kubelet reports it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from navarch.kubelet.config import KubeletConfig
from navarch.kubelet.nodestatus import initial_node, node_status, status_changed
from navarch.kubelet.runtimes.interface import RuntimeCondition, VersionInfo

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
CFG = KubeletConfig("n1", {"cpu": "4", "memory": "16Gi", "pods": "110"}, node_ips=("172.20.0.3",),
                    pod_cidr="10.42.3.0/24", labels={"tier": "a"})
OK = [RuntimeCondition("RuntimeReady", True), RuntimeCondition("NetworkReady", True)]
VERSION = VersionInfo("sim", "0.1.0")


def test_initial_node_has_labels_and_pod_cidr() -> None:
    node = initial_node(CFG)
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    assert node["metadata"]["labels"]["kubernetes.io/os"] == "linux"
    assert node["metadata"]["labels"]["tier"] == "a"
    assert node["spec"] == {"podCIDR": "10.42.3.0/24", "podCIDRs": ["10.42.3.0/24"]}


def test_status_conditions_reasons_and_messages() -> None:
    st = node_status(CFG, {}, T0, OK, VERSION, "boot")
    by = {c["type"]: c for c in st["conditions"]}
    assert [c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert (by["Ready"]["status"], by["Ready"]["reason"], by["Ready"]["message"]) == \
        ("True", "KubeletReady", "kubelet is posting ready status")
    assert by["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    assert st["allocatable"] == st["capacity"] == {"cpu": "4", "memory": "16Gi", "pods": "110"}
    assert st["addresses"] == [{"type": "InternalIP", "address": "172.20.0.3"}, {"type": "Hostname", "address": "n1"}]
    assert st["nodeInfo"]["containerRuntimeVersion"] == "sim://0.1.0"
    assert st["nodeInfo"]["kubeletVersion"].startswith("v1.")


def test_network_not_ready_makes_the_node_not_ready() -> None:
    bad = [RuntimeCondition("RuntimeReady", True), RuntimeCondition("NetworkReady", False, "NoPodCIDR", "none")]
    ready = [c for c in node_status(CFG, {}, T0, bad, VERSION, "b")["conditions"] if c["type"] == "Ready"][0]
    assert (ready["status"], ready["reason"]) == ("False", "KubeletNotReady")
    assert ready["message"] == "container runtime network not ready: NetworkReady=false reason:NoPodCIDR message:none"


def test_heartbeats_alone_are_no_change_but_a_flip_is() -> None:
    first = node_status(CFG, {}, T0, OK, VERSION, "b")
    later = node_status(CFG, first, T0 + timedelta(seconds=10), OK, VERSION, "b")
    assert not status_changed(first, later)
    assert later["conditions"][3]["lastTransitionTime"] == first["conditions"][3]["lastTransitionTime"]
    unknown = {**first, "conditions": [{**c, "status": "Unknown"} if c["type"] == "Ready" else c
                                       for c in first["conditions"]]}
    back = node_status(CFG, unknown, T0 + timedelta(seconds=60), OK, VERSION, "b")
    assert status_changed(unknown, back)
    assert back["conditions"][3]["lastTransitionTime"] == "2025-01-01T00:01:00Z"


def test_conditions_of_other_writers_are_kept() -> None:
    old = {"conditions": [{"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated"}]}
    st = node_status(CFG, old, T0, OK, VERSION, "b")
    assert st["conditions"][-1] == old["conditions"][0]


def test_pressure_turns_conditions_true_with_upstream_reasons() -> None:
    from navarch.kubelet.machine import NodePressure

    first = node_status(CFG, {}, T0, OK, VERSION, "b")
    st = node_status(CFG, first, T0 + timedelta(seconds=10), OK, VERSION, "b",
                     NodePressure(memory=True, disk=True, pid=True))
    by = {c["type"]: c for c in st["conditions"]}
    assert [(by[t]["status"], by[t]["reason"], by[t]["message"]) for t in
            ("MemoryPressure", "DiskPressure", "PIDPressure")] == [
        ("True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
        ("True", "KubeletHasDiskPressure", "kubelet has disk pressure"),
        ("True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")]
    assert by["MemoryPressure"]["lastTransitionTime"] == "2025-01-01T00:00:10Z"
    assert by["Ready"]["status"] == "True"
    assert status_changed(first, st)


class NodesOnlyClient:
    """Just enough of the REST client for one Node: create, get and merge-patches of it."""

    def __init__(self, node: dict | None = None) -> None:
        self.node = node
        self.created = 0

    async def create(self, resource: str, body: dict) -> dict:
        self.created += 1
        self.node = {**body, "metadata": {**body["metadata"], "uid": "u1", "resourceVersion": "1"}}
        return self.node

    async def get(self, resource: str, name: str) -> dict:
        from navarch.client.errors import ApiError

        if self.node is None:
            raise ApiError({"kind": "Status", "code": 404, "reason": "NotFound", "message": "nodes not found"})
        return self.node

    async def patch(self, resource: str, name: str, body: dict, kind: str, subresource: str = "") -> dict:
        assert self.node is not None
        for key, value in body.items():
            self.node[key] = {**self.node.get(key, {}), **value}
        return self.node


def reporter(client: NodesOnlyClient, cfg: KubeletConfig, pressure=None):
    from navarch.kubelet.nodestatus import NodeStatusReporter
    from navarch.machinery.clock import FakeClock

    async def conditions():
        return OK

    async def version():
        return VERSION

    return NodeStatusReporter(client, cfg, FakeClock(T0), lambda: None, conditions, version, pressure)  # type: ignore[arg-type]


async def test_registration_reports_the_machines_pressure() -> None:
    from navarch.kubelet.machine import NodePressure

    async def disk_full() -> NodePressure:
        return NodePressure(disk=True)

    client = NodesOnlyClient()
    await reporter(client, CFG, disk_full).register()
    by = {c["type"]: c["status"] for c in client.node["status"]["conditions"]}
    assert by == {"MemoryPressure": "False", "DiskPressure": "True", "PIDPressure": "False", "Ready": "True"}


async def test_without_register_node_an_absent_node_is_retried_not_created() -> None:
    from dataclasses import replace

    from navarch.client.errors import ApiError

    cfg = replace(CFG, register_node=False)
    client = NodesOnlyClient()
    r = reporter(client, cfg)
    with pytest.raises(ApiError):
        await r.register()
    assert client.created == 0 and not r.registered
    client.node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u0", "labels": {}},
                   "spec": {}}
    await r.register()
    assert r.registered and client.created == 0
    assert client.node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}

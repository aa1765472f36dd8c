"""Node status as upstream's kubelet reports it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

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

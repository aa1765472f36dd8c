import pytest

from navarch.api import quantity
from navarch.scheduler.framework.types import (
    DEFAULT_MEMORY_REQUEST, ActionType, ClusterEvent, NodeInfo, PodInfo, node_update_action, pod_requests)
from tests.unit.scheduler.builders import make_node, make_pod


@pytest.mark.parametrize("text,milli,units", [
    ("100m", 100, 1), ("1", 1000, 1), ("0.5", 500, 1), ("1Gi", 2 ** 30 * 1000, 2 ** 30), ("1k", 10 ** 6, 1000),
    ("1e3", 10 ** 6, 1000), ("1.5Mi", int(1.5 * 2 ** 20) * 1000, int(1.5 * 2 ** 20)), ("1u", 1, 1),
], ids=lambda v: str(v))
def test_quantities(text, milli, units):
    assert quantity.milli_value(text) == milli
    assert quantity.value(text) == units


def test_bad_quantity():
    with pytest.raises(ValueError):
        quantity.parse("12xyz")


def c(cpu, restart=None):
    out = {"name": "x", "resources": {"requests": {"cpu": cpu}}}
    if restart:
        out["restartPolicy"] = restart
    return out


@pytest.mark.parametrize("spec,cpu", [
    ({"containers": [c("1"), c("2")]}, 3000),
    ({"containers": [c("1")], "initContainers": [c("4")]}, 4000),
    ({"containers": [c("3")], "initContainers": [c("2"), c("1")]}, 3000),
    # A sidecar keeps running: it adds to the containers and to every later init container.
    ({"containers": [c("1")], "initContainers": [c("1", "Always"), c("2")]}, 3000),
    ({"containers": [c("2")], "initContainers": [c("1", "Always")]}, 3000),
    ({"containers": [c("1")], "overhead": {"cpu": "250m"}}, 1250),
], ids=["sum", "init-max", "containers-max", "sidecar-then-init", "sidecar", "overhead"])
def test_pod_requests(spec, cpu):
    assert pod_requests(spec).milli_cpu == cpu


def test_non_zero_defaults():
    info = PodInfo(make_pod("a"))
    assert info.requests.milli_cpu == 0 and info.non_zero_cpu == 100
    assert info.non_zero_memory == DEFAULT_MEMORY_REQUEST


def test_node_info_tracks_pods():
    n = NodeInfo(make_node("n1"))
    p = PodInfo(make_pod("a", cpu="1", spec={"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "1"}}, "ports": [{"containerPort": 80, "hostPort": 8080}]}]}))
    n.add_pod(p)
    assert n.requested.milli_cpu == 1000 and n.port_in_use(("0.0.0.0", "TCP", 8080))
    assert n.port_in_use(("10.0.0.1", "TCP", 8080)) and not n.port_in_use(("0.0.0.0", "UDP", 8080))
    clone = n.clone()
    clone.remove_pod(p.key)
    assert n.requested.milli_cpu == 1000 and clone.requested.milli_cpu == 0
    n.remove_pod(p.key)
    assert not n.used_ports and n.requested.milli_cpu == 0


def test_node_update_action_and_event_matching():
    old = make_node("n1")
    new = make_node("n1", cpu="8", labels={"zone": "a"})
    action = node_update_action(old, new)
    assert action & ActionType.UPDATE_NODE_ALLOCATABLE and action & ActionType.UPDATE_NODE_LABEL
    assert not action & ActionType.UPDATE_NODE_TAINT
    registered = ClusterEvent("Node", ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE)
    assert registered.matches(ClusterEvent("Node", action))
    assert not registered.matches(ClusterEvent("Node", ActionType.UPDATE_NODE_TAINT))
    assert ClusterEvent("Pod", ActionType.DELETE).matches(ClusterEvent("AssignedPod", ActionType.DELETE))

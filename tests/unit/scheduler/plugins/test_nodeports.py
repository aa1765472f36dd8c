import pytest

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import nodeports
from tests.unit.scheduler.builders import make_node, make_pod, node_info

PLUGIN = nodeports.new({}, None)


def with_port(name, port, ip="", proto="TCP", node=""):
    p = {"containerPort": 80, "hostPort": port, "protocol": proto}
    if ip:
        p["hostIP"] = ip
    return make_pod(name, node=node, containers=[{"name": "c", "ports": [p]}])


@pytest.mark.parametrize("pod,existing,fits", [
    (with_port("a", 8080), [], True),
    (with_port("a", 8080), [with_port("b", 8080, node="n")], False),
    (with_port("a", 8080), [with_port("b", 8081, node="n")], True),
    (with_port("a", 8080, proto="UDP"), [with_port("b", 8080, node="n")], True),
    (with_port("a", 8080, ip="10.0.0.1"), [with_port("b", 8080, ip="10.0.0.2", node="n")], True),
    (with_port("a", 8080, ip="10.0.0.1"), [with_port("b", 8080, node="n")], False),
    (with_port("a", 8080), [with_port("b", 8080, ip="10.0.0.2", node="n")], False),
], ids=["free", "taken", "other-port", "other-protocol", "other-ip", "wildcard-taken", "wildcard-wants"])
def test_filter(pod, existing, fits):
    info = PodInfo(pod)
    state = CycleState()
    assert PLUGIN.pre_filter(state, info, [])[1] is None
    status = PLUGIN.filter(state, info, node_info(make_node("n"), *existing))
    if fits:
        assert status is None
    else:
        assert status.code == Code.UNSCHEDULABLE
        assert status.reasons == ["node(s) didn't have free ports for the requested pod ports"]


def test_skip_without_host_ports():
    assert PLUGIN.pre_filter(CycleState(), PodInfo(make_pod("a")), [])[1].code == Code.SKIP

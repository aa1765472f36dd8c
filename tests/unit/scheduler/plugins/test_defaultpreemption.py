from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import defaultpreemption
from tests.unit.scheduler.builders import FakeHandle, framework, make_node, make_pod, node_info


def setup(nodes):
    handle = FakeHandle(nodes)
    fwk = framework(handle)
    return handle, fwk, fwk.plugins["DefaultPreemption"]


def statuses(fwk, pod, nodes):
    state = CycleState()
    fwk.run_pre_filter(state, pod, nodes)
    return state, {n.name: fwk.run_filters(state, pod, n) for n in nodes}


def test_preempts_lowest_priority_victims():
    nodes = [node_info(make_node("n1", cpu="2"), make_pod("low", cpu="1", priority=1, node="n1"),
                       make_pod("mid", cpu="1", priority=5, node="n1")),
             node_info(make_node("n2", cpu="2"), make_pod("mid2", cpu="2", priority=5, node="n2"))]
    handle, fwk, plugin = setup(nodes)
    pod = PodInfo(make_pod("high", cpu="1", priority=10))
    state, st = statuses(fwk, pod, nodes)
    result, status = plugin.post_filter(state, pod, st)
    assert status is None and result.nominated_node_name == "n1"
    assert handle.spawned == ["preempt default/low"]
    assert handle.recorder.events == [("low", "Normal", "Preempted", "Preempted by pod uid-high on node n1")]


def test_no_victims_message():
    nodes = [node_info(make_node("n1", cpu="1"), make_pod("same", cpu="1", priority=10, node="n1")),
             node_info(make_node("n2", taints=[{"key": "k", "effect": "NoSchedule"}]))]
    _, fwk, plugin = setup(nodes)
    pod = PodInfo(make_pod("p", cpu="2", priority=10))
    state, st = statuses(fwk, pod, nodes)
    result, status = plugin.post_filter(state, pod, st)
    assert status.code == Code.UNSCHEDULABLE and result.nominated_node_name == ""
    assert status.message() == ("preemption: 0/2 nodes are available: 1 No preemption victims found for incoming "
                                "pod, 1 Preemption is not helpful for scheduling.")


def test_preemption_policy_never():
    _, fwk, plugin = setup([])
    pod = PodInfo(make_pod("p", priority=10, spec={"preemptionPolicy": "Never"}))
    _, status = plugin.post_filter(CycleState(), pod, {})
    assert status.message() == "preemption: not eligible due to preemptionPolicy=Never."


def test_pick_one_node_prefers_lower_victims():
    a = defaultpreemption.Candidate("a", [PodInfo(make_pod("x", priority=5))])
    b = defaultpreemption.Candidate("b", [PodInfo(make_pod("y", priority=1)), PodInfo(make_pod("z", priority=1))])
    c = defaultpreemption.Candidate("c", [PodInfo(make_pod("w", priority=1))])
    assert defaultpreemption.pick_one_node([a, b, c]).node == "c"
    assert Status(Code.UNSCHEDULABLE, "x") == Status(Code.UNSCHEDULABLE, "x")

import random

import pytest

from navarch.scheduler.framework.interface import CycleState, FitError, NoNodesAvailable
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.schedule_one import Algorithm, num_feasible_nodes_to_find
from tests.unit.scheduler.builders import FakeHandle, framework, make_node, make_pod, node_info

NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


@pytest.mark.parametrize("percentage,nodes,want", [
    (0, 50, 50), (0, 100, 100), (0, 1000, 420), (0, 5000, 500), (0, 10000, 500),
    (30, 1000, 300), (1, 1000, 100), (100, 1000, 1000)],
    ids=["small", "100", "1000", "5000", "10000", "explicit", "at-least-100", "all"])
def test_num_feasible_nodes(percentage, nodes, want):
    assert num_feasible_nodes_to_find(percentage, nodes) == want


def run(nodes, pod, algo=None):
    handle = FakeHandle(nodes)
    fwk = framework(handle)
    return (algo or Algorithm(rng=random.Random(1))).schedule_pod(fwk, CycleState(), PodInfo(pod), nodes)


def test_least_allocated_picks_emptiest():
    nodes = [node_info(make_node("busy", cpu="4"), make_pod("x", cpu="3", node="busy")),
             node_info(make_node("idle", cpu="4"))]
    assert run(nodes, make_pod("p", cpu="500m")).suggested_host == "idle"


def test_fit_error_message_shape():
    nodes = [node_info(make_node("n1", cpu="1")), node_info(make_node("n2", cpu="1")),
             node_info(make_node("n3", cpu="8", taints=[NOT_READY]))]
    with pytest.raises(FitError) as e:
        run(nodes, make_pod("big", cpu="2"))
    assert str(e.value) == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                            "{node.kubernetes.io/not-ready: }, 2 Insufficient cpu.")
    assert e.value.diagnosis.unschedulable_plugins == {"NodeResourcesFit", "TaintToleration"}
    e.value.diagnosis.post_filter_msg = "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    assert str(e.value).endswith("2 Insufficient cpu. preemption: 0/3 nodes are available: "
                                 "3 Preemption is not helpful for scheduling.")


def test_no_nodes():
    with pytest.raises(NoNodesAvailable, match="no nodes available to schedule pods"):
        run([], make_pod("p"))


def test_sampling_rotates_start_index():
    nodes = [node_info(make_node(f"n{i:03}")) for i in range(1000)]
    algo = Algorithm(rng=random.Random(0))
    run(nodes, make_pod("a"), algo)
    assert algo.next_start_node_index == 420
    run(nodes, make_pod("b"), algo)
    assert algo.next_start_node_index == 840


def test_prefilter_rejection_message():
    nodes = [node_info(make_node("n1"))]
    pod = make_pod("p", cpu="1x")
    with pytest.raises(FitError) as e:
        run(nodes, pod)
    assert str(e.value).startswith("0/1 nodes are available: ") and "quantities must match" in str(e.value)

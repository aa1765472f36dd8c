import pytest

from navarch.scheduler.framework.interface import CycleState, NodeScore
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import tainttoleration
from tests.unit.scheduler.builders import make_node, make_pod, node_info

PLUGIN = tainttoleration.new({}, None)
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
GPU = {"key": "gpu", "value": "true", "effect": "NoSchedule"}


@pytest.mark.parametrize("tolerations,taints,reason", [
    ([], [], None),
    ([], [NOT_READY], "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"),
    ([], [GPU], "node(s) had untolerated taint {gpu: true}"),
    ([{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}], [GPU], None),
    ([{"key": "gpu", "operator": "Equal", "value": "false"}], [GPU], "node(s) had untolerated taint {gpu: true}"),
    ([{"key": "gpu", "operator": "Exists"}], [GPU], None),
    ([{"operator": "Exists"}], [GPU, NOT_READY], None),
    ([{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}], [GPU], "node(s) had untolerated taint {gpu: true}"),
    ([], [{"key": "x", "effect": "PreferNoSchedule"}], None),
    ([], [{"key": "x", "value": "y", "effect": "NoExecute"}], "node(s) had untolerated taint {x: y}"),
], ids=["none", "not-ready", "gpu", "equal", "wrong-value", "exists", "wildcard", "wrong-effect", "prefer", "noexecute"])
def test_filter(tolerations, taints, reason):
    pod = PodInfo(make_pod("a", spec={"tolerations": tolerations}))
    status = PLUGIN.filter(CycleState(), pod, node_info(make_node("n", taints=taints)))
    if reason is None:
        assert status is None
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and status.reasons == [reason]


def test_prefer_no_schedule_scoring():
    prefer = lambda k: {"key": k, "effect": "PreferNoSchedule"}  # noqa: E731
    nodes = [node_info(make_node("clean")), node_info(make_node("one", taints=[prefer("a")])),
             node_info(make_node("two", taints=[prefer("a"), prefer("b")]))]
    pod = PodInfo(make_pod("p", spec={"tolerations": [{"key": "b", "operator": "Exists"}]}))
    state = CycleState()
    assert PLUGIN.pre_score(state, pod, nodes) is None
    scores = [NodeScore(n.name, PLUGIN.score(state, pod, n)) for n in nodes]
    PLUGIN.normalize_score(state, pod, scores)
    assert [s.score for s in scores] == [100, 0, 0]
    # Nothing to prefer anywhere: the plugin skips (every node would score the same).
    assert PLUGIN.pre_score(CycleState(), pod, nodes[:1]).code == Code.SKIP

import pytest

from navarch.scheduler.framework.interface import CycleState, NodeScore
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import nodeaffinity
from tests.unit.scheduler.builders import make_node, make_pod, node_info

PLUGIN = nodeaffinity.new({}, None)


def required(*terms):
    return {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": list(terms)}}}}


def expr(key, op, *values):
    return {"matchExpressions": [{"key": key, "operator": op, "values": list(values)}]}


@pytest.mark.parametrize("spec,labels,fits", [
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "ssd"}, True),
    ({"nodeSelector": {"disk": "ssd"}}, {"disk": "hdd"}, False),
    (required(expr("zone", "In", "a", "b")), {"zone": "b"}, True),
    (required(expr("zone", "In", "a")), {"zone": "b"}, False),
    (required(expr("zone", "NotIn", "a")), {}, True),
    (required(expr("gpu", "Exists")), {}, False),
    (required(expr("cores", "Gt", "4")), {"cores": "8"}, True),
    (required(expr("cores", "Lt", "4")), {"cores": "8"}, False),
    (required(expr("zone", "In", "x"), expr("zone", "In", "a")), {"zone": "a"}, True),
    (required({}), {"zone": "a"}, False),
    (required({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}), {}, True),
], ids=["selector", "selector-miss", "in", "in-miss", "notin", "exists-miss", "gt", "lt-miss", "terms-ored",
        "empty-term", "match-fields"])
def test_filter(spec, labels, fits):
    pod = PodInfo(make_pod("a", spec=spec))
    state = CycleState()
    _, pre = PLUGIN.pre_filter(state, pod, [])
    assert pre is None or pre.code != Code.UNSCHEDULABLE
    status = PLUGIN.filter(state, pod, node_info(make_node("n", labels=labels)))
    if fits:
        assert status is None
    else:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) didn't match Pod's node affinity/selector"]


def test_skips_pods_without_affinity():
    _, status = PLUGIN.pre_filter(CycleState(), PodInfo(make_pod("a")), [])
    assert status.code == Code.SKIP


def test_match_fields_narrow_prefilter():
    pod = PodInfo(make_pod("a", spec=required(
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1", "n2"]}]})))
    result, status = PLUGIN.pre_filter(CycleState(), pod, [])
    assert status is None and result.node_names == {"n1", "n2"}


def test_preferred_scoring():
    pod = PodInfo(make_pod("a", spec={"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": expr("zone", "In", "a")},
        {"weight": 30, "preference": expr("disk", "In", "ssd")}]}}}))
    nodes = [node_info(make_node("n1", labels={"zone": "a"})), node_info(make_node("n2", labels={"disk": "ssd"})),
             node_info(make_node("n3", labels={"zone": "a", "disk": "ssd"})), node_info(make_node("n4"))]
    state = CycleState()
    assert PLUGIN.pre_score(state, pod, nodes) is None
    scores = [NodeScore(n.name, PLUGIN.score(state, pod, n)) for n in nodes]
    PLUGIN.normalize_score(state, pod, scores)
    assert [s.score for s in scores] == [25, 75, 100, 0]

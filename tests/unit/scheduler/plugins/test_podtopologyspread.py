import pytest

from navarch.scheduler.framework.interface import CycleState, NodeScore
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import podtopologyspread
from tests.unit.scheduler.builders import FakeHandle, make_node, make_pod, node_info

WEB = {"app": "web"}


def spread(max_skew=1, key="zone", when="DoNotSchedule", **extra):
    return {"topologySpreadConstraints": [{"maxSkew": max_skew, "topologyKey": key, "whenUnsatisfiable": when,
                                           "labelSelector": {"matchLabels": WEB}, **extra}]}


def cluster(counts):
    """Nodes n-<zone> in zones with ``counts[zone]`` web pods each."""
    out = []
    for zone, n in counts.items():
        pods = [make_pod(f"{zone}-{i}", labels=WEB, node=f"n-{zone}") for i in range(n)]
        out.append(node_info(make_node(f"n-{zone}", labels={"zone": zone}), *pods))
    return out


@pytest.mark.parametrize("counts,spec,fits", [
    ({"a": 1, "b": 0}, spread(), {"n-a": False, "n-b": True}),
    ({"a": 1, "b": 1}, spread(), {"n-a": True, "n-b": True}),
    ({"a": 2, "b": 0}, spread(max_skew=2), {"n-a": False, "n-b": True}),
    ({"a": 1, "b": 0}, spread(max_skew=2), {"n-a": True, "n-b": True}),
    # minDomains 3 with two domains: the global minimum is 0.
    ({"a": 1, "b": 1}, spread(minDomains=3), {"n-a": False, "n-b": False}),
], ids=["skew-1", "balanced", "skew-2", "within-skew", "min-domains"])
def test_filter(counts, spec, fits):
    nodes = cluster(counts)
    plugin = podtopologyspread.new({}, FakeHandle(nodes))
    pod = PodInfo(make_pod("new", labels=WEB, spec=spec))
    state = CycleState()
    assert plugin.pre_filter(state, pod, nodes)[1] is None
    got = {n.name: plugin.filter(state, pod, n) is None for n in nodes}
    assert got == fits
    for n in nodes:
        s = plugin.filter(state, pod, n)
        if s is not None:
            assert s.code == Code.UNSCHEDULABLE
            assert s.reasons == ["node(s) didn't match pod topology spread constraints"]


def test_missing_label_is_unresolvable():
    nodes = cluster({"a": 0}) + [node_info(make_node("bare"))]
    plugin = podtopologyspread.new({}, FakeHandle(nodes))
    pod = PodInfo(make_pod("new", labels=WEB, spec=spread()))
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    s = plugin.filter(state, pod, nodes[1])
    assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert s.reasons == ["node(s) didn't match pod topology spread constraints (missing required label)"]


def test_skip_without_constraints():
    plugin = podtopologyspread.new({}, FakeHandle())
    assert plugin.pre_filter(CycleState(), PodInfo(make_pod("a")), [])[1].code == Code.SKIP
    assert plugin.pre_score(CycleState(), PodInfo(make_pod("a")), []).code == Code.SKIP


def test_schedule_anyway_prefers_emptier_domains():
    nodes = cluster({"a": 3, "b": 1, "c": 0})
    plugin = podtopologyspread.new({}, FakeHandle(nodes))
    pod = PodInfo(make_pod("new", labels=WEB, spec=spread(when="ScheduleAnyway")))
    state = CycleState()
    assert plugin.pre_score(state, pod, nodes) is None
    scores = [NodeScore(n.name, plugin.score(state, pod, n)) for n in nodes]
    plugin.normalize_score(state, pod, scores)
    assert scores[2].score == 100 and scores[0].score < scores[1].score < scores[2].score

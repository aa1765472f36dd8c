import pytest

from navarch.scheduler.framework.interface import CycleState, NodeScore
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import interpodaffinity
from tests.unit.scheduler.builders import FakeHandle, make_node, make_pod, node_info


def term(labels, key="kubernetes.io/hostname"):
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def affinity(kind, *terms, preferred=False):
    field = "preferredDuringSchedulingIgnoredDuringExecution" if preferred else \
        "requiredDuringSchedulingIgnoredDuringExecution"
    return {"affinity": {kind: {field: list(terms)}}}


def nodes_with(*placements):
    """placements: (node name, zone, [pods])."""
    return [node_info(make_node(n, labels={"zone": z}), *pods) for n, z, pods in placements]


DB = {"app": "db"}
WEB = {"app": "web"}


@pytest.mark.parametrize("incoming,placements,expected", [
    # Required affinity to db pods in the same zone.
    (make_pod("w", labels=WEB, spec=affinity("podAffinity", term(DB, "zone"))),
     [("n1", "a", [make_pod("db", labels=DB, node="n1")]), ("n2", "a", []), ("n3", "b", [])],
     {"n1": None, "n2": None, "n3": "node(s) didn't match pod affinity rules"}),
    # Required anti-affinity on hostname.
    (make_pod("w2", labels=WEB, spec=affinity("podAntiAffinity", term(WEB))),
     [("n1", "a", [make_pod("w1", labels=WEB, node="n1")]), ("n2", "a", [])],
     {"n1": "node(s) didn't match pod anti-affinity rules", "n2": None}),
    # An existing pod's anti-affinity keeps the newcomer out of its zone.
    (make_pod("w", labels=WEB),
     [("n1", "a", [make_pod("db", labels=DB, node="n1", spec=affinity("podAntiAffinity", term(WEB, "zone")))]),
      ("n2", "a", []), ("n3", "b", [])],
     {"n1": "node(s) didn't satisfy existing pods anti-affinity rules",
      "n2": "node(s) didn't satisfy existing pods anti-affinity rules", "n3": None}),
    # The first pod of a self-selecting group may go anywhere.
    (make_pod("w", labels=WEB, spec=affinity("podAffinity", term(WEB, "zone"))),
     [("n1", "a", []), ("n2", "b", [])], {"n1": None, "n2": None}),
    # Other namespaces do not count unless named.
    (make_pod("w", labels=WEB, spec=affinity("podAntiAffinity", term(WEB))),
     [("n1", "a", [make_pod("w1", namespace="other", labels=WEB, node="n1")])], {"n1": None}),
], ids=["affinity", "anti-affinity", "existing-anti-affinity", "first-of-group", "namespaces"])
def test_filter(incoming, placements, expected):
    nodes = nodes_with(*placements)
    plugin = interpodaffinity.new({}, FakeHandle(nodes))
    pod = PodInfo(incoming)
    state = CycleState()
    assert plugin.pre_filter(state, pod, nodes)[1] is None
    for n in nodes:
        s = plugin.filter(state, pod, n)
        want = expected[n.name]
        assert (s.reasons[0] if s else None) == want, n.name
        if s and want == "node(s) didn't match pod affinity rules":
            assert s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        elif s:
            assert s.code == Code.UNSCHEDULABLE


def test_skips_when_nobody_has_terms():
    nodes = nodes_with(("n1", "a", [make_pod("x", node="n1")]))
    plugin = interpodaffinity.new({}, FakeHandle(nodes))
    assert plugin.pre_filter(CycleState(), PodInfo(make_pod("a")), nodes)[1].code == Code.SKIP
    assert plugin.pre_score(CycleState(), PodInfo(make_pod("a")), nodes).code == Code.SKIP


def test_preferred_scoring():
    nodes = nodes_with(("n1", "a", [make_pod("db", labels=DB, node="n1")]), ("n2", "b", []))
    plugin = interpodaffinity.new({}, FakeHandle(nodes))
    pod = PodInfo(make_pod("w", spec=affinity("podAffinity", {"weight": 50, "podAffinityTerm": term(DB, "zone")},
                                              preferred=True)))
    state = CycleState()
    assert plugin.pre_score(state, pod, nodes) is None
    scores = [NodeScore(n.name, plugin.score(state, pod, n)) for n in nodes]
    plugin.normalize_score(state, pod, scores)
    assert [s.score for s in scores] == [100, 0]


def test_namespace_selector():
    nodes = nodes_with(("n1", "a", [make_pod("w1", namespace="prod", labels=WEB, node="n1")]), ("n2", "a", []))
    handle = FakeHandle(nodes, ns_labels={"prod": {"env": "prod"}})
    plugin = interpodaffinity.new({}, handle)
    t = {**term(WEB), "namespaceSelector": {"matchLabels": {"env": "prod"}}}
    pod = PodInfo(make_pod("w2", labels=WEB, spec=affinity("podAntiAffinity", t)))
    state = CycleState()
    plugin.pre_filter(state, pod, nodes)
    assert plugin.filter(state, pod, nodes[0]) is not None and plugin.filter(state, pod, nodes[1]) is None

import pytest

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import noderesources
from tests.unit.scheduler.builders import make_node, make_pod, node_info

FIT = noderesources.new({}, None)


@pytest.mark.parametrize("pod,node,existing,reasons", [
    (make_pod("a", cpu="1", memory="1Gi"), make_node("n", cpu="2", memory="2Gi"), [], []),
    (make_pod("a", cpu="3"), make_node("n", cpu="2"), [], ["Insufficient cpu"]),
    (make_pod("a", cpu="1"), make_node("n", cpu="2"), [make_pod("b", cpu="1500m", node="n")], ["Insufficient cpu"]),
    (make_pod("a", cpu="3", memory="9Gi"), make_node("n", cpu="2", memory="8Gi"), [],
     ["Insufficient cpu", "Insufficient memory"]),
    (make_pod("a"), make_node("n", pods="1"), [make_pod("b", node="n")], ["Too many pods"]),
    (make_pod("a", containers=[{"name": "c", "resources": {"requests": {"example.com/gpu": "1"}}}]),
     make_node("n"), [], ["Insufficient example.com/gpu"]),
    (make_pod("a", cpu="1", spec={"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}]}),
     make_node("n", cpu="2"), [], ["Insufficient cpu"]),
    (make_pod("a", cpu="1", spec={"overhead": {"cpu": "1500m"}}), make_node("n", cpu="2"), [], ["Insufficient cpu"]),
], ids=["fits", "cpu", "cpu-used", "cpu-and-memory", "pod-count", "extended", "init-container", "overhead"])
def test_filter(pod, node, existing, reasons):
    status = FIT.filter(CycleState(), PodInfo(pod), node_info(node, *existing))
    if not reasons:
        assert status is None
    else:
        assert status.code == Code.UNSCHEDULABLE and status.reasons == reasons


@pytest.mark.parametrize("pod,node,existing,score", [
    # cpu: (4000-1000)*100/4000 = 75; memory: (8Gi-1Gi)*100/8Gi = 87 -> (75+87)//2 = 81
    (make_pod("a", cpu="1", memory="1Gi"), make_node("n", cpu="4", memory="8Gi"), [], 81),
    (make_pod("a", cpu="1", memory="1Gi"), make_node("n", cpu="4", memory="8Gi"),
     [make_pod("b", cpu="2", memory="4Gi", node="n")], 31),
    # No requests: the scheduler's defaults (100m, 200Mi) count.
    (make_pod("a"), make_node("n", cpu="1", memory="2000Mi"), [], 90),
    (make_pod("a", cpu="8", memory="1Gi"), make_node("n", cpu="4", memory="8Gi"), [], 43),
], ids=["empty-node", "half-used", "defaults", "over-requested"])
def test_least_allocated(pod, node, existing, score):
    assert FIT.score(CycleState(), PodInfo(pod), node_info(node, *existing)) == score


def test_bad_quantity_is_unresolvable():
    pod = make_pod("a", cpu="lots")
    _, status = FIT.pre_filter(CycleState(), PodInfo(pod), [])
    assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_events():
    names = {(e.resource, int(e.action)) for e in FIT.events_to_register()}
    assert any(r == "Node" for r, _ in names) and any(r == "Pod" for r, _ in names)

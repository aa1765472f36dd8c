import pytest

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import nodeunschedulable
from tests.unit.scheduler.builders import make_node, make_pod, node_info

PLUGIN = nodeunschedulable.new({}, None)
TOLERATE = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize("cordoned,tolerations,fits", [
    (False, [], True), (True, [], False), (True, TOLERATE, True)], ids=["schedulable", "cordoned", "tolerated"])
def test_filter(cordoned, tolerations, fits):
    pod = PodInfo(make_pod("a", spec={"tolerations": tolerations}))
    status = PLUGIN.filter(CycleState(), pod, node_info(make_node("n", unschedulable=cordoned)))
    assert (status is None) == fits
    if not fits:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) were unschedulable"]

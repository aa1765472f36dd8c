import pytest

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.plugins import nodename
from tests.unit.scheduler.builders import make_node, make_pod, node_info

PLUGIN = nodename.new({}, None)


@pytest.mark.parametrize("wanted,node,fits", [("", "n1", True), ("n1", "n1", True), ("n2", "n1", False)],
                         ids=["any", "same", "other"])
def test_filter(wanted, node, fits):
    pod = make_pod("a")
    pod["spec"]["nodeName"] = wanted
    status = PLUGIN.filter(CycleState(), PodInfo(pod), node_info(make_node(node)))
    assert (status is None) == fits
    if not fits:
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == ["node(s) didn't match the requested node name"]

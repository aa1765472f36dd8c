import pytest

from navarch.scheduler.framework.profile import Profile, default_profile
from navarch.scheduler.framework.registry import Registry
from navarch.scheduler.framework.runtime import Framework
from navarch.scheduler.plugins import in_tree_registry, nodename
from tests.unit.scheduler.builders import FakeHandle


def test_registry_is_duplicate_safe():
    r = Registry()
    r.register("NodeName", nodename.new)
    r.register("NodeName", nodename.new)
    with pytest.raises(ValueError):
        r.register("NodeName", lambda args, h: None)
    assert len(r) == 1


def test_default_profile_builds_with_upstream_names():
    fwk = Framework(default_profile(), in_tree_registry(), FakeHandle())
    assert [p.name for p in fwk.filter_plugins] == [
        "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit",
        "PodTopologySpread", "InterPodAffinity"]
    assert fwk.weights["TaintToleration"] == 3
    assert set(fwk.events_to_register()) >= {"NodeResourcesFit", "TaintToleration", "InterPodAffinity"}


def test_profile_rejects_wrong_extension_point():
    with pytest.raises(ValueError, match="does not implement the score"):
        Framework(Profile(score=("NodeName",)), in_tree_registry(), FakeHandle())

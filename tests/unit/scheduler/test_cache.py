from navarch.machinery.clock import FakeClock
from navarch.scheduler.cache import Cache
from navarch.scheduler.framework.types import PodInfo
from tests.unit.scheduler.builders import make_node, make_pod


def test_assume_confirm_forget_expire():
    clock = FakeClock()
    cache = Cache(clock, assumed_ttl=30)
    cache.add_node(make_node("n1"))
    a = PodInfo(make_pod("a", cpu="1"))
    cache.assume_pod(a, "n1")
    assert cache.get_node("n1").requested.milli_cpu == 1000 and cache.is_assumed("default/a")
    # The informer shows it bound: confirmed, counted once.
    cache.add_pod(PodInfo(make_pod("a", cpu="1", node="n1")))
    assert not cache.is_assumed("default/a") and cache.get_node("n1").requested.milli_cpu == 1000
    b = PodInfo(make_pod("b", cpu="1"))
    cache.assume_pod(b, "n1")
    cache.forget_pod("default/b")
    assert cache.get_node("n1").requested.milli_cpu == 1000
    c = PodInfo(make_pod("c", cpu="1"))
    cache.assume_pod(c, "n1")
    cache.finish_binding("default/c")
    clock.advance(31)
    assert cache.cleanup_expired() == ["default/c"]
    assert cache.get_node("n1").requested.milli_cpu == 1000


def test_nodes_and_affinity_counters():
    cache = Cache(FakeClock())
    cache.add_node(make_node("n1"))
    cache.add_node(make_node("n2"))
    assert [n.name for n in cache.node_list()] == ["n1", "n2"]
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"a": "b"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
    cache.add_pod(PodInfo(make_pod("x", node="n2", spec=anti)))
    assert [n.name for n in cache.nodes_with_required_anti_affinity_pods()] == ["n2"]
    cache.remove_node("n2")
    assert [n.name for n in cache.node_list()] == ["n1"]
    cache.remove_pod("default/x")
    assert cache.get_node("n2") is None and not cache.nodes_with_required_anti_affinity_pods()

"""The column path (``Cache.arrays()`` + plugins' masks and score arrays) must decide exactly as the
per-node path: same host, same counts, same rotation, same diagnosis, on random clusters."""

import random

import pytest

from navarch.scheduler.cache import Cache
from navarch.scheduler.framework.interface import CycleState, FitError
from navarch.scheduler.framework.types import PodInfo
from navarch.scheduler.schedule_one import Algorithm
from tests.unit.scheduler.builders import FakeHandle, framework, make_node, make_pod

TAINTS = [[], [], [], [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
          [{"key": "spot", "effect": "PreferNoSchedule"}], [{"key": "bad", "effect": "NoExecute"}]]


def random_cluster(rng: random.Random, n: int) -> Cache:
    cache = Cache()
    for i in range(n):
        node = make_node(f"n{i:04}", cpu=str(rng.choice([1, 2, 4, 8])), memory=f"{rng.choice([1, 4, 16])}Gi",
                         pods=str(rng.choice([3, 10, 110])), taints=rng.choice(TAINTS))
        if rng.random() < 0.05:
            node["spec"]["unschedulable"] = True
        cache.add_node(node)
    return cache


def random_pod(rng: random.Random, i: int) -> dict:
    spec = {}
    if rng.random() < 0.2:
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    if rng.random() < 0.1:
        spec["tolerations"] = [{"operator": "Exists"}]
    cpu = rng.choice([None, "100m", "500m", "1", "3", "20"])
    memory = rng.choice([None, "100Mi", "1Gi", "8Gi", "64Gi"])
    return make_pod(f"p{i}", cpu=cpu, memory=memory, spec=spec)


@pytest.mark.parametrize("seed,nodes", [(1, 7), (2, 150), (3, 1000), (4, 40)])
def test_masks_decide_as_the_per_node_filters(seed, nodes):
    rng = random.Random(seed)
    cache = random_cluster(rng, nodes)
    fwk = framework(FakeHandle(cache.node_list()))
    fast, slow = Algorithm(rng=random.Random(seed)), Algorithm(rng=random.Random(seed))
    by_mask = 0
    for i in range(300):
        pod = PodInfo(random_pod(rng, i))
        results = []
        for algo, arrays in ((fast, cache.arrays()), (slow, None)):
            try:
                r = algo.schedule_pod(fwk, CycleState(), pod, cache.node_list(), None, arrays)
                results.append(("ok", r.suggested_host, r.evaluated_nodes, r.feasible_nodes))
            except FitError as e:
                d = e.diagnosis
                results.append(("fit", str(e), sorted(d.unschedulable_plugins),
                                sorted((k, v.message()) for k, v in d.node_to_status.items())))
        assert results[0] == results[1], f"pod {i}"
        assert fast.next_start_node_index == slow.next_start_node_index
        by_mask += fast._rows is not None
        if results[0][0] == "ok":
            # Assume it, as the scheduler would, so the next pods see a fuller node.
            cache.assume_pod(pod, results[0][1])
    assert by_mask > 100  # the column path really ran


def test_arrays_follow_cache_changes():
    cache = Cache()
    cache.add_node(make_node("a", cpu="2"))
    cache.add_node(make_node("b", cpu="2"))
    arrays = cache.arrays()
    assert arrays.cpu_free.tolist() == [2000, 2000]
    cache.assume_pod(PodInfo(make_pod("x", cpu="1500m")), "b")
    assert cache.arrays().cpu_free.tolist() == [2000, 500]
    cache.forget_pod("default/x")
    cache.update_node(make_node("a", cpu="2", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    arrays = cache.arrays()
    assert arrays.cpu_free.tolist() == [2000, 2000] and arrays.prefer_no_schedule == 1
    cache.add_node(make_node("c", cpu="1"))
    assert cache.arrays() is not arrays and cache.arrays().cpu_free.tolist() == [2000, 2000, 1000]

"""Deployment arithmetic: fenceposts, the template hash, revisions, proportional scaling, conditions."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from navarch.controllers.deployment import history, progress, rolling, util

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def ts(seconds_ago: float = 0) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_d(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%", *, strategy: str = "RollingUpdate",
           generation: int = 1, status: dict[str, Any] | None = None, pds: int | None = 600,
           template: dict[str, Any] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                            "template": copy.deepcopy(template or TEMPLATE), "strategy": {"type": strategy},
                            "revisionHistoryLimit": 2}
    if strategy == "RollingUpdate":
        spec["strategy"]["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    if pds is not None:
        spec["progressDeadlineSeconds"] = pds
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "uid": "uid-web", "generation": generation},
            "spec": spec, "status": status or {}}


def make_rs(name: str, replicas: int, *, available: int | None = None, revision: int | None = None,
            created_ago: float = 0, max_replicas: int | None = None, desired: int | None = None,
            image: str = "busybox", generation: int = 1, observed: int = 1,
            status_replicas: int | None = None) -> dict[str, Any]:
    ann = {}
    if revision is not None:
        ann[util.REVISION] = str(revision)
    if max_replicas is not None:
        ann[util.MAX_REPLICAS] = str(max_replicas)
    if desired is not None:
        ann[util.DESIRED_REPLICAS] = str(desired)
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    template["metadata"]["labels"][util.HASH_LABEL] = name
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": ts(created_ago),
                         "annotations": ann, "generation": generation},
            "spec": {"replicas": replicas, "template": template},
            "status": {"replicas": replicas if status_replicas is None else status_replicas,
                       "availableReplicas": replicas if available is None else available,
                       "readyReplicas": replicas if available is None else available, "observedGeneration": observed}}


# ---- fenceposts --------------------------------------------------------------------------------

FENCEPOSTS = [
    # surge, unavailable, replicas -> (surge, unavailable): percentages round surge up, unavailable down
    ("25%", "25%", 5, (2, 1)),
    ("25%", "25%", 10, (3, 2)),
    ("25%", "25%", 1, (1, 0)),
    ("0%", "0%", 10, (0, 1)),
    (0, 0, 3, (0, 1)),
    (1, 0, 3, (1, 0)),
    ("100%", "50%", 3, (3, 1)),
    ("33%", "33%", 3, (1, 0)),
]


@pytest.mark.parametrize("surge,unavailable,replicas,want", FENCEPOSTS,
                         ids=[f"{s}-{u}-of-{r}" for s, u, r, _ in FENCEPOSTS])
def test_fenceposts(surge: Any, unavailable: Any, replicas: int, want: tuple[int, int]) -> None:
    assert util.resolve_fenceposts(surge, unavailable, replicas) == want
    d = make_d(replicas, surge, unavailable)
    assert (util.max_surge(d), util.max_unavailable(d)) == (want[0], min(want[1], replicas))


def test_recreate_has_no_surge_and_bad_values_raise() -> None:
    d = make_d(3, strategy="Recreate")
    assert (util.max_surge(d), util.max_unavailable(d)) == (0, 0)
    assert util.max_unavailable(make_d(0)) == 0
    with pytest.raises(ValueError):
        util.scaled_value("3", 10, True)


# ---- hash and new ReplicaSet -------------------------------------------------------------------


def test_hash_is_stable_and_depends_on_template_and_collisions() -> None:
    h = util.compute_hash(TEMPLATE)
    assert h == util.compute_hash(copy.deepcopy(TEMPLATE))
    # Known value: a change of algorithm would rename every ReplicaSet after an upgrade.
    assert h == util.compute_hash({"spec": TEMPLATE["spec"], "metadata": {"labels": {"app": "web"}}})
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    # Nulls and empty values do not change the hash (the server may add or drop them).
    assert util.compute_hash({**TEMPLATE, "metadata": {**TEMPLATE["metadata"], "creationTimestamp": None,
                                                       "annotations": {}}}) == h
    other = copy.deepcopy(TEMPLATE)
    other["spec"]["containers"][0]["image"] = "nginx"
    assert util.compute_hash(other) != h
    assert util.compute_hash(TEMPLATE, 1) != h != util.compute_hash(TEMPLATE, 0)


def test_hash_value_is_pinned() -> None:
    assert util.compute_hash({"spec": {"containers": [{"name": "c", "image": "busybox"}]}}) == \
        util.safe_encode(str(util.fnv32a(b'{"spec":{"containers":[{"image":"busybox","name":"c"}]}}')))


def test_find_new_and_old_replicasets_ignore_the_hash_label() -> None:
    d = make_d()
    new = make_rs("web-new", 3, created_ago=10)
    dup = make_rs("web-dup", 0, created_ago=5)
    old = make_rs("web-old", 2, image="nginx", created_ago=100)
    empty_old = make_rs("web-older", 0, image="alpine", created_ago=200)
    assert util.find_new_replicaset(d, [dup, old, new]) is new  # the oldest match wins
    with_old, all_old = util.find_old_replicasets(d, [new, old, empty_old])
    assert with_old == [old] and all_old == [old, empty_old]
    assert util.find_new_replicaset(d, [old]) is None


# ---- revisions ---------------------------------------------------------------------------------


def test_revision_selection() -> None:
    rss = [make_rs("a", 0, revision=3), make_rs("b", 0, revision=7), make_rs("c", 0, revision=5), make_rs("d", 0)]
    assert util.max_revision(rss) == 7
    assert util.last_revision(rss) == 5
    assert [util.name(r) for r in util.by_revision(rss)] == ["d", "a", "c", "b"]
    assert util.max_revision([]) == 0


def test_new_replicaset_annotations_for_a_rollback_keep_history() -> None:
    d = make_d(5)
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "undo", util.REVISION: "9",
                                    util.LAST_APPLIED: "{}"}
    rs = make_rs("web-a", 0, revision=1)
    assert util.set_new_replicaset_annotations(d, rs, "3", True)
    ann = rs["metadata"]["annotations"]
    assert ann[util.REVISION] == "3" and ann[util.REVISION_HISTORY] == "1"
    assert ann["kubernetes.io/change-cause"] == "undo" and util.LAST_APPLIED not in ann
    assert util.set_new_replicaset_annotations(d, rs, "5", True)
    assert rs["metadata"]["annotations"][util.REVISION_HISTORY] == "1,3"
    # Same revision again: nothing to do. Creation also records the replica annotations.
    assert not util.set_new_replicaset_annotations(d, rs, "5", True)
    fresh: dict[str, Any] = {"metadata": {}}
    util.set_new_replicaset_annotations(d, fresh, "6", False)
    assert fresh["metadata"]["annotations"][util.DESIRED_REPLICAS] == "5"
    assert fresh["metadata"]["annotations"][util.MAX_REPLICAS] == "7"


def test_revision_history_is_capped() -> None:
    rs = make_rs("a", 0, revision=100)
    rs["metadata"]["annotations"][util.REVISION_HISTORY] = ",".join(str(i) for i in range(1, 60))
    util.set_new_replicaset_annotations(make_d(), rs, "101", True, history_limit=20)
    hist = rs["metadata"]["annotations"][util.REVISION_HISTORY]
    assert len(hist) <= 20 and hist.endswith(",100")


def test_cleanup_keeps_the_limit_and_anything_with_pods() -> None:
    d = make_d()  # revisionHistoryLimit 2
    rss = [make_rs("r1", 0, revision=1), make_rs("r2", 1, revision=2), make_rs("r3", 0, revision=3),
           make_rs("r4", 0, revision=4), make_rs("r5", 0, revision=5, generation=2, observed=1)]
    # 5 old, limit 2: the three lowest revisions are candidates; r2 still has pods.
    assert [util.name(r) for r in history.replicasets_to_clean(rss, d)] == ["r1", "r3"]
    assert history.replicasets_to_clean(rss, {**d, "spec": {**d["spec"], "revisionHistoryLimit": None}}) == []


# ---- scaling -----------------------------------------------------------------------------------


def test_new_rs_new_replicas_respects_surge() -> None:
    d = make_d(10, 3, 2)
    new = make_rs("new", 0)
    assert util.new_rs_new_replicas(d, [make_rs("old", 10), new], new) == 3
    assert util.new_rs_new_replicas(d, [make_rs("old", 8), make_rs("new", 5)], make_rs("new", 5)) == 5
    assert util.new_rs_new_replicas(d, [make_rs("old", 2), make_rs("new", 8)], make_rs("new", 8)) == 10
    assert util.new_rs_new_replicas(make_d(4, strategy="Recreate"), [new], new) == 4


def test_rolling_bounds() -> None:
    d = make_d(10, 3, 2)
    new = make_rs("new", 5, available=0)
    all_rss = [make_rs("old", 8), new]
    # 13 pods, 8 must stay available, 5 new ones unavailable: nothing may go.
    assert rolling.max_scaled_down(all_rss, new, d) == 0
    assert rolling.scale_down_budget(all_rss, d) == 0
    new_ready = make_rs("new", 5, available=3)
    assert rolling.max_scaled_down([make_rs("old", 8), new_ready], new_ready, d) == 3
    assert rolling.scale_down_budget([make_rs("old", 8), new_ready], d) == 3
    # Just scaled down 8 -> 5, its status not yet caught up: the 3 pods on their way out are not
    # available to spend again.
    stale = make_rs("old", 5, available=8)
    assert rolling.scale_down_budget([stale, new_ready], d) == 0


PROPORTIONAL = [
    # replicas before -> after, surge; (old size, old max-replicas), (new size, new max-replicas) -> sizes
    ("scale up mid-rollout", 10, 20, 3, (8, 13), (5, 13), {"old": 14, "new": 9}),
    ("scale down mid-rollout", 10, 5, 3, (8, 13), (5, 13), {"old": 5, "new": 3}),
    ("halves round away from zero, newest first", 3, 4, 1, (2, 4), (2, 4), {"old": 2, "new": 3}),
    ("scale to zero", 10, 0, 3, (8, 13), (5, 13), {"old": 0, "new": 0}),
]


@pytest.mark.parametrize("before,after,surge,old,new,want", [c[1:] for c in PROPORTIONAL],
                         ids=[c[0] for c in PROPORTIONAL])
def test_proportional_scaling(before: int, after: int, surge: int, old: tuple[int, int], new: tuple[int, int],
                              want: dict[str, int]) -> None:
    d = make_d(after, surge, 0, status={"replicas": old[0] + new[0]})
    rss = [make_rs("old", old[0], max_replicas=old[1], created_ago=100), make_rs("new", new[0], max_replicas=new[1])]
    sizes, op = util.proportional_sizes(d, rss)
    assert sizes == want
    assert op == ("up" if after > before else "down")


def test_rounding_leftover_goes_to_the_largest() -> None:
    d = make_d(11, 0, 1, status={"replicas": 10})
    rss = [make_rs("a", 3, max_replicas=10, created_ago=30), make_rs("b", 3, max_replicas=10, created_ago=20),
           make_rs("c", 4, max_replicas=10, created_ago=10)]
    # 3.3, 3.3 and 4.4 all round down: the missing one goes to the first in order, the largest.
    assert util.proportional_sizes(d, rss) == ({"c": 5, "b": 3, "a": 3}, "up")


def test_round_half_away_from_zero_and_fraction_without_annotation() -> None:
    assert [util.round_half_away(x) for x in (0.5, 1.5, 2.5, -0.5, -2.5, 2.4)] == [1, 2, 3, -1, -3, 2]
    d = make_d(20, 3, 0, status={"replicas": 13})
    assert util.replicaset_fraction(make_rs("x", 8), d) == 6  # 8 * 23 / 13 = 14.15 -> 14


def test_saturation_and_the_one_active_replicaset() -> None:
    d = make_d(3)
    full = make_rs("n", 3, desired=3)
    assert util.is_saturated(d, full)
    assert not util.is_saturated(d, make_rs("n", 3, desired=3, available=2))
    assert not util.is_saturated(d, make_rs("n", 3))
    old = make_rs("o", 0, created_ago=10)
    newer_old = make_rs("o2", 0, created_ago=5)
    assert util.find_active_or_latest(None, [old, newer_old]) is newer_old
    assert util.find_active_or_latest(full, [old]) is full
    assert util.find_active_or_latest(full, [make_rs("o3", 1)]) is None


# ---- conditions and progress -------------------------------------------------------------------


def test_set_condition_keeps_transition_time_and_same_reason_is_a_noop() -> None:
    status: dict[str, Any] = {}
    util.set_condition(status, util.new_condition("Available", "True", "A", "m1", NOW - timedelta(hours=1)))
    util.set_condition(status, util.new_condition("Available", "True", "A", "m2", NOW))
    assert status["conditions"][0]["message"] == "m1"
    util.set_condition(status, util.new_condition("Available", "True", "B", "m3", NOW))
    c = status["conditions"][0]
    assert (c["reason"], c["lastTransitionTime"], c["lastUpdateTime"]) == ("B", ts(3600), ts(0))


def test_rollout_status_conditions() -> None:
    d = make_d(3, status={"replicas": 3, "updatedReplicas": 1, "availableReplicas": 3, "readyReplicas": 3,
                          "observedGeneration": 1})
    new = make_rs("web-new", 2, available=1)
    old = make_rs("web-old", 2, image="nginx")
    st = progress.rollout_status(d, [old, new], new, NOW)
    assert st["updatedReplicas"] == 2 and st["unavailableReplicas"] == 1
    conds = {c["type"]: c for c in st["conditions"]}
    assert (conds["Progressing"]["reason"], conds["Progressing"]["message"]) == (
        "ReplicaSetUpdated", 'ReplicaSet "web-new" is progressing.')
    assert conds["Available"]["reason"] == "MinimumReplicasAvailable"

    done = make_rs("web-new", 3)
    st = progress.rollout_status(d, [done], done, NOW)
    progressing = util.get_condition(st, "Progressing")
    assert progressing is not None and progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == 'ReplicaSet "web-new" has successfully progressed.'


def test_deadline_exceeded_and_requeue_delay() -> None:
    stale = util.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW - timedelta(seconds=700))
    d = make_d(3, pds=600, status={"replicas": 5, "updatedReplicas": 2, "availableReplicas": 2, "readyReplicas": 2,
                                   "observedGeneration": 1, "conditions": [stale]})
    new = make_rs("web-new", 2, available=0)
    old = make_rs("web-old", 3, available=2, image="nginx")
    st = progress.rollout_status(d, [old, new], new, NOW)
    cond = util.get_condition(st, "Progressing")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"] == 'ReplicaSet "web-new" has timed out progressing.'
    recent = util.new_condition("Progressing", "True", "ReplicaSetUpdated", "x", NOW - timedelta(seconds=100))
    d["status"]["conditions"] = [recent]
    assert progress.stuck_requeue_delay(d, d["status"], NOW) == 500
    assert progress.stuck_requeue_delay(make_d(pds=None), {}, NOW) is None


def test_replica_failure_is_copied_from_replicasets() -> None:
    new = make_rs("web-new", 2)
    new["status"]["conditions"] = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                    "message": "quota", "lastTransitionTime": ts(5)}]
    st = progress.rollout_status(make_d(2), [new], new, NOW)
    failure = util.get_condition(st, "ReplicaFailure")
    assert failure is not None and (failure["reason"], failure["message"]) == ("FailedCreate", "quota")

"""PodDisruptionBudget arithmetic and status, against a pre-filled cache and an in-memory API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from navarch.controllers import disruption as d
from tests.unit.controllers.hygiene_fakes import fill, make_ctx

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("value, total, expected", [
    (2, 10, 2), ("50%", 5, 3), ("10%", 5, 1), ("0%", 5, 0), ("100%", 3, 3), ("3", 9, 3),
], ids=["int", "half-up", "ceil", "zero", "all", "numeric-string"])
def test_scaled_value_rounds_up(value: Any, total: int, expected: int) -> None:
    assert d.scaled_value(value, total) == expected


def test_bad_percentage_is_an_error() -> None:
    with pytest.raises(d.DisruptionError):
        d.scaled_value("abc", 4)


@pytest.mark.parametrize("healthy, desired, expected, allowed", [
    (5, 3, 5, 2), (2, 3, 5, 0), (3, 3, 3, 0), (4, 0, 0, 0),
], ids=["room", "short", "exact", "nothing-expected"])
def test_disruptions_allowed(healthy: int, desired: int, expected: int, allowed: int) -> None:
    assert d.disruptions_allowed(healthy, desired, expected) == allowed


def pod(name: str, ready: bool = True, owner: tuple[str, str, str] | None = ("ReplicaSet", "rs", "rs-uid"),
        deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"u-{name}", "labels": {"app": "web"},
                            "resourceVersion": "1"}
    if owner:
        kind, oname, uid = owner
        api = "v1" if kind == "ReplicationController" else "apps/v1"
        meta["ownerReferences"] = [{"apiVersion": api, "kind": kind, "name": oname, "uid": uid, "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_healthy_excludes_unready_deleting_and_recently_disrupted() -> None:
    pods = [pod("a"), pod("b", ready=False), pod("c", deleting=True), pod("e"), pod("f")]
    recent = (NOW - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = (NOW - timedelta(seconds=300)).strftime("%Y-%m-%dT%H:%M:%SZ")
    disrupted = {"e": recent, "f": old}
    kept, recheck, overdue = d.disrupted_pod_map(pods, disrupted, NOW)
    assert kept == {"e": recent} and overdue == ["f"]
    assert recheck == NOW + timedelta(seconds=90)
    assert d.count_healthy(pods, kept, NOW) == 2  # a and f


def pdb(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "b", "namespace": "ns", "uid": "pdb-uid", "generation": 2, "resourceVersion": "7"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}, "status": {}}


def controllers() -> list[tuple[str, dict[str, Any]]]:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "dep", "namespace": "ns", "uid": "dep-uid"}, "spec": {"replicas": 4}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
        "name": "rs", "namespace": "ns", "uid": "rs-uid", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dep", "uid": "dep-uid", "controller": True}]},
        "spec": {"replicas": 3}}
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc", "namespace": "ns",
                                                                           "uid": "rc-uid"}, "spec": {"replicas": 2}}
    return [("deployments", dep), ("replicasets", rs), ("replicationcontrollers", rc)]


@pytest.mark.parametrize("spec, pods, expected, desired", [
    ({"minAvailable": 2}, [pod("a"), pod("b")], 2, 2),
    ({"minAvailable": "50%"}, [pod("a"), pod("b")], 4, 2),
    ({"maxUnavailable": 1}, [pod("a"), pod("b")], 4, 3),
    ({"maxUnavailable": "30%"}, [pod("a"), pod("x", owner=("ReplicationController", "rc", "rc-uid"))], 6, 4),
], ids=["min-int", "min-percent-deployment-scale", "max-int", "max-percent-two-controllers"])
async def test_expected_pods_from_controller_scale(spec: dict[str, Any], pods: list[dict[str, Any]],
                                                   expected: int, desired: int) -> None:
    ctx, _api, _events = make_ctx()
    ctrl = d.DisruptionController(ctx)
    for plural, obj in controllers():
        fill(ctx, plural, obj)
    exp = await ctrl.expected_pod_count(pdb(**spec), pods)
    assert (exp.expected, exp.desired_healthy) == (expected, desired)


async def test_pod_without_known_controller_fails_safe() -> None:
    ctx, api, events = make_ctx()
    ctrl = d.DisruptionController(ctx)
    budget = api.put("poddisruptionbudgets", pdb(maxUnavailable=1))
    fill(ctx, "poddisruptionbudgets", budget)
    fill(ctx, "pods", pod("a", owner=("ReplicaSet", "missing", "m-uid")))
    await ctrl.sync("ns/b")
    status = api.objects[("poddisruptionbudgets", "ns", "b")]["status"]
    assert status["disruptionsAllowed"] == 0
    assert status["conditions"][0]["reason"] == d.SYNC_FAILED
    assert "CalculateExpectedPodCountFailed" in events.reasons()


async def test_status_written_with_condition_and_generation() -> None:
    ctx, api, _events = make_ctx()
    ctrl = d.DisruptionController(ctx)
    budget = api.put("poddisruptionbudgets", pdb(minAvailable=1))
    fill(ctx, "poddisruptionbudgets", budget)
    fill(ctx, "pods", pod("a"), pod("b"), pod("c", ready=False))
    await ctrl.sync("ns/b")
    status = api.objects[("poddisruptionbudgets", "ns", "b")]["status"]
    assert {k: status[k] for k in ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed",
                                   "observedGeneration")} == {"currentHealthy": 2, "desiredHealthy": 1,
                                                              "expectedPods": 3, "disruptionsAllowed": 1,
                                                              "observedGeneration": 2}
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")
    # A second sync with nothing changed writes nothing.
    fill(ctx, "poddisruptionbudgets", api.objects[("poddisruptionbudgets", "ns", "b")])
    writes = len(api.writes)
    await ctrl.sync("ns/b")
    assert len(api.writes) == writes


async def test_insufficient_pods_condition() -> None:
    ctx, api, _events = make_ctx()
    ctrl = d.DisruptionController(ctx)
    budget = api.put("poddisruptionbudgets", pdb(minAvailable=3))
    fill(ctx, "poddisruptionbudgets", budget)
    fill(ctx, "pods", pod("a"))
    await ctrl.sync("ns/b")
    cond = api.objects[("poddisruptionbudgets", "ns", "b")]["status"]["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

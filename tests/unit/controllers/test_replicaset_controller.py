"""ReplicaSet controller: victim ranking, slow start, status, and syncs on a pre-filled cache."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from navarch.client.errors import ApiError
from navarch.controllers import replicaset
from navarch.controllers.replicaset import ReplicaSetController, ReplicationControllerController
from navarch.machinery.clock import FakeClock
from tests.unit.controllers.workload_fakes import make_context

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def ts(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_pod(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, ready_ago: float = 100,
             created_ago: float = 1000, restarts: int = 0, cost: str | None = None, owner: str | None = "rs",
             labels: dict[str, str] | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": ts(created_ago),
                            "labels": labels if labels is not None else {"app": "a"}, "resourceVersion": "1"}
    if cost is not None:
        meta["annotations"] = {replicaset.POD_DELETION_COST: cost}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                    "uid": f"uid-{owner}", "controller": True}]
    if deleting:
        meta["deletionTimestamp"] = ts(0)
    conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts(ready_ago)}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": conds, "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def make_rs(name: str = "rs", replicas: int = 3, *, min_ready: int = 0, generation: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": generation,
                         "resourceVersion": "1"},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": {"app": "a"}},
                     "template": {"metadata": {"labels": {"app": "a"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
            "status": {"replicas": 0}}


# ---- victim ranking ----------------------------------------------------------------------------

RANK_CASES = [
    ("unscheduled first", make_pod("a", node=""), make_pod("b")),
    ("pending before running", make_pod("a", phase="Pending"), make_pod("b")),
    ("unknown before running", make_pod("a", phase="Unknown"), make_pod("b")),
    ("not ready before ready", make_pod("a", ready=False), make_pod("b")),
    ("lower deletion cost first", make_pod("a", cost="-5"), make_pod("b", cost="10")),
    ("invalid cost counts as 0", make_pod("a", cost="oops"), make_pod("b", cost="1")),
    ("ready more recently first", make_pod("a", ready_ago=10), make_pod("b", ready_ago=10000)),
    ("more restarts first", make_pod("a", restarts=5), make_pod("b", restarts=1)),
    ("newer first", make_pod("a", created_ago=10), make_pod("b", created_ago=100000)),
]


@pytest.mark.parametrize("first,second", [(a, b) for _, a, b in RANK_CASES], ids=[c[0] for c in RANK_CASES])
def test_victim_ranking(first: dict[str, Any], second: dict[str, Any]) -> None:
    assert replicaset.compare_for_deletion(first, second, 0, 0, NOW) < 0
    assert replicaset.compare_for_deletion(second, first, 0, 0, NOW) > 0
    assert replicaset.rank_for_deletion([second, first], [], NOW) == [first, second]


def test_ranking_order_of_criteria() -> None:
    # Scheduling beats readiness; readiness beats restarts.
    unscheduled_ready = make_pod("a", node="")
    scheduled_not_ready = make_pod("b", ready=False)
    assert replicaset.compare_for_deletion(unscheduled_ready, scheduled_not_ready, 0, 0, NOW) < 0
    not_ready = make_pod("c", ready=False)
    restarting_ready = make_pod("d", restarts=50)
    assert replicaset.compare_for_deletion(not_ready, restarting_ready, 0, 0, NOW) < 0


def test_colocated_pods_go_first_and_similar_ages_tie_on_uid() -> None:
    crowded = make_pod("x", node="busy")
    alone = make_pod("y", node="quiet")
    related = [crowded, alone, make_pod("z", node="busy", owner="sibling")]
    assert replicaset.pods_to_delete([alone, crowded], related, 1, NOW) == [crowded]
    # Ages within the same power of two are equal: the uid decides, not the exact second.
    a = make_pod("a", created_ago=1000)
    b = make_pod("b", created_ago=1001)
    assert replicaset.compare_for_deletion(b, a, 0, 0, NOW) > 0
    assert replicaset.compare_for_deletion(a, b, 0, 0, NOW) < 0


def test_pods_to_delete_takes_everything_when_asked() -> None:
    pods = [make_pod("a"), make_pod("b")]
    assert replicaset.pods_to_delete(pods, [], 5, NOW) == pods


# ---- slow start --------------------------------------------------------------------------------


async def test_slow_start_doubles_and_stops_at_first_failed_batch() -> None:
    calls: list[int] = []

    async def ok() -> None:
        calls.append(1)

    assert await replicaset.slow_start_batch(10, 1, ok) == (10, None)
    assert len(calls) == 10

    attempts = 0

    async def fail_after_three() -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 3:
            raise RuntimeError("quota")

    successes, err = await replicaset.slow_start_batch(20, 1, fail_after_three)
    # batches 1, 2 succeed (3 calls); the batch of 4 fails entirely; nothing more is tried
    assert (successes, attempts, str(err)) == (3, 7, "quota")


# ---- status ------------------------------------------------------------------------------------


def test_calculate_status_counts_and_failure_condition() -> None:
    rs = make_rs(replicas=4, min_ready=30)
    pods = [make_pod("a", ready_ago=100), make_pod("b", ready_ago=5), make_pod("c", ready=False),
            make_pod("d", labels={"app": "a", "extra": "x"})]
    status = replicaset.calculate_status(rs, pods, None, NOW)
    assert (status["replicas"], status["fullyLabeledReplicas"], status["readyReplicas"],
            status["availableReplicas"]) == (4, 4, 3, 2)
    assert "conditions" not in status
    err = ApiError({"code": 403, "reason": "Forbidden", "message": 'pods "x" is forbidden: exceeded quota'})
    failed = replicaset.calculate_status(make_rs(replicas=6), pods, err, NOW)
    (cond,) = failed["conditions"]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "ReplicaFailure", "True", "FailedCreate", 'pods "x" is forbidden: exceeded quota')
    recovered = replicaset.calculate_status({**rs, "status": failed}, pods, None, NOW)
    assert "conditions" not in recovered


# ---- syncs on a pre-filled cache ---------------------------------------------------------------


def _controller(cls: type = ReplicaSetController) -> tuple[Any, Any, Any, FakeClock]:
    clock = FakeClock(NOW)
    ctx, client, events = make_context(clock)
    return cls(ctx), client, events, clock


async def test_sync_creates_missing_pods_once_while_cache_lags() -> None:
    c, client, events, _ = _controller()
    rs = make_rs(replicas=3)
    c.factory.informer("apps/v1/replicasets").indexer.add(rs)
    await c.sync("ns/rs")
    created = client.writes("create", "pods")
    assert len(created) == 3
    body = created[0][1]
    assert body["metadata"]["generateName"] == "rs-"
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                                    "uid": "uid-rs", "controller": True, "blockOwnerDeletion": True}]
    assert events.reasons().count("SuccessfulCreate") == 3
    assert events.events[0][2] == f"Created pod: {created[0][0]}"
    # The informer has not shown the pods yet: a second sync must not create again.
    await c.sync("ns/rs")
    assert len(client.writes("create", "pods")) == 3
    # Once they are observed, nothing more is needed.
    for name, obj in created:
        c.factory.informer("v1/pods").indexer.add(obj)
        c._pod_added(obj)
    await c.sync("ns/rs")
    assert len(client.writes("create", "pods")) == 3


async def test_sync_deletes_the_best_victims_and_records_failures() -> None:
    c, client, events, _ = _controller()
    c.factory.informer("apps/v1/replicasets").indexer.add(make_rs(replicas=1))
    for p in (make_pod("old", created_ago=10**6), make_pod("pending", phase="Pending"), make_pod("unready", ready=False)):
        c.factory.informer("v1/pods").indexer.add(p)
    await c.sync("ns/rs")
    assert sorted(n for n, _ in client.writes("delete", "pods")) == ["pending", "unready"]
    assert sorted(m for _, r, m in events.events if r == "SuccessfulDelete") == ["Deleted pod: pending",
                                                                                 "Deleted pod: unready"]
    status = client.writes("update/status", "replicasets")[-1][1]["status"]
    assert status["replicas"] == 3 and status["observedGeneration"] == 1


async def test_failed_create_lowers_expectations_and_sets_condition() -> None:
    c, client, events, _ = _controller()
    c.factory.informer("apps/v1/replicasets").indexer.add(make_rs(replicas=4))

    async def refuse(*a: Any, **kw: Any) -> Any:
        raise ApiError({"code": 403, "reason": "Forbidden", "message": "exceeded quota"})

    client.create = refuse  # type: ignore[method-assign]
    with pytest.raises(ApiError):
        await c.sync("ns/rs")
    assert events.events == [("Warning", "FailedCreate", "Error creating: exceeded quota")]
    assert c.expectations.satisfied("ns/rs")
    status = client.writes("update/status", "replicasets")[-1][1]["status"]
    assert status["conditions"][0]["reason"] == "FailedCreate"


async def test_adopts_orphans_and_ignores_other_owners() -> None:
    c, client, _, _ = _controller()
    c.factory.informer("apps/v1/replicasets").indexer.add(make_rs(replicas=2))
    client.objects[("replicasets", "ns", "rs")] = make_rs(replicas=2)
    c.factory.informer("v1/pods").indexer.add(make_pod("orphan", owner=None))
    c.factory.informer("v1/pods").indexer.add(make_pod("foreign", owner="other"))
    await c.sync("ns/rs")
    patches = client.writes("patch", "pods")
    assert [n for n, _ in patches] == ["orphan"]
    assert patches[0][1]["metadata"]["ownerReferences"][0]["uid"] == "uid-rs"
    assert len(client.writes("create", "pods")) == 1


async def test_replication_controller_uses_a_label_map() -> None:
    c, client, _, _ = _controller(ReplicationControllerController)
    rc = make_rs("rc", replicas=1)
    rc.update(apiVersion="v1", kind="ReplicationController")
    rc["spec"]["selector"] = {"app": "a"}
    c.factory.informer("v1/replicationcontrollers").indexer.add(rc)
    await c.sync("ns/rc")
    (created,) = client.writes("create", "pods")
    assert created[1]["metadata"]["ownerReferences"][0]["kind"] == "ReplicationController"
    assert ReplicationControllerController.name == "replicationcontroller"
    assert ReplicaSetController.name == "replicaset"


async def test_min_ready_requeues_until_available() -> None:
    c, client, _, clock = _controller()
    c.factory.informer("apps/v1/replicasets").indexer.add(make_rs(replicas=1, min_ready=30))
    c.factory.informer("v1/pods").indexer.add(make_pod("p", ready_ago=1))
    await c.sync("ns/rs")
    assert len(c.queue) == 0
    clock.advance(31)
    await asyncio.sleep(0)
    assert len(c.queue) == 1

"""Node lifecycle: heartbeats and grace periods, taints, zones, and taint-based eviction timing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from navarch.controllers import nodelifecycle as nl
from navarch.machinery.clock import FakeClock
from navarch.machinery.events import timestamp
from tests.unit.controllers.hygiene_fakes import fill, make_ctx

UNREACHABLE_NE = {"key": nl.UNREACHABLE, "effect": "NoExecute"}


@pytest.mark.parametrize("tol, taint, ok", [
    ({"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}, UNREACHABLE_NE, True),
    ({"operator": "Exists"}, UNREACHABLE_NE, True),
    ({"key": nl.NOT_READY, "operator": "Exists"}, UNREACHABLE_NE, False),
    ({"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoSchedule"}, UNREACHABLE_NE, False),
    ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoExecute"}, True),
    ({"key": "k", "value": "w"}, {"key": "k", "value": "v", "effect": "NoExecute"}, False),
], ids=["exact", "wildcard", "other-key", "other-effect", "equal", "unequal"])
def test_tolerates(tol: dict[str, Any], taint: dict[str, Any], ok: bool) -> None:
    assert nl.tolerates(tol, taint) is ok


def test_eviction_time() -> None:
    clock = FakeClock()
    t0 = clock.now()
    added = {**UNREACHABLE_NE, "timeAdded": timestamp(t0)}
    tol = {"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}
    assert nl.eviction_time([], [{"key": "x", "effect": "NoSchedule"}], t0) is None
    assert nl.eviction_time([], [added], t0) == nl.Eviction(t0, untolerated=True)
    assert nl.eviction_time([tol], [added], t0) == nl.Eviction(None)
    both = [{**tol, "tolerationSeconds": 300}, {"operator": "Exists", "tolerationSeconds": 30}]
    assert nl.eviction_time(both, [added], t0) == nl.Eviction(t0 + timedelta(seconds=30))
    # Counted from the taint's timeAdded, not from when we looked.
    assert nl.eviction_time(both, [added], t0 + timedelta(seconds=20)) == nl.Eviction(t0 + timedelta(seconds=30))


@pytest.mark.parametrize("ready, not_ready, state", [
    (3, 0, nl.NORMAL_ZONE), (0, 2, nl.FULL), (1, 3, nl.PARTIAL), (3, 2, nl.NORMAL_ZONE), (10, 3, nl.NORMAL_ZONE),
], ids=["healthy", "full", "partial", "two-down", "few-down"])
def test_zone_state(ready: int, not_ready: int, state: str) -> None:
    assert nl.zone_state(ready, not_ready, 0.55) == state


def test_token_bucket() -> None:
    b = nl.TokenBucket(0.1, 0.0)
    assert b.try_take(0.0) and not b.try_take(5.0) and b.try_take(10.0)
    b.set_rate(0.0, 100.0)
    assert not b.try_take(200.0)


def node(name: str, ready: str = "True", heartbeat: str = "2025-01-01T00:00:00Z", taints: list[Any] | None = None,
         zone: str = "") -> dict[str, Any]:
    labels = {nl.ZONE_LABEL: zone} if zone else {}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "uid": f"u-{name}", "resourceVersion": "1", "labels": labels,
                         "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"taints": taints or []},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastHeartbeatTime": heartbeat,
                                       "reason": "KubeletReady"}]}}


def lease(name: str, renew: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": nl.LEASE_NAMESPACE, "resourceVersion": "1"},
            "spec": {"holderIdentity": name, "renewTime": renew}}


def pod(name: str, node_name: str, tolerations: list[Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "resourceVersion": "1"},
            "spec": {"nodeName": node_name, "tolerations": tolerations or []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


async def test_silent_node_becomes_unknown_after_grace_and_lease_renewal_keeps_it_alive() -> None:
    clock = FakeClock()
    ctx, api, events = make_ctx(clock=clock, **{"node-monitor-grace-period": 40.0})
    ctrl = nl.NodeLifecycleController(ctx)
    for n in (node("n1"), node("n2")):
        api.put("nodes", n)
        fill(ctx, "nodes", n)
    fill(ctx, "leases", lease("n1", "t0"), lease("n2", "t0"), namespace=nl.LEASE_NAMESPACE)
    p = api.put("pods", pod("p", "n1"))
    fill(ctx, "pods", p)
    await ctrl.monitor_node_health()  # first sight: registered, full grace from now
    assert events.reasons().count("RegisteredNode") == 2
    clock.advance(30)
    fill(ctx, "leases", lease("n2", "t30"), namespace=nl.LEASE_NAMESPACE)  # n2's kubelet renews
    await ctrl.monitor_node_health()
    assert not [w for w in api.writes if w[0].startswith("update")]
    clock.advance(20)  # n1 silent for 50s, n2 for 20s
    await ctrl.monitor_node_health()
    status_writes = [w for w in api.writes if w[0] == "update/status"]
    assert [w[2] for w in status_writes] == ["/n1"]
    ready = next(c for c in status_writes[0][3]["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert ready["lastHeartbeatTime"] == "2025-01-01T00:00:00Z"
    assert "NodeNotReady" in events.reasons()
    pod_patch = next(w for w in api.writes if w[1] == "pods")
    assert pod_patch[3]["status"]["conditions"][0] == {"type": "Ready", "status": "False",
                                                       "lastTransitionTime": timestamp(clock.now())}


async def test_unknown_node_gets_unreachable_taints_and_loses_them_on_recovery() -> None:
    clock = FakeClock()
    ctx, api, _events = make_ctx(clock=clock)
    ctrl = nl.NodeLifecycleController(ctx)
    healthy = node("h1")
    fill(ctx, "nodes", healthy)
    dead = api.put("nodes", node("n1", ready="Unknown"))
    fill(ctx, "nodes", dead)
    ctrl._update_zone_states(ctrl.nodes.list())
    ctrl._plan_no_execute(dead)
    await ctrl._taint_pending()
    fill(ctx, "nodes", api.objects[("nodes", "", "n1")])  # the informer sees the write
    await ctrl._sync_node("n1")
    taints = api.objects[("nodes", "", "n1")]["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {(nl.UNREACHABLE, "NoSchedule"), (nl.UNREACHABLE, "NoExecute")}
    assert all(t["timeAdded"] for t in taints)
    recovered = api.put("nodes", {**api.objects[("nodes", "", "n1")],
                                  "status": node("n1")["status"]})
    fill(ctx, "nodes", recovered)
    await ctrl._sync_node("n1")
    assert api.objects[("nodes", "", "n1")]["spec"].get("taints") is None


async def test_all_zones_fully_disrupted_means_no_no_execute_taints() -> None:
    ctx, api, _events = make_ctx()
    ctrl = nl.NodeLifecycleController(ctx)
    dead = api.put("nodes", node("n1", ready="Unknown"))
    fill(ctx, "nodes", dead)
    ctrl._update_zone_states(ctrl.nodes.list())
    assert ctrl.all_fully_disrupted()
    ctrl._plan_no_execute(dead)
    await ctrl._taint_pending()
    await ctrl._sync_node("n1")
    taints = api.objects[("nodes", "", "n1")]["spec"]["taints"]
    assert [(t["key"], t["effect"]) for t in taints] == [(nl.UNREACHABLE, "NoSchedule")]


async def test_taint_eviction_waits_for_toleration_seconds() -> None:
    clock = FakeClock()
    ctx, api, events = make_ctx(clock=clock)
    ctrl = nl.NodeLifecycleController(ctx)
    taint = {**UNREACHABLE_NE, "timeAdded": timestamp(clock.now())}
    fill(ctx, "nodes", node("n1", ready="Unknown", taints=[taint]))
    tol = [{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}]
    for p in (pod("patient", "n1", tol), pod("intolerant", "n1"), pod("forever", "n1", [{"operator": "Exists"}])):
        api.put("pods", p)
        fill(ctx, "pods", p)
    for name in ("patient", "intolerant", "forever"):
        await ctrl.sync(f"pod:ns/{name}")
    deleted = [k for v, _, k in api.verbs() if v == "delete"]
    assert deleted == ["ns/intolerant"]
    assert events.reasons() == ["TaintManagerEviction"]
    clock.advance(29)
    await ctrl.sync("pod:ns/patient")
    assert [k for v, _, k in api.verbs() if v == "delete"] == ["ns/intolerant"]
    clock.advance(2)
    await ctrl.sync("pod:ns/patient")
    assert [k for v, _, k in api.verbs() if v == "delete"] == ["ns/intolerant", "ns/patient"]
    reason = next(w[3] for w in api.writes if w[0] == "patch" and w[2] == "ns/patient")["status"]["conditions"][-1]
    assert (reason["type"], reason["reason"]) == ("DisruptionTarget", "DeletionByTaintManager")

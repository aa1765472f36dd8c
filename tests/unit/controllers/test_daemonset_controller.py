"""Node eligibility, pinning, per-node management and rolling-update budgets of the DaemonSet controller."""

from datetime import UTC, datetime

import pytest

from navarch.controllers import daemonset as ds

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def node(name, labels=None, taints=None):
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


@pytest.mark.parametrize("tspec,n,want", [
    ({}, node("a"), (True, True)),
    ({"nodeSelector": {"disk": "ssd"}}, node("a", {"disk": "ssd"}), (True, True)),
    ({"nodeSelector": {"disk": "ssd"}}, node("a", {"disk": "hdd"}), (False, False)),
    ({}, node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]), (False, True)),
    ({}, node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoExecute"}]), (False, False)),
    ({}, node("a", taints=[{"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}]), (True, True)),
    ({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]},
     node("a", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]), (True, True)),
    ({"tolerations": [{"operator": "Exists"}]},
     node("a", taints=[{"key": "x", "effect": "NoExecute"}]), (True, True)),
    ({}, node("a", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]), (True, True)),
    ({}, node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]), (True, True)),
    ({}, node("a", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]), (False, True)),
    ({"hostNetwork": True},
     node("a", taints=[{"key": "node.kubernetes.io/network-unavailable", "effect": "NoSchedule"}]), (True, True)),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z1", "z2"]}]}]}}}},
     node("a", {"zone": "z2"}), (True, True)),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]}}}},
     node("a", {"zone": "z1"}), (False, False)),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["b"]}]}]}}}},
     node("a"), (False, False)),
    ({"nodeName": "b"}, node("a"), (False, False)),
], ids=["plain", "selector-match", "selector-miss", "noschedule-taint", "noexecute-taint", "prefer-taint",
        "tolerated", "tolerate-all", "auto-unschedulable", "auto-not-ready", "network-unavailable",
        "host-network", "affinity-in", "affinity-notin", "match-fields", "node-name"])
def test_node_should_run(tspec, n, want):
    assert ds.node_should_run(tspec, n) == want


def make_ds(**strategy):
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "u1", "generation": 1},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}},
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": strategy or {"maxUnavailable": 1}}}}


def test_new_pod_is_pinned_by_affinity_not_node_name():
    d = make_ds()
    d["spec"]["template"]["spec"]["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "Exists"}]}]}}}
    pod = ds.new_daemon_pod(d, "n1", "h1", "3")
    assert "nodeName" not in pod["spec"]
    terms = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]
    assert ds.target_node(pod) == "n1"
    keys = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in keys and len(keys) == 6
    assert pod["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "h1", "pod-template-generation": "3"}


def dpod(name, node_name, hash_="h1", ready=True, phase="Running", created="2025-01-01T00:00:00Z"):
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": created,
                         "labels": {"controller-revision-hash": hash_}},
            "spec": {"nodeName": node_name},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_manage_creates_deletes_and_dedups():
    nodes = [node("a"), node("b"), node("c", {"x": "y"}, [{"key": "k", "effect": "NoExecute"}]), node("d")]
    pods = {"b": [dpod("b1", "b", created="2025-01-01T00:00:01Z"), dpod("b0", "b")],
            "c": [dpod("c1", "c")],
            "d": [dpod("d1", "d", phase="Failed")]}
    plan = ds.manage(nodes, {}, pods, False, "h1")
    assert plan.create_on == ["a"]
    assert sorted(p["metadata"]["name"] for p in plan.delete) == ["b1", "c1"]
    assert [(n, p["metadata"]["name"]) for n, p in plan.failed] == [("d", "d1")]


def test_rolling_update_respects_max_unavailable():
    nodes = [node(n) for n in "abcd"]
    pods = {n: [dpod(n + "1", n, "old")] for n in "abcd"}
    d = make_ds(maxUnavailable=2)
    plan = ds.rolling_update(d, nodes, pods, "new", NOW)
    assert len(plan.delete) == 2 and not plan.create_on
    # One new pod not yet ready uses one unit of the budget.
    pods["a"] = [dpod("a2", "a", "new", ready=False)]
    plan = ds.rolling_update(d, nodes, pods, "new", NOW)
    assert len(plan.delete) == 1
    # Old pods that are down anyway are replaced regardless of the budget.
    pods = {n: [dpod(n + "1", n, "old", ready=False)] for n in "abcd"}
    assert len(ds.rolling_update(make_ds(maxUnavailable=1), nodes, pods, "new", NOW).delete) == 4


def test_rolling_update_with_surge_creates_before_deleting():
    nodes = [node(n) for n in "ab"]
    pods = {n: [dpod(n + "1", n, "old")] for n in "ab"}
    d = make_ds(maxSurge=1, maxUnavailable=0)
    plan = ds.rolling_update(d, nodes, pods, "new", NOW)
    assert plan.create_on == ["a"] and not plan.delete
    pods["a"].append(dpod("a2", "a", "new"))
    plan = ds.rolling_update(d, nodes, pods, "new", NOW)
    assert [p["metadata"]["name"] for p in plan.delete] == ["a1"]


def test_status():
    nodes = [node("a"), node("b"), node("c", taints=[{"key": "k", "effect": "NoSchedule"}])]
    pods = {"a": [dpod("a1", "a", "new")], "b": [dpod("b1", "b", "old", ready=False)], "c": [dpod("c1", "c")]}
    st = ds.compute_status(make_ds(), nodes, pods, "new", NOW)
    assert st == {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberMisscheduled": 1,
                  "numberReady": 1, "numberAvailable": 1, "updatedNumberScheduled": 1, "numberUnavailable": 1,
                  "observedGeneration": 1}

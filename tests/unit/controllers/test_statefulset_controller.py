"""The StatefulSet controller's ordering decisions, pods and claims."""

from datetime import UTC, datetime

import pytest

from navarch.controllers import statefulset as sts
from navarch.controllers.statefulset import Action

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def pod(ordinal, phase="Running", ready=True, rev="r1", deleting=False):
    p = {"metadata": {"name": f"web-{ordinal}", "labels": {"controller-revision-hash": rev}},
         "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return p


def decide(replicas, pods, parallel=False, on_delete=False, partition=0, current="r1", update="r1"):
    return sts.decide(replicas, parallel, on_delete, partition, {i: p for i, p in pods.items()},
                      current, update, 0, NOW)


@pytest.mark.parametrize("replicas,pods,parallel,want", [
    (3, {}, False, [Action("create", 0, "r1")]),
    (3, {0: pod(0, "Pending", False)}, False, []),
    (3, {0: pod(0)}, False, [Action("create", 1, "r1")]),
    (3, {0: pod(0), 1: pod(1, ready=False)}, False, []),
    (3, {}, True, [Action("create", 0, "r1"), Action("create", 1, "r1"), Action("create", 2, "r1")]),
    (3, {0: pod(0), 1: pod(1, "Failed"), 2: pod(2)}, False, [Action("delete", 1)]),
    (1, {0: pod(0), 1: pod(1), 2: pod(2)}, False, [Action("delete", 2)]),
    (1, {0: pod(0), 1: pod(1), 2: pod(2, deleting=True)}, False, []),
    (1, {0: pod(0), 1: pod(1), 2: pod(2)}, True, [Action("delete", 2), Action("delete", 1)]),
    (2, {0: pod(0, ready=False), 1: pod(1), 2: pod(2)}, False, []),
], ids=["first", "wait-for-ready", "next", "wait-not-ready", "parallel-burst", "replace-failed",
        "scale-down-highest-first", "scale-down-waits", "parallel-scale-down", "no-scale-down-while-unhealthy"])
def test_decide_ordering(replicas, pods, parallel, want):
    assert decide(replicas, pods, parallel) == want


def test_rolling_update_highest_ordinal_first_down_to_partition():
    pods = {i: pod(i, rev="old") for i in range(3)}
    assert decide(3, pods, current="old", update="new") == [Action("delete", 2)]
    pods[2] = pod(2, rev="new")
    assert decide(3, pods, current="old", update="new") == [Action("delete", 1)]
    pods[1] = pod(1, "Pending", False, rev="new")
    assert decide(3, pods, current="old", update="new") == []  # wait for the replacement
    pods[1] = pod(1, rev="new")
    assert decide(3, pods, current="old", update="new", partition=1) == []  # ordinal 0 is below the partition


def test_missing_pod_below_partition_gets_current_revision():
    pods = {1: pod(1, rev="new")}
    assert decide(2, pods, current="old", update="new", partition=1) == [Action("create", 0, "old")]


def test_on_delete_never_deletes_for_update():
    pods = {i: pod(i, rev="old") for i in range(2)}
    assert decide(2, pods, on_delete=True, current="old", update="new") == []
    del pods[1]
    assert decide(2, pods, on_delete=True, current="old", update="new") == [Action("create", 1, "new")]


@pytest.mark.parametrize("set_name,pod_name,want", [("web", "web-0", 0), ("web", "web-12", 12),
                                                     ("web", "web2-1", None), ("web-a", "web-a-3", 3),
                                                     ("web", "web-x", None)])
def test_parse_ordinal(set_name, pod_name, want):
    assert sts.parse_ordinal(set_name, pod_name) == want


def make_set(**spec):
    s = {"replicas": 3, "serviceName": "nginx", "selector": {"matchLabels": {"app": "web"}},
         "template": {"metadata": {"labels": {"app": "web"}},
                      "spec": {"containers": [{"name": "c", "image": "nginx"}],
                               "volumes": [{"name": "data", "emptyDir": {}}]}},
         "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}
    s.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 2}, "spec": s}


def test_new_pod_identity_and_storage():
    s = make_set()
    p = sts.new_pod(s, 1, "web-abc", s["spec"]["template"])
    assert p["metadata"]["name"] == "web-1"
    labels = p["metadata"]["labels"]
    assert labels[sts.POD_NAME_LABEL] == "web-1" and labels[sts.POD_INDEX_LABEL] == "1"
    assert labels["controller-revision-hash"] == "web-abc" and labels["app"] == "web"
    assert p["spec"]["hostname"] == "web-1" and p["spec"]["subdomain"] == "nginx"
    assert p["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}}]
    assert p["metadata"]["ownerReferences"][0]["uid"] == "u1"


def test_claims_follow_retention_policy():
    retained = sts.new_claims(make_set(), 0)
    assert [c["metadata"]["name"] for c in retained] == ["data-web-0"]
    assert retained[0]["metadata"]["labels"] == {"app": "web"}
    assert "ownerReferences" not in retained[0]["metadata"]
    deleted = sts.new_claims(make_set(persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete"}), 0)
    assert deleted[0]["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


def test_status_counts_and_completes_rollout():
    s = make_set()
    pods = [pod(0, rev="new"), pod(1, rev="new"), pod(2, "Pending", False, rev="new")]
    st = sts.compute_status(s, pods, "old", "new", 0, NOW)
    assert (st["replicas"], st["readyReplicas"], st["updatedReplicas"], st["currentReplicas"]) == (3, 2, 3, 0)
    assert st["currentRevision"] == "old" and st["observedGeneration"] == 2
    pods[2] = pod(2, rev="new")
    st = sts.compute_status(s, pods, "old", "new", 0, NOW)
    assert st["currentRevision"] == "new" and st["currentReplicas"] == 3

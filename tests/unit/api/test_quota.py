import datetime as dt
from decimal import Decimal

import pytest

from navarch.api import quota
from navarch.api.quota import Q


@pytest.mark.parametrize("text,shown", [
    ("500m", "500m"), ("2000", "2k"), ("1500", "1500"), ("1.5Gi", "1536Mi"), ("0.1", "100m"), ("1024", "1024"),
    ("1048576Ki", "1Gi"), ("0", "0"),
])
def test_canonical_format(text: str, shown: str) -> None:
    assert str(Q.parse(text)) == shown


def test_sum_takes_format_of_first_nonzero_term() -> None:
    assert str(quota.ZERO + Q.parse("128Mi") + Q.parse("64Mi")) == "192Mi"
    assert str(Q.parse("500m") + Q.parse("500m")) == "1"


def test_pod_usage_sums_containers_and_floors_with_init() -> None:
    pod = {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                                                "limits": {"cpu": "200m"}}},
                                   {"name": "b", "resources": {"requests": {"cpu": "100m"}}}],
                    "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]}}
    u = quota.pod_usage(pod)
    assert {k: str(v) for k, v in u.items()} == {
        "pods": "1", "count/pods": "1", "cpu": "1", "requests.cpu": "1", "memory": "64Mi",
        "requests.memory": "64Mi", "limits.cpu": "200m"}


def test_finished_or_expired_pods_use_nothing() -> None:
    assert quota.pod_usage({"spec": {}, "status": {"phase": "Succeeded"}}) == {}
    deleting = {"metadata": {"deletionTimestamp": "2025-01-01T00:00:00Z", "deletionGracePeriodSeconds": 30},
                "spec": {}}
    assert quota.pod_usage(deleting, dt.datetime(2025, 1, 1, 0, 1, tzinfo=dt.UTC)) == {}
    assert quota.pod_usage(deleting, dt.datetime(2025, 1, 1, 0, 0, 10, tzinfo=dt.UTC))["pods"].value == 1


def test_service_and_claim_usage() -> None:
    svc = quota.service_usage({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}})
    assert svc["services.nodeports"].value == 2 and svc["services.loadbalancers"].value == 0
    pvc = quota.pvc_usage({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}})
    assert str(pvc["requests.storage"]) == "5Gi"
    assert pvc["fast.storageclass.storage.k8s.io/requests.storage"].value == 5 * 2 ** 30


@pytest.mark.parametrize("name,kind", [
    ("pods", ("", "pods")), ("requests.cpu", ("", "pods")), ("limits.memory", ("", "pods")),
    ("requests.storage", ("", "persistentvolumeclaims")), ("services.nodeports", ("", "services")),
    ("count/deployments.apps", ("apps", "deployments")), ("count/secrets", ("", "secrets")), ("secrets", ("", "secrets")),
    ("gold.storageclass.storage.k8s.io/requests.storage", ("", "persistentvolumeclaims")), ("bogus", None),
])
def test_kind_of(name: str, kind: tuple[str, str] | None) -> None:
    assert quota.kind_of(name) == kind


def test_scopes() -> None:
    best_effort = {"spec": {"containers": [{"name": "c"}]}}
    burstable = {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
                          "activeDeadlineSeconds": 30, "priorityClassName": "high"}}
    q = {"spec": {"scopes": ["BestEffort"]}}
    assert quota.matches_scopes(q, "pods", "", best_effort) and not quota.matches_scopes(q, "pods", "", burstable)
    q = {"spec": {"scopes": ["Terminating"], "scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}}
    assert quota.matches_scopes(q, "pods", "", burstable) and not quota.matches_scopes(q, "pods", "", best_effort)
    assert not quota.matches_scopes(q, "configmaps", "", {})


def test_missing_requests_message() -> None:
    pod = {"spec": {"containers": [{"name": "a"}, {"name": "b", "resources": {"limits": {"memory": "1Gi"}}}]}}
    assert quota.missing_requests(pod, ["requests.cpu", "limits.memory", "pods"]) == (
        "must specify limits.memory for: a; requests.cpu for: a,b")
    assert quota.missing_requests(pod, ["pods"]) is None


def test_compute_used_counts_matching_objects() -> None:
    q = {"spec": {"hard": {"pods": "5", "requests.memory": "1Gi"}}}
    pods = [{"spec": {"containers": [{"name": "c", "resources": {"requests": {"memory": "100Mi"}}}]}}] * 3
    used = quota.compute_used(q, {("", "pods"): pods})
    assert quota.render_list(used) == {"pods": "3", "requests.memory": "300Mi"}
    assert quota.compute_used(q, {})["pods"].value == Decimal(0)

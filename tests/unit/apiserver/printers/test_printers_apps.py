"""Cells for apps/v1 objects, compared with what ``kubectl get`` prints against a real cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from navarch.api.resources import REGISTRY
from navarch.apiserver.printers import columns_for, row_cells

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2024-05-01T09:00:00Z"  # 3h before NOW

TEMPLATE = {"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}],
                     "nodeSelector": {"kubernetes.io/os": "linux"}}}
SELECTOR = {"matchLabels": {"app": "web"}}


def cells(plural: str, obj: dict[str, Any]) -> list[Any]:
    resource = REGISTRY.get("apps", "v1", plural)
    assert resource is not None
    out = row_cells(resource, obj, NOW)
    assert len(out) == len(columns_for(resource))
    return out


def make(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "creationTimestamp": CREATED, **meta},
            "spec": {"selector": SELECTOR, "template": TEMPLATE, **(spec or {})}, "status": status or {}}


def test_deployment_two_of_three_ready() -> None:
    d = make({"replicas": 3}, {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2})
    # kubectl -o wide: web   2/3   3   2   3h   nginx   nginx:1.25   app=web
    assert cells("deployments", d) == ["web", "2/3", 3, 2, "3h", "nginx", "nginx:1.25", "app=web"]


def test_deployment_fresh_and_scaled_to_zero() -> None:
    assert cells("deployments", make({"replicas": 2}))[1:4] == ["0/2", 0, 0]
    assert cells("deployments", make({"replicas": 0}))[1] == "0/0"


def test_deployment_selector_is_not_replaced_by_none() -> None:
    # Upstream prints the deployment's selector with selector.String(), unlike the other workloads.
    assert cells("deployments", make({"selector": {}}))[-1] == ""
    bad = {"matchExpressions": [{"key": "a", "operator": "Nope"}]}
    assert cells("deployments", make({"selector": bad}))[-1] == "<invalid>"


def test_replicaset() -> None:
    rs = make({"replicas": 3}, {"replicas": 3, "readyReplicas": 1})
    assert cells("replicasets", rs) == ["web", 3, 3, 1, "3h", "nginx", "nginx:1.25", "app=web"]


def test_statefulset() -> None:
    sts = make({"replicas": 3, "serviceName": "web"}, {"replicas": 2, "readyReplicas": 2})
    assert cells("statefulsets", sts) == ["web", "2/3", "3h", "nginx", "nginx:1.25"]


def test_daemonset() -> None:
    ds = make(status={"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                      "updatedNumberScheduled": 3, "numberAvailable": 2})
    assert cells("daemonsets", ds) == ["web", 3, 3, 2, 3, 2, "kubernetes.io/os=linux", "3h", "nginx", "nginx:1.25",
                                       "app=web"]
    cols = columns_for(REGISTRY.get("apps", "v1", "daemonsets"))  # type: ignore[arg-type]
    assert [c["name"] for c in cols if c["priority"] == 0] == [
        "Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"]


def test_controller_revision() -> None:
    cr = {"metadata": {"name": "web-7d4b9c", "creationTimestamp": CREATED,
                       "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "web",
                                            "controller": True, "uid": "u"}]},
          "revision": 2}
    assert cells("controllerrevisions", cr) == ["web-7d4b9c", "daemonset.apps/web", 2, "3h"]
    cr["metadata"]["ownerReferences"][0]["controller"] = False
    assert cells("controllerrevisions", cr)[1] == "<none>"

"""Cells for the smaller API groups, compared with what ``kubectl get`` prints against a real cluster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from navarch.api.resources import REGISTRY
from navarch.apiserver.printers import columns_for, row_cells
from navarch.apiserver.printers.other import hpa_metrics

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2024-04-29T12:00:00Z"  # 2d before NOW
META = {"name": "x", "creationTimestamp": CREATED}


def cells(group: str, version: str, plural: str, obj: dict[str, Any]) -> list[Any]:
    resource = REGISTRY.get(group, version, plural)
    assert resource is not None
    out = row_cells(resource, obj, NOW)
    assert len(out) == len(columns_for(resource))
    return out


def test_lease() -> None:
    lease = {"metadata": META, "spec": {"holderIdentity": "node-1"}}
    assert cells("coordination.k8s.io", "v1", "leases", lease) == ["x", "node-1", "2d"]
    assert cells("coordination.k8s.io", "v1", "leases", {"metadata": META, "spec": {}})[1] == ""


def test_endpoint_slice() -> None:
    es = {"metadata": META, "addressType": "IPv4",
          "ports": [{"name": "http", "port": 80}, {"name": "named"}, {}, {"port": 9000}],
          "endpoints": [{"addresses": ["10.42.0.1"]}, {"addresses": ["10.42.0.2", "10.42.0.3", "10.42.0.4"]}]}
    assert cells("discovery.k8s.io", "v1", "endpointslices", es) == [
        "x", "IPv4", "80,named,* + 1 more...", "10.42.0.1,10.42.0.2,10.42.0.3 + 1 more...", "2d"]
    empty = {"metadata": META, "addressType": "IPv4", "endpoints": None, "ports": None}
    assert cells("discovery.k8s.io", "v1", "endpointslices", empty)[2:4] == ["<unset>", "<unset>"]


def test_events_k8s_io_prints_like_core_events() -> None:
    ev = {"metadata": {"name": "web.17a"}, "eventTime": "2024-05-01T11:59:00.000000Z",
          "reportingController": "kubelet", "reportingInstance": "node-1", "action": "Pulling",
          "regarding": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{c}"},
          "reason": "Pulling", "type": "Normal", "note": "Pulling image \"nginx\"",
          "deprecatedCount": 2, "deprecatedFirstTimestamp": "2024-05-01T11:58:00Z",
          "deprecatedLastTimestamp": "2024-05-01T11:59:30Z"}
    assert cells("events.k8s.io", "v1", "events", ev) == [
        "30s", "Normal", "Pulling", "pod/web", "spec.containers{c}", "kubelet, node-1", 'Pulling image "nginx"',
        "2m", 2, "web.17a"]


def test_ingress() -> None:
    ing = {"metadata": META,
           "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
                    "tls": [{"hosts": ["a.example.com"]}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "192.168.49.2"}]}}}
    assert cells("networking.k8s.io", "v1", "ingresses", ing) == [
        "x", "nginx", "a.example.com,b.example.com", "192.168.49.2", "80, 443", "2d"]
    bare = {"metadata": META, "spec": {"rules": [{"http": {}}]}}
    assert cells("networking.k8s.io", "v1", "ingresses", bare)[1:5] == ["<none>", "*", "", "80"]
    many = {"metadata": META, "spec": {"rules": [{"host": f"h{i}"} for i in range(5)]}}
    assert cells("networking.k8s.io", "v1", "ingresses", many)[2] == "h0,h1,h2 + 2 more..."


def test_ingress_class() -> None:
    ic = {"metadata": META, "spec": {"controller": "k8s.io/ingress-nginx",
                                     "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters",
                                                    "name": "external-lb"}}}
    assert cells("networking.k8s.io", "v1", "ingressclasses", ic) == [
        "x", "k8s.io/ingress-nginx", "IngressParameters.k8s.example.com/external-lb", "2d"]
    ic["spec"].pop("parameters")
    assert cells("networking.k8s.io", "v1", "ingressclasses", ic)[2] == "<none>"


def test_network_policy() -> None:
    np = {"metadata": META, "spec": {"podSelector": {"matchLabels": {"role": "db"}}}}
    assert cells("networking.k8s.io", "v1", "networkpolicies", np) == ["x", "role=db", "2d"]
    np["spec"]["podSelector"] = {}
    assert cells("networking.k8s.io", "v1", "networkpolicies", np)[1] == "<none>"


def test_pod_disruption_budget() -> None:
    pdb = {"metadata": META, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}
    assert cells("policy", "v1", "poddisruptionbudgets", pdb) == ["x", "2", "N/A", 1, "2d"]
    pdb = {"metadata": META, "spec": {"maxUnavailable": "25%"}, "status": {}}
    assert cells("policy", "v1", "poddisruptionbudgets", pdb) == ["x", "N/A", "25%", 0, "2d"]


def test_roles_use_default_table() -> None:
    assert cells("rbac.authorization.k8s.io", "v1", "roles", {"metadata": META}) == ["x", "2024-04-29T12:00:00Z"]
    assert cells("rbac.authorization.k8s.io", "v1", "clusterroles", {"metadata": META}) == ["x", "2024-04-29T12:00:00Z"]


def test_role_binding() -> None:
    rb = {"metadata": META, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
          "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                       {"kind": "Group", "name": "devs"},
                       {"kind": "ServiceAccount", "namespace": "default", "name": "builder"}]}
    assert cells("rbac.authorization.k8s.io", "v1", "rolebindings", rb) == [
        "x", "ClusterRole/view", "2d", "alice, bob", "devs", "default/builder"]
    crb = {"metadata": META, "roleRef": rb["roleRef"]}
    assert cells("rbac.authorization.k8s.io", "v1", "clusterrolebindings", crb) == [
        "x", "ClusterRole/view", "2d", "", "", ""]


def test_storage_class() -> None:
    sc = {"metadata": {**META, "name": "standard",
                       "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "rancher.io/local-path", "reclaimPolicy": "Delete",
          "volumeBindingMode": "WaitForFirstConsumer"}
    # kubectl: standard (default)   rancher.io/local-path   Delete   WaitForFirstConsumer   false   2d
    assert cells("storage.k8s.io", "v1", "storageclasses", sc) == [
        "standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False, "2d"]


def test_priority_class() -> None:
    pc = {"metadata": {**META, "name": "system-node-critical"}, "value": 2000001000,
          "preemptionPolicy": "PreemptLowerPriority"}
    assert cells("scheduling.k8s.io", "v1", "priorityclasses", pc) == [
        "system-node-critical", 2000001000, False, "2d", "PreemptLowerPriority"]


def test_hpa() -> None:
    hpa = {"metadata": META,
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "php-apache"},
                    "minReplicas": 1, "maxReplicas": 10,
                    "metrics": [{"type": "Resource", "resource": {
                        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
           "status": {"currentReplicas": 1, "desiredReplicas": 1,
                      "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {
                          "averageUtilization": 0, "averageValue": "1m"}}}]}}
    # kubectl: x   Deployment/php-apache   cpu: 0%/50%   1   10   1   2d
    assert cells("autoscaling", "v2", "horizontalpodautoscalers", hpa) == [
        "x", "Deployment/php-apache", "cpu: 0%/50%", "1", 10, 1, "2d"]
    hpa["status"] = {}
    assert cells("autoscaling", "v2", "horizontalpodautoscalers", hpa)[2] == "cpu: <unknown>/50%"


@pytest.mark.parametrize(("specs", "statuses", "want"), [
    ([], [], "<none>"),
    ([{"type": "Resource", "resource": {"name": "memory",
                                        "target": {"type": "AverageValue", "averageValue": "100Mi"}}}],
     [{"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "80Mi"}}}],
     "memory: 80Mi/100Mi"),
    ([{"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "1k"}}}],
     [], "<unknown>/1k"),
    ([{"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}}],
     [{"type": "External", "external": {"current": {"value": "12"}}}], "12/30"),
    ([{"type": "Object", "object": {"target": {"type": "AverageValue", "averageValue": "2"}}}],
     [], "<unknown>/2 (avg)"),
    ([{"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                                                          "target": {"type": "Utilization"}}}],
     [], "cpu: <unknown>/<auto>"),
    ([{"type": "Resource", "resource": {"name": "cpu", "target": {"averageUtilization": 50}}}] * 3, [],
     "cpu: <unknown>/50%, cpu: <unknown>/50% + 1 more..."),
    ([{"type": "Weird"}], [], "<unknown type>"),
], ids=["none", "average-value", "pods", "external", "object-avg", "container-auto", "more", "unknown-type"])
def test_hpa_metrics(specs: list[dict[str, Any]], statuses: list[dict[str, Any]], want: str) -> None:
    assert hpa_metrics(specs, statuses) == want


def test_csr() -> None:
    csr = {"metadata": META, "spec": {"signerName": "kubernetes.io/kube-apiserver-client", "username": "admin",
                                      "expirationSeconds": 86400},
           "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"}}
    assert cells("certificates.k8s.io", "v1", "certificatesigningrequests", csr) == [
        "x", "2d", "kubernetes.io/kube-apiserver-client", "admin", "24h", "Approved,Issued"]
    csr["spec"].pop("expirationSeconds")
    csr["status"] = {"conditions": [{"type": "Denied"}, {"type": "Failed"}]}
    assert cells("certificates.k8s.io", "v1", "certificatesigningrequests", csr)[4:] == ["<none>", "Denied,Failed"]
    csr["status"] = {}
    assert cells("certificates.k8s.io", "v1", "certificatesigningrequests", csr)[5] == "Pending"

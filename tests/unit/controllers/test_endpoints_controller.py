"""Endpoints and EndpointSlices: which pods, which addresses, which ports, how sliced."""

from __future__ import annotations

from typing import Any

import pytest

from navarch.controllers import endpoints as ep
from navarch.controllers import endpointslice as es


def svc(name: str = "web", *, ports: list[dict[str, Any]] | None = None, selector: dict[str, str] | None = None,
        headless: bool = False, publish: bool = False, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": "web"} if selector is None else selector,
                            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
                            if ports is None else ports,
                            "clusterIP": "None" if headless else "10.96.0.5", "ipFamilies": ["IPv4"]}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "ns", "uid": "svc-uid", "labels": labels or {}}, "spec": spec}


def pod(name: str, ip: str | None, *, ready: bool = True, port: int = 8080, phase: str = "Running",
        deleting: bool = False, hostname: str = "", subdomain: str = "", node: str = "n1") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "labels": {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "c", "ports": [
        {"name": "http", "containerPort": port, "protocol": "TCP"}]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def ips(addresses: list[dict[str, Any]] | None) -> list[str]:
    return [a["ip"] for a in addresses or []]


@pytest.mark.parametrize("p, include, expected", [
    (pod("a", "10.0.0.1"), False, True),
    (pod("a", None), False, False),
    (pod("a", "10.0.0.1", phase="Succeeded"), True, False),
    (pod("a", "10.0.0.1", deleting=True), False, False),
    (pod("a", "10.0.0.1", deleting=True), True, True),
], ids=["running", "no-ip", "terminal", "terminating", "terminating-included"])
def test_which_pods_belong(p: dict[str, Any], include: bool, expected: bool) -> None:
    assert ep.should_pod_be_in_endpoints(p, include) is expected


def test_ready_and_not_ready_addresses() -> None:
    subsets = ep.endpoints_subsets(svc(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
                                           pod("c", None), pod("d", "10.0.0.4", deleting=True)])
    assert len(subsets) == 1
    s = subsets[0]
    assert ips(s.get("addresses")) == ["10.0.0.1"]
    assert ips(s.get("notReadyAddresses")) == ["10.0.0.2"]
    assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    addr = s["addresses"][0]
    assert addr["nodeName"] == "n1"
    assert addr["targetRef"] == {"kind": "Pod", "namespace": "ns", "name": "a", "uid": "uid-a"}


def test_publish_not_ready_addresses_lists_everyone_ready() -> None:
    subsets = ep.endpoints_subsets(svc(publish=True), [pod("a", "10.0.0.1", ready=False),
                                                      pod("b", "10.0.0.2", deleting=True)])
    assert ips(subsets[0]["addresses"]) == ["10.0.0.1", "10.0.0.2"]
    assert "notReadyAddresses" not in subsets[0]


def test_named_target_port_resolves_per_pod_into_separate_subsets() -> None:
    subsets = ep.endpoints_subsets(svc(), [pod("a", "10.0.0.1", port=8080), pod("b", "10.0.0.2", port=9090)])
    by_port = {s["ports"][0]["port"]: ips(s["addresses"]) for s in subsets}
    assert by_port == {8080: ["10.0.0.1"], 9090: ["10.0.0.2"]}


def test_pod_lacking_a_named_port_is_skipped_for_that_port() -> None:
    p = pod("a", "10.0.0.1")
    p["spec"]["containers"][0]["ports"] = []
    assert ep.endpoints_subsets(svc(), [p]) == []


def test_hostname_only_for_the_matching_subdomain() -> None:
    subsets = ep.endpoints_subsets(svc(), [pod("a", "10.0.0.1", hostname="a", subdomain="web"),
                                           pod("b", "10.0.0.2", hostname="b", subdomain="other")])
    hosts = {a["ip"]: a.get("hostname") for a in subsets[0]["addresses"]}
    assert hosts == {"10.0.0.1": "a", "10.0.0.2": None}


def test_headless_without_ports_gets_bare_addresses() -> None:
    subsets = ep.endpoints_subsets(svc(ports=[], headless=True), [pod("a", "10.0.0.1")])
    assert subsets == [{"addresses": subsets[0]["addresses"]}]
    assert ep.desired_labels(svc(headless=True)) == {ep.HEADLESS_LABEL: ""}


def test_truncation_keeps_the_limit() -> None:
    subsets = [{"addresses": [{"ip": f"10.0.{i // 250}.{i % 250}"} for i in range(1200)], "ports": [{"port": 1}]}]
    out, truncated = ep.truncate(subsets)
    assert truncated and len(out[0]["addresses"]) == ep.MAX_CAPACITY


# ---- EndpointSlices ---------------------------------------------------------------------------


def test_slice_endpoint_conditions() -> None:
    s = svc()
    cases = {"ready": pod("a", "10.0.0.1"), "unready": pod("b", "10.0.0.2", ready=False),
             "terminating": pod("c", "10.0.0.3", deleting=True)}
    conds = {k: es.pod_to_endpoint(s, p, p["status"]["podIP"], None)["conditions"] for k, p in cases.items()}
    assert conds["ready"] == {"ready": True, "serving": True, "terminating": False}
    assert conds["unready"] == {"ready": False, "serving": False, "terminating": False}
    assert conds["terminating"] == {"ready": False, "serving": True, "terminating": True}
    published = es.pod_to_endpoint(svc(publish=True), cases["terminating"], "10.0.0.3", None)["conditions"]
    assert published == {"ready": True, "serving": True, "terminating": True}


def test_slices_hold_at_most_max_endpoints_and_carry_labels() -> None:
    pods = [pod(f"p{i}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(250)]
    s = svc(labels={"team": "a"})
    plan = es.reconcile(s, es.desired_groups(s, pods), [])
    assert sorted(len(b["endpoints"]) for b in plan.create) == [50, 100, 100]
    labels = plan.create[0]["metadata"]["labels"]
    assert labels == {"team": "a", es.SERVICE_NAME_LABEL: "web", es.MANAGED_BY_LABEL: es.CONTROLLER_NAME}
    assert plan.create[0]["metadata"]["ownerReferences"][0]["uid"] == "svc-uid"
    assert plan.create[0]["addressType"] == "IPv4"


def existing(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "metadata": {**body["metadata"], "name": name, "resourceVersion": "5"}}


def test_reconcile_keeps_slices_and_only_writes_what_changed() -> None:
    s = svc()
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2")]
    first = es.reconcile(s, es.desired_groups(s, pods), [])
    current = [existing("web-1", first.create[0])]
    assert es.reconcile(s, es.desired_groups(s, pods), current).empty
    # One pod gone, one added: the slice is updated in place, nothing created or deleted.
    plan = es.reconcile(s, es.desired_groups(s, [pods[0], pod("c", "10.0.0.3")]), current)
    assert not plan.create and not plan.delete and len(plan.update) == 1
    assert sorted(e["addresses"][0] for e in plan.update[0]["endpoints"]) == ["10.0.0.1", "10.0.0.3"]


def test_no_endpoints_keeps_one_placeholder() -> None:
    s = svc()
    plan = es.reconcile(s, es.desired_groups(s, []), [])
    assert len(plan.create) == 1 and plan.create[0]["endpoints"] == [] and plan.create[0]["ports"] == []
    current = [existing("web-1", es.reconcile(s, es.desired_groups(s, [pod("a", "10.0.0.1")]), []).create[0])]
    plan = es.reconcile(s, es.desired_groups(s, []), current)
    assert len(plan.delete) == 1 and len(plan.create) == 1


def test_port_change_replaces_the_slice() -> None:
    s = svc()
    current = [existing("web-1", es.reconcile(s, es.desired_groups(s, [pod("a", "10.0.0.1")]), []).create[0])]
    plan = es.reconcile(s, es.desired_groups(s, [pod("a", "10.0.0.1", port=9000)]), current)
    assert len(plan.delete) == 1 and len(plan.create) == 1
    assert plan.create[0]["ports"][0]["port"] == 9000

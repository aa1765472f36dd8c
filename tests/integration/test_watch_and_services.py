"""Watch stream details (bookmarks, timeouts, selector transitions) and Service address allocation."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from kubernetes import client


@pytest.fixture
def core(api_client) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def ns(core: client.CoreV1Api):
    name = "w-" + uuid.uuid4().hex[:8]
    core.create_namespace({"metadata": {"name": name}})
    yield name


def _raw_watch(api_client, path: str, timeout: float = 10) -> list[dict]:
    """A whole watch stream over raw HTTPS with the kubeconfig's admin certificate."""
    import requests

    cfg = api_client.configuration
    with requests.Session() as s:
        s.trust_env = False
        s.cert = (cfg.cert_file, cfg.key_file)
        s.verify = cfg.ssl_ca_cert
        r = s.get(cfg.host + path, timeout=timeout)
        assert r.status_code == 200, r.text
        return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def test_watch_timeout_and_bookmark(api_client, core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    t0 = time.monotonic()
    events = _raw_watch(api_client, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                                    f"&timeoutSeconds=2&allowWatchBookmarks=true")
    assert time.monotonic() - t0 < 8
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "a"
    # the stream ends with a bookmark carrying a resourceVersion at least as new as the last event
    assert events[-1]["type"] == "BOOKMARK"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= \
        int(events[0]["object"]["metadata"]["resourceVersion"])
    assert events[-1]["object"]["kind"] == "ConfigMap"


def test_watch_without_bookmarks_has_none(api_client, core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    events = _raw_watch(api_client, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                                    f"&timeoutSeconds=1")
    assert all(e["type"] != "BOOKMARK" for e in events)


def test_label_selector_watch_sees_objects_enter_and_leave(api_client, core: client.CoreV1Api, ns: str) -> None:
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    result: list[dict] = []

    def run() -> None:
        result.extend(_raw_watch(api_client, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                                             f"&labelSelector=app%3Dweb&timeoutSeconds=3"))

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    core.create_namespaced_config_map(ns, {"metadata": {"name": "x", "labels": {"app": "other"}}})
    core.patch_namespaced_config_map("x", ns, {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_config_map("x", ns, {"metadata": {"labels": {"app": "gone"}}})
    t.join(10)
    assert [e["type"] for e in result] == ["ADDED", "DELETED"]


def test_watch_from_zero_starts_with_current_state(api_client, core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "present"}})
    events = _raw_watch(api_client, f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion=0"
                                    f"&fieldSelector=metadata.name%3Dpresent&timeoutSeconds=1")
    assert events and events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "present"


def test_node_ports_allocated_and_collisions_rejected(core: client.CoreV1Api, ns: str) -> None:
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "np"}, "spec": {
        "type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 80}]}})
    port = svc.spec.ports[0].node_port
    assert 30000 <= port <= 32767
    assert svc.spec.cluster_ip.startswith("10.") and svc.spec.external_traffic_policy == "Cluster"
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_service(ns, {"metadata": {"name": "np2"}, "spec": {
            "type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 81, "nodePort": port}]}})
    assert e.value.status == 422
    body = json.loads(e.value.body)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    assert "provided port is already allocated" in body["message"]
    ip = svc.spec.cluster_ip
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_service(ns, {"metadata": {"name": "ip2"}, "spec": {
            "clusterIP": ip, "ports": [{"port": 80}]}})
    assert e.value.status == 422 and "already allocated" in json.loads(e.value.body)["message"]
    # updating the Service keeps its addresses
    svc.spec.selector = {"a": "c"}
    svc2 = core.replace_namespaced_service("np", ns, svc)
    assert svc2.spec.cluster_ip == ip and svc2.spec.ports[0].node_port == port
    # after delete, the port is free again
    core.delete_namespaced_service("np", ns)
    again = core.create_namespaced_service(ns, {"metadata": {"name": "np3"}, "spec": {
        "type": "NodePort", "selector": {"a": "b"}, "ports": [{"port": 80, "nodePort": port}]}})
    assert again.spec.ports[0].node_port == port

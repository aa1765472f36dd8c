"""The cloud controller manager under ``navarch server``, with the stub provider: LoadBalancer
Services get an address kubectl shows as EXTERNAL-IP, and give it back when deleted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, running_server

pytestmark = pytest.mark.skipif(kubectl_path("1.33") is None, reason="kubectl 1.33 is not installed")

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[NavarchServer, Kubectl]]:
    # Only the API and the cloud controller manager: nothing else writes Services or Nodes.
    with running_server("ccm", "--disable-scheduler", "--disable-controller-manager", "--disable-agent",
                        "--cloud-controller-arg=--lb-ip-pool=127.0.0.10-127.0.0.12", api_only=False) as srv:
        yield srv, Kubectl("1.33", srv.kubeconfig)


def wait(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def external_ip(k: Kubectl, name: str) -> str:
    res = k.run("get", "svc", name, "-n", "default", "--no-headers", check=False)
    if res.returncode != 0:
        return ""
    ip = res.stdout.split()[3]
    return "" if ip == "<pending>" else ip


def get(k: Kubectl, *args: str) -> dict[str, Any]:
    return json.loads(k("get", *args, "-o", "json"))


def test_load_balancer_services_get_and_release_addresses(cluster: tuple[NavarchServer, Kubectl]) -> None:
    _srv, k = cluster
    k("create", "service", "loadbalancer", "web", "--tcp=80:8080", "-n", "default")
    assert wait("web's address", lambda: external_ip(k, "web")) == "127.0.0.10"
    svc = get(k, "svc", "web", "-n", "default")
    assert FINALIZER in svc["metadata"]["finalizers"]
    assert svc["status"]["loadBalancer"]["ingress"] == [{"ip": "127.0.0.10"}]

    k("create", "service", "loadbalancer", "api", "--tcp=443:8443", "-n", "default")
    assert wait("api's address", lambda: external_ip(k, "api")) == "127.0.0.11"

    k("delete", "svc", "web", "-n", "default", "--timeout=30s", timeout=40)
    assert k.run("get", "svc", "web", "-n", "default", check=False).returncode != 0
    k("create", "service", "loadbalancer", "next", "--tcp=80:80", "-n", "default")
    assert wait("next's address", lambda: external_ip(k, "next")) == "127.0.0.10"  # web's, given back

    events = get(k, "events", "-n", "default", "--field-selector", "involvedObject.name=web")["items"]
    assert {"EnsuringLoadBalancer", "EnsuredLoadBalancer", "DeletingLoadBalancer",
            "DeletedLoadBalancer"} <= {e["reason"] for e in events}

    # No longer a LoadBalancer: the address and the finalizer go, the Service stays.
    k("patch", "svc", "api", "-n", "default", "--type=merge",
      "-p", '{"spec":{"type":"ClusterIP","externalTrafficPolicy":null,"ports":[{"port":443,"targetPort":8443,'
            '"protocol":"TCP","name":"443-8443","nodePort":null}]}}')

    def released() -> bool:
        s = get(k, "svc", "api", "-n", "default")
        return not (s["status"].get("loadBalancer") or {}).get("ingress") and \
            FINALIZER not in (s["metadata"].get("finalizers") or [])
    wait("api's release", released)

    lease = get(k, "lease", "cloud-controller-manager", "-n", "kube-system")
    assert lease["spec"]["holderIdentity"]


def test_tainted_nodes_are_initialized(cluster: tuple[NavarchServer, Kubectl]) -> None:
    _srv, k = cluster
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "cloudy"},
            "spec": {"taints": [{"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true",
                                 "effect": "NoSchedule"}]}}
    k("create", "-f", "-", input=json.dumps(node))

    def initialized() -> dict[str, Any] | None:
        n = get(k, "node", "cloudy")
        return n if n["spec"].get("providerID") and not n["spec"].get("taints") else None
    n = wait("node initialization", initialized)
    assert n["spec"]["providerID"] == "stub://cloudy"
    assert n["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "stub"

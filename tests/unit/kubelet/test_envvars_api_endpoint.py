"""KUBERNETES_SERVICE_* for host-network pods: the API server's own address (docs/adr/0006)."""

from __future__ import annotations

from navarch.kubelet.envvars import api_endpoint_of, service_env

MASTER = {"metadata": {"name": "kubernetes", "namespace": "default"},
          "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}


def test_upstream_values_without_an_endpoint() -> None:
    env = service_env([MASTER], "dev")
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"


def test_endpoint_replaces_the_master_service_variables() -> None:
    env = service_env([MASTER], "dev", api_endpoint=("127.0.0.1", 6443))
    assert env["KUBERNETES_SERVICE_HOST"] == "127.0.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == env["KUBERNETES_SERVICE_PORT_HTTPS"] == "6443"
    assert env["KUBERNETES_PORT"] == "tcp://127.0.0.1:6443"
    assert not any("443_TCP" in k and "6443" not in k for k in env)


def test_endpoint_even_without_links_or_a_service_object() -> None:
    env = service_env([], "dev", enable_service_links=False, api_endpoint=("::1", 6443))
    assert env["KUBERNETES_SERVICE_HOST"] == "::1" and env["KUBERNETES_PORT"] == "tcp://[::1]:6443"


def test_api_endpoint_of_kubeconfig_server() -> None:
    assert api_endpoint_of("https://127.0.0.1:6443") == ("127.0.0.1", 6443)
    assert api_endpoint_of("https://api.example") == ("api.example", 443)
    assert api_endpoint_of("https://[::1]:7443/") == ("::1", 7443)

"""Fixtures that start real navarch servers and hand tests real clients."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, running_server


@pytest.fixture(scope="session")
def server() -> Iterator[NavarchServer]:
    """One navarch API server (SQLite store, no scheduler or controllers, so nothing but the test
    writes objects) shared by the API suites; each test uses its own namespace."""
    with running_server("it") as srv:
        yield srv


def _kubectl(version: str, srv: NavarchServer) -> Kubectl:
    if kubectl_path(version) is None:
        pytest.skip(f"kubectl {version} is not installed")
    return Kubectl(version, srv.kubeconfig)


@pytest.fixture(scope="session")
def kubectl133(server: NavarchServer) -> Kubectl:
    return _kubectl("1.33", server)


@pytest.fixture(scope="session")
def kubectl127(server: NavarchServer) -> Kubectl:
    return _kubectl("1.27", server)


@pytest.fixture(scope="session")
def kubectl134(server: NavarchServer) -> Kubectl:
    return _kubectl("1.34", server)


@pytest.fixture(params=["1.33", "1.27"])
def kubectl(request: pytest.FixtureRequest, server: NavarchServer) -> Kubectl:
    return _kubectl(request.param, server)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kubectl133: Kubectl) -> Iterator[str]:
    import re

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-") + "-" + \
        __import__("uuid").uuid4().hex[:5]
    kubectl133("create", "namespace", name)
    yield name


@pytest.fixture(scope="session")
def api_client(server: NavarchServer):
    """The official kubernetes Python client, configured from the server's kubeconfig."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    api = client.ApiClient(cfg)
    yield api
    api.close()

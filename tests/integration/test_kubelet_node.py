"""The local node of ``navarch server``: a real kubelet registers this machine, renews its Lease and
serves its HTTPS port, as kubectl 1.33 sees it."""

from __future__ import annotations

import importlib.util
import json
import socket
import ssl
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, free_port, remove_tree


def _missing_node_modules() -> str:
    for module in ("navarch.kubelet.runtimes.process", "navarch.kubelet.server"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
            importlib.import_module(module)
        except ImportError:
            return module
    return ""


_MISSING = _missing_node_modules()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"{_MISSING} is not importable yet: the local node "
                                                       f"needs the process runtime and the kubelet server")

NODE = socket.gethostname().strip().lower()


@pytest.fixture(scope="module")
def node_server() -> Iterator[NavarchServer]:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    root = Path(tempfile.mkdtemp(prefix="navarch-node-"))
    # A free kubelet port (other servers may hold 10250), and a short Lease so renewals show quickly.
    srv = NavarchServer(root / "data", free_port(), [
        "--disable-scheduler", "--kubelet-arg=--port=0", "--kubelet-arg=--node-lease-duration-seconds=8",
        "--kubelet-arg=--node-status-update-frequency=2"], agent=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        remove_tree(root)


@pytest.fixture(scope="module")
def k(node_server: NavarchServer) -> Kubectl:
    return Kubectl("1.33", node_server.kubeconfig)


def eventually(what: str, check: Callable[[], Any], timeout: float = 30.0, srv: NavarchServer | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}" + (f"\n{srv.log()}" if srv else ""))
        time.sleep(0.3)


def get_node(k: Kubectl) -> dict[str, Any] | None:
    res = k.run("get", "node", NODE, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


@pytest.fixture(scope="module")
def ready_node(node_server: NavarchServer, k: Kubectl) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        node = get_node(k)
        conds = {c["type"]: c for c in ((node or {}).get("status") or {}).get("conditions") or []}
        return node if conds.get("Ready", {}).get("status") == "True" else None

    return eventually(f"node {NODE} Ready", ready, 40, node_server)


def test_the_node_registers_ready_with_the_machines_capacity(ready_node: dict[str, Any], k: Kubectl) -> None:
    from navarch.kubelet import machine

    status = ready_node["status"]
    cap = status["capacity"]
    assert cap["cpu"] == str(machine.cpu_count(Path("/")))
    assert cap["memory"] == machine.format_bytes(machine.memory_total(Path("/")))
    assert cap["pods"] == "110"
    assert machine.parse_quantity(cap["ephemeral-storage"]) > 0
    alloc = status["allocatable"]
    assert machine.parse_quantity(alloc["memory"]) == machine.parse_quantity(cap["memory"]) - 100 * 2**20
    assert alloc["cpu"] == cap["cpu"]

    conds = {c["type"]: c for c in status["conditions"]}
    assert [(t, conds[t]["status"], conds[t]["reason"]) for t in ("MemoryPressure", "DiskPressure", "PIDPressure")] \
        == [("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID")]
    assert conds["Ready"]["reason"] == "KubeletReady"

    addresses = {a["type"]: a["address"] for a in status["addresses"]}
    assert addresses["Hostname"] == NODE and addresses["InternalIP"]
    info = status["nodeInfo"]
    assert info["containerRuntimeVersion"].startswith("process://")
    assert info["operatingSystem"] == "linux" and info["architecture"] == machine.go_arch(__import__("platform").machine())
    assert info["osImage"] == machine.os_image(Path("/"))
    server_version = json.loads(k("version", "-o", "json"))["serverVersion"]["gitVersion"]
    assert info["kubeletVersion"] == server_version
    assert ready_node["metadata"]["labels"]["kubernetes.io/hostname"] == NODE

    wide = k("get", "nodes", "-o", "wide")
    assert NODE in wide and "Ready" in wide


def test_the_lease_is_renewed(ready_node: dict[str, Any], k: Kubectl) -> None:
    def renew_time() -> str:
        return k("get", "lease", NODE, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}")

    first = eventually("the node Lease", renew_time)
    lease = json.loads(k("get", "lease", NODE, "-n", "kube-node-lease", "-o", "json"))
    assert lease["spec"]["holderIdentity"] == NODE and lease["spec"]["leaseDurationSeconds"] == 8
    assert lease["metadata"]["ownerReferences"][0]["uid"] == ready_node["metadata"]["uid"]
    eventually("a Lease renewal", lambda: renew_time() != first, 15)


def test_the_kubelet_port_answers_healthz(ready_node: dict[str, Any], node_server: NavarchServer) -> None:
    port = ready_node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    assert port > 0
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the kubelet's serving certificate is self-signed, as upstream's
    tls = node_server.data_dir / "tls"
    ctx.load_cert_chain(tls / "admin.crt", tls / "admin.key")
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=5) as r:
        assert (r.status, r.read()) == (200, b"ok")


def test_the_kubelet_runs_with_a_node_identity(node_server: NavarchServer) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((node_server.data_dir / "tls" / "kubelet.crt").read_bytes())
    assert cert.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"

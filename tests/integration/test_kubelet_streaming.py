"""kubectl logs/exec/attach through a real ``navarch server`` to a KubeletServer on this machine.

The kubelet server runs in the test process (its own thread and event loop) over a fake runtime whose
exec runs real host processes; a Node points at it and a pod is bound to that node, so every request
takes the real path: kubectl -> API server (pods/log, pods/exec) -> TLS with the API server's kubelet
client certificate -> kubelet server -> runtime.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from navarch.kubelet.runtimes.interface import ContainerState
from navarch.kubelet.server import KubeletServer
from navarch.kubelet.server.pki import ensure_serving_cert
from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, run_in_terminal, running_server
from tests.unit.kubelet.server.fakeruntime import FakeRuntime

NODE = "stream-node"


@dataclass
class Cluster:
    server: NavarchServer
    kubectl: Kubectl
    runtime: FakeRuntime
    kubelet_loop: asyncio.AbstractEventLoop


class KubeletThread:
    """A KubeletServer serving from its own loop, so blocking kubectl calls can run in the test."""

    def __init__(self, runtime: FakeRuntime, cert_dir: Path, client_ca: Path) -> None:
        cert, key = ensure_serving_cert(cert_dir, NODE, ["127.0.0.1"])
        self.loop = asyncio.new_event_loop()
        self.server = KubeletServer(runtime, host="127.0.0.1", port=0, cert_file=str(cert), key_file=str(key),
                                    client_ca_file=str(client_ca))
        self.thread = threading.Thread(target=self.loop.run_forever, name="kubelet-server", daemon=True)

    def __enter__(self) -> KubeletServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    runtime = FakeRuntime()
    sandbox = runtime.add_sandbox("default", "web")
    runtime.add_container(sandbox, "app", attempt=0, state=ContainerState.EXITED, log=b"first run\n", exit_code=1)
    runtime.add_container(sandbox, "app", attempt=1, log=b"one\ntwo\nthree\n")
    multi = runtime.add_sandbox("default", "multi")
    runtime.add_container(multi, "a", log=b"from a\n")
    runtime.add_container(multi, "b", log=b"from b\n")
    with running_server("kubelet-streaming") as srv:
        kubectl = Kubectl("1.33", srv.kubeconfig)
        thread = KubeletThread(runtime, tmp_path_factory.mktemp("kubelet"), srv.data_dir / "tls" / "ca.crt")
        with thread as kubelet:
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
                    "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                             {"type": "Hostname", "address": NODE}],
                               "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}}
            kubectl("create", "-f", "-", input=json.dumps(node))
            for name, containers in (("web", ["app"]), ("multi", ["a", "b"])):
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                       "spec": {"nodeName": NODE, "containers": [
                           {"name": c, "image": "busybox", "command": ["sleep", "3600"]} for c in containers]}}
                kubectl("create", "-f", "-", input=json.dumps(pod))
                status = {"status": {"phase": "Running", "containerStatuses": [
                    {"name": c, "ready": True, "restartCount": 1 if name == "web" else 0, "image": "busybox",
                     "imageID": "", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                     "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                  "startedAt": "2026-01-01T00:00:00Z",
                                                  "finishedAt": "2026-01-01T00:00:00Z"}} if name == "web" else {}}
                    for c in containers]}}
                kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))
            yield Cluster(srv, kubectl, runtime, thread.loop)


def test_logs(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    assert kubectl("logs", "web") == "one\ntwo\nthree\n"
    assert kubectl("logs", "web", "--tail=1") == "three\n"
    assert kubectl("logs", "web", "--previous") == "first run\n"
    assert kubectl("logs", "pod/multi", "-c", "b") == "from b\n"
    assert sorted(kubectl("logs", "multi", "--all-containers").splitlines()) == ["from a", "from b"]


def test_logs_errors_read_as_upstream(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    res = kubectl.run("logs", "web", "-c", "nope", check=False)
    assert res.returncode == 1
    assert "container nope is not valid for pod web" in res.stderr
    res = kubectl.run("get", "--raw", "/api/v1/namespaces/default/pods/multi/log", check=False)
    assert "a container name must be specified for pod multi, choose one of: [a b]" in res.stderr


def test_exec_prints_output_and_exits_with_the_commands_code(
        cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    res = kubectl.run("exec", "web", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert res.stdout == "hi\n"
    assert res.returncode == 3
    assert "command terminated with exit code 3" in res.stderr
    res = kubectl.run("exec", "web", "--", "sh", "-c", "echo out; echo err >&2")
    assert (res.stdout, res.stderr) == ("out\n", "err\n")


def test_exec_stdin_reaches_the_process(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    res = kubectl.run("exec", "-i", "multi", "-c", "a", "--", "sh", "-c", "tr a-z A-Z", input="hello stdin\n")
    assert res.stdout == "HELLO STDIN\n"


def test_exec_into_an_unknown_container_fails_cleanly(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    res = kubectl.run("exec", "multi", "-c", "nope", "--", "true", check=False)
    assert res.returncode != 0
    assert "container nope is not valid for pod multi" in res.stderr, res.stderr


def test_nodes_proxy_reaches_the_kubelet(cluster: Cluster) -> None:
    kubectl = cluster.kubectl
    assert kubectl("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/healthz") == "ok"
    pods = json.loads(kubectl("get", "--raw", f"/api/v1/nodes/{NODE}/proxy/pods"))
    assert {p["metadata"]["name"] for p in pods["items"]} == {"web", "multi"}


def test_exec_with_a_terminal(cluster: Cluster) -> None:
    """``kubectl exec -it`` from a real terminal: TTY mode, resize events, exit code kept."""
    kubectl, runtime = cluster.kubectl, cluster.runtime
    rc, out = run_in_terminal([kubectl.path, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir",
                               str(kubectl.cache_dir), "exec", "-it", "web", "--", "sh", "-c", "echo hi; exit 3"], 60)
    assert rc == 3, out
    assert b"hi" in out
    assert runtime.execs[-1][1:] == (("sh", "-c", "echo hi; exit 3"), True, True)
    assert runtime.resizes, "kubectl sends the terminal size on the resize channel"


def test_logs_follow_streams_until_the_container_ends(cluster: Cluster) -> None:
    import subprocess

    kubectl, runtime = cluster.kubectl, cluster.runtime
    cid = next(c.id for c in runtime.containers.values() if c.labels["io.kubernetes.pod.name"] == "multi"
               and c.name == "a")
    cmd = [kubectl.path, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache_dir),
           "logs", "-f", "multi", "-c", "a"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(60, proc.kill)  # a broken stream must fail the test, not hang it
    watchdog.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"from a\n"
        cluster.kubelet_loop.call_soon_threadsafe(runtime.append_log, cid, b"later\n")
        assert proc.stdout.readline() == b"later\n"
        cluster.kubelet_loop.call_soon_threadsafe(runtime.append_log, cid, None)
        assert proc.wait(30) == 0
        assert proc.stdout.read() == b""
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("version", ["1.33", "1.30"], ids=["websocket-tunnel", "spdy-upgrade"])
def test_port_forward_serves_the_page(cluster: Cluster, version: str) -> None:
    """kubectl 1.33's WebSocket tunnel (SPDY inside) and 1.30's plain SPDY upgrade, both relayed byte
    for byte by the API server to the kubelet."""
    import http.server
    import re
    import subprocess
    import urllib.request

    from tests.navarch_process import free_port

    page = b"navarch port-forward " * 5000

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    if kubectl_path(version) is None:
        pytest.skip(f"kubectl {version} is not installed")
    kubectl = Kubectl(version, cluster.kubectl.kubeconfig)
    local = free_port()
    cmd = [kubectl.path, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache_dir),
           "port-forward", "pod/web", f"{local}:{web.server_address[1]}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert re.match(rf"Forwarding from 127\.0\.0\.1:{local} -> {web.server_address[1]}", line), line
        for _ in range(2):
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=20) as r:
                assert r.read() == page
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        web.shutdown()


@pytest.mark.parametrize("version", ["", "1.27", "1.29"], ids=["websocket", "spdy-1.27", "spdy-1.29"])
def test_cp_in_and_out(cluster: Cluster, tmp_path: Path, version: str) -> None:
    """kubectl cp rides on exec with tar: stdin half-closed by the v5 close signal (WebSocket) or the
    stdin stream's FIN (SPDY, kubectl before 1.30), then stdout."""
    kubectl = _old_kubectl(cluster, version) if version else cluster.kubectl
    src = tmp_path / "payload.bin"
    data = bytes(range(256)) * 2000
    src.write_bytes(data)
    inside = tmp_path / "inside"
    inside.mkdir()
    # The fake runtime execs on the host, so the "container path" is a host path.
    kubectl("cp", str(src), f"web:{inside}/payload.bin")
    assert (inside / "payload.bin").read_bytes() == data
    back = tmp_path / "back.bin"
    kubectl("cp", f"web:{inside}/payload.bin", str(back))
    assert back.read_bytes() == data


# ---- kubectl before 1.30: exec and cp over SPDY/3.1 (KUBECTL.md 7.3) -------------------------------

SPDY_VERSIONS = ["1.27", "1.29"]  # 1.27 offers v4 first, 1.29 v5 first


def _old_kubectl(cluster: Cluster, version: str) -> Kubectl:
    if kubectl_path(version) is None:
        pytest.skip(f"kubectl {version} is not installed")
    return Kubectl(version, cluster.kubectl.kubeconfig)


@pytest.mark.parametrize("version", SPDY_VERSIONS)
def test_exec_over_spdy_keeps_output_and_exit_code(cluster: Cluster, version: str) -> None:
    kubectl = _old_kubectl(cluster, version)
    res = kubectl.run("exec", "web", "--", "sh", "-c", "echo hi; exit 3", check=False)
    assert (res.stdout, res.returncode) == ("hi\n", 3), res.stderr
    assert "command terminated with exit code 3" in res.stderr
    res = kubectl.run("exec", "web", "--", "sh", "-c", "echo out; echo err >&2")
    assert (res.stdout, res.stderr) == ("out\n", "err\n")


@pytest.mark.parametrize("version", SPDY_VERSIONS)
def test_exec_over_spdy_passes_stdin_to_its_end(cluster: Cluster, version: str) -> None:
    kubectl = _old_kubectl(cluster, version)
    # ``tr`` ends only when its stdin does: the stream's FIN must reach the process.
    res = kubectl.run("exec", "-i", "multi", "-c", "a", "--", "sh", "-c", "tr a-z A-Z", input="hello spdy\n")
    assert res.stdout == "HELLO SPDY\n"


@pytest.mark.parametrize("version", ["", "1.29"], ids=["websocket", "spdy-1.29"])
def test_attach_passes_stdin_and_output(cluster: Cluster, version: str) -> None:
    """The fake runtime's attach runs ``echo attached; cat``: the greeting, then stdin echoed back
    until kubectl's stdin ends."""
    kubectl = _old_kubectl(cluster, version) if version else cluster.kubectl
    res = kubectl.run("attach", "-i", "web", input="hello attach\n", timeout=60)
    assert res.stdout == "attached\nhello attach\n", res.stderr


def test_exec_over_spdy_with_a_terminal(cluster: Cluster) -> None:
    kubectl, runtime = _old_kubectl(cluster, "1.29"), cluster.runtime
    resizes = len(runtime.resizes)
    rc, out = run_in_terminal([kubectl.path, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir",
                               str(kubectl.cache_dir), "exec", "-it", "web", "--", "sh", "-c", "echo tty; exit 4"], 60)
    assert rc == 4, out
    assert b"tty" in out
    assert runtime.execs[-1][1:] == (("sh", "-c", "echo tty; exit 4"), True, True)
    assert len(runtime.resizes) > resizes, "kubectl sends the terminal size on the resize stream"

"""Joining, end to end: a ``navarch server`` with its local node plus two ``navarch agent`` processes on
the same machine (distinct node names, kubelet ports and data dirs), all Ready; a deployment spread
over the three nodes; an agent restarted with its certificate on disk asks for no new one; a wrong
token secret and a token whose CA hash is not the server's are refused with a clear message.

Every process is started here and stopped by its PID; the kubelets' runtime zygotes (detached on
purpose, as containers are) are killed by the PID and start time they recorded, after the pods are
deleted.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, free_port, remove_tree

NS = "join"
WAIT = 90.0
AGENTS = ("join-a", "join-b")


def eventually(what: str, check: Callable[[], Any], timeout: float = WAIT, log: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{log()}" if log else ""))
        time.sleep(0.3)


class Agent:
    """One ``navarch agent`` process with its own data dir, node name and kubelet port."""

    def __init__(self, root: Path, name: str, server: str) -> None:
        self.name = name
        self.server = server
        self.data_dir = root / name
        self.port = free_port()
        self.log_path = root / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    def argv(self, token_args: list[str]) -> list[str]:
        return [sys.executable, "-m", "navarch", "agent", "--server", self.server, *token_args,
                "--node-name", self.name, "--data-dir", str(self.data_dir), "--kubelet-port", str(self.port),
                "--kubelet-arg=--node-ip=127.0.0.1"]

    def start(self, token_file: Path) -> Agent:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(["--token-file", str(token_file)]), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def kill_zygote(self) -> None:
        kill_recorded(self.data_dir / "agent" / "kubelet" / "runtime" / "zygote.json")


def kill_recorded(record: Path) -> None:
    """SIGKILL the process a runtime recorded (pid and start time), unless its PID was reused."""
    try:
        info = json.loads(record.read_text())
        pid, start = int(info["pid"]), info.get("start_time")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if start is not None and int(fields[19]) != int(start):
            return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError, IndexError):
        pass


def processes_mentioning(text: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                out.append(int(entry.name))
        except OSError:
            continue
    return out


class Cluster:
    def __init__(self, srv: NavarchServer, agents: list[Agent], k: Kubectl, root: Path) -> None:
        self.srv = srv
        self.agents = agents
        self.k = k
        self.root = root

    @property
    def token_file(self) -> Path:
        return self.srv.data_dir / "token"

    def ready_nodes(self) -> set[str]:
        out = self.k.run("get", "nodes", "-o", "json", check=False)
        items = json.loads(out.stdout)["items"] if out.returncode == 0 else []
        return {i["metadata"]["name"] for i in items
                if any(c["type"] == "Ready" and c["status"] == "True" for c in i["status"].get("conditions") or [])}

    def logs(self) -> str:
        return "\n".join([f"--- server ---\n{self.srv.log()}"] + [f"--- {a.name} ---\n{a.log()}" for a in self.agents])

    def csrs(self) -> list[dict[str, Any]]:
        return json.loads(self.k("get", "csr", "-o", "json"))["items"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    root = Path(tempfile.mkdtemp(prefix="navarch-join-"))
    srv = NavarchServer(root / "srv", free_port(), ["--kubelet-arg=--node-ip=127.0.0.1", "--kubelet-arg=--port=0"],
                        agent=True)
    k = Kubectl("1.33", srv.kubeconfig)
    agents = [Agent(root, name, srv.url) for name in AGENTS]
    c = Cluster(srv, agents, k, root)
    try:
        srv.start()
        eventually("the server's join token", lambda: c.token_file.exists(), log=srv.log)
        for a in agents:
            a.start(c.token_file)
        eventually("three Ready nodes", lambda: len(c.ready_nodes()) == 3, log=c.logs)
        k("create", "namespace", NS)
        eventually("the default ServiceAccount of the test namespace",
                   lambda: k.run("get", "serviceaccount", "default", "-n", NS, check=False).returncode == 0)
        yield c
    finally:
        # Pods first, while every kubelet still runs to stop them; then agents, zygotes, the server.
        k.run("delete", "deployment", "--all", "-n", NS, "--wait=true", check=False, timeout=60)
        k.run("delete", "pod", "--all", "-n", NS, "--wait=true", "--timeout=60s", check=False, timeout=70)
        for a in agents:
            a.stop()
            a.kill_zygote()
        srv.stop()
        for pid in processes_mentioning(str(root)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        remove_tree(root)


def test_server_and_two_agents_are_ready_with_node_identities_from_approved_csrs(cluster: Cluster) -> None:
    nodes = cluster.ready_nodes()
    assert set(AGENTS) <= nodes and len(nodes) == 3
    token_id = cluster.token_file.read_text().strip().split("::")[1].split(".")[0]
    csrs = [c for c in cluster.csrs() if c["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"]
    assert len(csrs) == 2
    for csr in csrs:
        assert csr["spec"]["username"] == f"system:bootstrap:{token_id}"
        assert "system:bootstrappers" in csr["spec"]["groups"]
        assert [c["type"] for c in csr["status"]["conditions"]] == ["Approved"]
        assert csr["status"]["conditions"][0]["reason"] == "AutoApproved"
        assert csr["status"]["certificate"]
    assert cluster.token_file.stat().st_mode & 0o777 == 0o600


def test_a_restarted_agent_reuses_its_certificate(cluster: Cluster) -> None:
    agent = cluster.agents[1]
    before = len(cluster.csrs())
    agent.stop()
    agent.start(cluster.token_file)
    eventually("the restarted agent's kubelet", lambda: "reusing the client certificate" in agent.log()
               and "kubelet running" in agent.log().split("reusing the client certificate")[-1], log=agent.log)
    eventually("three Ready nodes", lambda: len(cluster.ready_nodes()) == 3, log=cluster.logs)
    assert len(cluster.csrs()) == before


def test_six_replicas_spread_over_all_three_nodes(cluster: Cluster) -> None:
    labels = {"app": "spread"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "spread", "namespace": NS},
        "spec": {"replicas": 6, "selector": {"matchLabels": labels}, "template": {
            "metadata": {"labels": labels},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                    "whenUnsatisfiable": "DoNotSchedule",
                                                    "labelSelector": {"matchLabels": labels}}],
                     "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                         "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                            "labelSelector": {"matchLabels": labels}}}]}},
                     "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]}]}}}}
    cluster.k("apply", "-f", "-", input=json.dumps(deployment))

    def running() -> list[dict[str, Any]] | None:
        pods = json.loads(cluster.k("get", "pods", "-n", NS, "-l", "app=spread", "-o", "json"))["items"]
        up = [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]
        return up if len(up) == 6 else None

    pods = eventually("six running replicas", running, log=cluster.logs)
    per_node: dict[str, int] = {}
    for p in pods:
        per_node[p["spec"]["nodeName"]] = per_node.get(p["spec"]["nodeName"], 0) + 1
    assert set(per_node) == cluster.ready_nodes(), per_node
    assert sorted(per_node.values()) == [2, 2, 2], per_node
    cluster.k("delete", "deployment", "spread", "-n", NS)
    eventually("the replicas gone", lambda: not cluster.k("get", "pods", "-n", NS, "-o", "name").split(),
               log=cluster.logs)


def _join(cluster: Cluster, name: str, token: str) -> subprocess.CompletedProcess:
    agent = Agent(cluster.root, name, cluster.srv.url)
    try:
        return subprocess.run(agent.argv(["--token", token]), capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        agent.kill_zygote()


def test_a_wrong_token_secret_is_refused_after_the_401(cluster: Cluster) -> None:
    token = cluster.token_file.read_text().strip()
    wrong = token[:-16] + ("a" * 16 if not token.endswith("a" * 16) else "b" * 16)
    res = _join(cluster, "join-wrong-secret", wrong)
    assert res.returncode != 0
    assert "refused the join token (401 Unauthorized)" in res.stderr, res.stderr
    assert "join-wrong-secret" not in cluster.ready_nodes()


def test_a_token_for_another_ca_is_refused_naming_both_hashes(cluster: Cluster) -> None:
    token = cluster.token_file.read_text().strip()
    real_hash, creds = token[3:].split("::")
    other = "0" * 64
    res = _join(cluster, "join-wrong-ca", f"K10{other}::{creds}")
    assert res.returncode != 0
    assert "does not match the join token" in res.stderr, res.stderr
    assert other in res.stderr and real_hash in res.stderr
    assert not any(c["spec"].get("username", "").endswith(creds.split(".")[0]) and "join-wrong-ca" in json.dumps(c)
                   for c in cluster.csrs())

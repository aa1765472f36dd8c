"""The control-loops acceptance journeys: a full ``navarch server`` (scheduler and controller manager
as child processes) with simulated nodes, driven by kubectl 1.33."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, free_port, remove_tree


class Cluster:
    def __init__(self, server: NavarchServer, kubectl: Kubectl) -> None:
        self.server = server
        self.k = kubectl
        self.procs: list[subprocess.Popen] = []

    def sim_nodes(self, count: int, prefix: str, *extra: str) -> subprocess.Popen:
        log = open(self.server.data_dir.parent / f"sim-{prefix}.log", "ab")
        p = subprocess.Popen([sys.executable, "-m", "navarch", "sim-nodes", "--kubeconfig",
                              str(self.server.kubeconfig), "--count", str(count), "--name-prefix", prefix,
                              "--lease-interval", "2", *extra],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def json(self, *args: str) -> dict:
        return json.loads(self.k(*args, "-o", "json"))

    def wait(self, what: str, cond: Callable[[], object], timeout: float = 60.0) -> object:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = cond()
                if last:
                    return last
            except (AssertionError, json.JSONDecodeError, KeyError, IndexError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.server.log()[-3000:]}")

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    root = Path(tempfile.mkdtemp(prefix="navarch-cluster-"))
    srv = NavarchServer(root / "data", free_port(), [
        "--controller-arg=--node-monitor-grace-period=6",
    ])
    srv.start()
    c = Cluster(srv, Kubectl("1.33", srv.kubeconfig))
    try:
        c.sim_nodes(3, "node-")
        c.wait("3 Ready nodes", lambda: len([
            n for n in c.json("get", "nodes")["items"]
            if any(x["type"] == "Ready" and x["status"] == "True" for x in n["status"].get("conditions", []))
        ]) >= 3)
        yield c
    finally:
        c.stop()
        srv.stop()
        remove_tree(root)


@pytest.fixture
def ns(cluster: Cluster) -> str:
    name = "c-" + uuid.uuid4().hex[:8]
    cluster.k("create", "namespace", name)
    return name


def _running(c: Cluster, ns: str, selector: str) -> list[dict]:
    pods = c.json("get", "pods", "-n", ns, "-l", selector)["items"]
    return [p for p in pods if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def test_deployment_lifecycle(cluster: Cluster, ns: str) -> None:
    c = cluster
    c.k("create", "deployment", "web", "--image=busybox", "--replicas=5", "-n", ns)
    pods = c.wait("5 running pods", lambda: (lambda r: r if len(r) == 5 else None)(_running(c, ns, "app=web")))
    nodes = {p["spec"]["nodeName"] for p in pods}
    assert len(nodes) == 3, nodes  # LeastAllocated spreads 5 pods over 3 equal nodes
    assert all(p["status"].get("podIP") for p in pods)

    c.k("set", "image", "deployment/web", "busybox=busybox:1.36", "-n", ns)
    out = c.k("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s", timeout=120)
    assert 'deployment "web" successfully rolled out' in out
    images = {p["spec"]["containers"][0]["image"] for p in _running(c, ns, "app=web")}
    assert images == {"busybox:1.36"}
    hist = c.k("rollout", "history", "deployment/web", "-n", ns)
    assert "REVISION" in hist and "1" in hist and "2" in hist
    c.k("rollout", "undo", "deployment/web", "-n", ns)
    c.k("rollout", "status", "deployment/web", "-n", ns, "--timeout=90s", timeout=120)
    dep = c.json("get", "deployment", "web", "-n", ns)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"

    c.k("scale", "deployment/web", "--replicas=7", "-n", ns)
    c.wait("7 pods", lambda: len(_running(c, ns, "app=web")) == 7)
    c.k("scale", "deployment/web", "--replicas=2", "-n", ns)
    c.wait("2 pods", lambda: len(c.json("get", "pods", "-n", ns, "-l", "app=web")["items"]) == 2)

    c.k("delete", "deployment", "web", "-n", ns)
    c.wait("replicasets and pods gone", lambda: not c.json("get", "rs,pods", "-n", ns)["items"])


def test_cascade_orphan_leaves_children(cluster: Cluster, ns: str) -> None:
    c = cluster
    c.k("create", "deployment", "keep", "--image=busybox", "--replicas=2", "-n", ns)
    c.wait("2 running", lambda: len(_running(c, ns, "app=keep")) == 2)
    c.k("delete", "deployment", "keep", "-n", ns, "--cascade=orphan")
    c.wait("deployment gone", lambda: not c.json("get", "deployments", "-n", ns)["items"])
    time.sleep(2)
    rs = c.json("get", "rs", "-n", ns)["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    assert len(_running(c, ns, "app=keep")) == 2


def test_unschedulable_pod_waits_for_a_big_enough_node(cluster: Cluster, ns: str) -> None:
    c = cluster
    c.k("run", "huge", "--image=busybox", "-n", ns, "--overrides",
        json.dumps({"spec": {"containers": [{"name": "huge", "image": "busybox",
                                             "resources": {"requests": {"cpu": "40"}}}]}}))

    def failed() -> str | None:
        d = c.k("describe", "pod", "huge", "-n", ns)
        return d if "FailedScheduling" in d else None

    desc = c.wait("FailedScheduling", failed)
    assert "0/3 nodes are available: 3 Insufficient cpu." in desc
    pod = c.json("get", "pod", "huge", "-n", ns)
    cond = [x for x in pod["status"]["conditions"] if x["type"] == "PodScheduled"][0]
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    c.sim_nodes(1, "big-", "--cpu", "64")
    c.wait("scheduled on the big node",
           lambda: c.json("get", "pod", "huge", "-n", ns)["spec"].get("nodeName") == "big-0", timeout=60)


def test_namespace_deletion_leaves_nothing(cluster: Cluster) -> None:
    c = cluster
    ns = "gone-" + uuid.uuid4().hex[:6]
    c.k("create", "namespace", ns)
    c.k("create", "deployment", "d", "--image=busybox", "--replicas=2", "-n", ns)
    c.k("create", "configmap", "cm", "--from-literal=a=b", "-n", ns)
    c.k("create", "service", "clusterip", "s", "--tcp=80", "-n", ns)
    c.wait("pods running", lambda: len(_running(c, ns, "app=d")) == 2)
    c.k("delete", "namespace", ns, "--timeout=90s", timeout=120)
    r = c.k.run("get", "namespace", ns, check=False)
    assert "NotFound" in r.stderr


def test_job_with_three_completions_completes(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    c = cluster
    f = tmp_path / "job.yaml"
    f.write_text(json.dumps({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "three", "namespace": ns},
        "spec": {"completions": 3, "parallelism": 2, "template": {
            "metadata": {"annotations": {"sim.navarch.io/exit-code": "0", "sim.navarch.io/run-seconds": "1"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}))
    c.k("create", "-f", str(f))
    c.k("wait", "--for=condition=complete", "job/three", "-n", ns, "--timeout=90s", timeout=120)
    job = c.json("get", "job", "three", "-n", ns)
    assert job["status"]["succeeded"] == 3


def test_dead_node_is_tainted_and_its_pods_move(cluster: Cluster, ns: str) -> None:
    c = cluster
    doomed = c.sim_nodes(1, "doomed-")
    c.wait("doomed node ready", lambda: any(
        x["type"] == "Ready" and x["status"] == "True"
        for x in c.json("get", "node", "doomed-0")["status"]["conditions"]))
    c.k("run", "victim", "--image=busybox", "-n", ns, "--overrides", json.dumps({"spec": {
        "nodeName": "doomed-0",
        "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                         "effect": "NoExecute", "tolerationSeconds": 2}]}}))
    c.wait("victim running", lambda: c.json("get", "pod", "victim", "-n", ns)["status"].get("phase") == "Running")
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(5)

    def unhealthy() -> bool:
        node = c.json("get", "node", "doomed-0")
        ready = [x for x in node["status"]["conditions"] if x["type"] == "Ready"][0]
        taints = {t["key"] for t in node["spec"].get("taints", [])}
        return ready["status"] == "Unknown" and "node.kubernetes.io/unreachable" in taints

    c.wait("node NotReady and tainted", unhealthy, timeout=60)
    c.wait("victim evicted", lambda: c.k.run("get", "pod", "victim", "-n", ns, check=False).returncode != 0 or
           c.json("get", "pod", "victim", "-n", ns)["metadata"].get("deletionTimestamp"), timeout=60)


def test_pods_of_a_dead_node_are_recreated_elsewhere(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    c = cluster
    doomed = c.sim_nodes(1, "doomed2-")
    c.wait("doomed2 ready", lambda: any(
        x["type"] == "Ready" and x["status"] == "True"
        for x in c.json("get", "node", "doomed2-0")["status"]["conditions"]))
    f = tmp_path / "dep.yaml"
    f.write_text(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mover", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "mover"}}, "template": {
            "metadata": {"labels": {"app": "mover"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}],
                     "tolerations": [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                                      "effect": "NoExecute", "tolerationSeconds": 2}],
                     "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                         "weight": 100, "preference": {"matchExpressions": [{
                             "key": "kubernetes.io/hostname", "operator": "In", "values": ["doomed2-0"]}]}}]}}}}}}))
    c.k("create", "-f", str(f))
    first = c.wait("mover running on doomed2-0", lambda: (lambda r: r[0] if len(r) == 1 else None)(
        _running(c, ns, "app=mover")))
    assert first["spec"]["nodeName"] == "doomed2-0"
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(5)
    moved = c.wait("a replacement running on another node", lambda: [
        p for p in _running(c, ns, "app=mover") if p["spec"]["nodeName"] != "doomed2-0"], timeout=90)
    assert moved[0]["metadata"]["name"] != first["metadata"]["name"]

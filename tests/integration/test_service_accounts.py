"""Service accounts end to end: a pod's projected token, in-cluster config with the official Python
client, RBAC on its identity, and pod-bound tokens that die with their pod.

Runs ``navarch server`` with its local kubelet (pods are host processes); the token volume is
mounted at /var/run/secrets/kubernetes.io/serviceaccount only as root (mount namespaces).
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, free_port, remove_tree

NS = "dev"
WAIT = 60.0

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="the token volume is mounted at its mountPath only as root"),
    pytest.mark.skipif(kubectl_path("1.33") is None, reason="kubectl 1.33 is not installed"),
]

IN_CLUSTER = textwrap.dedent("""
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    config.load_incluster_config()
    v1 = client.CoreV1Api()
    print("pods:", ",".join(sorted(p.metadata.name for p in v1.list_namespaced_pod("dev").items)))
    try:
        v1.list_namespaced_config_map("dev")
        print("configmaps: 200")
    except ApiException as e:
        print("configmaps:", e.status)
""")


def eventually(what: str, check: Callable[[], Any], timeout: float = WAIT, log: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen in {timeout:.0f}s" + (f"\n{log()}" if log else ""))


class Cluster:
    def __init__(self, srv: NavarchServer, work: Path) -> None:
        self.srv = srv
        self.work = work
        self.k = Kubectl("1.33", srv.kubeconfig)

    def pod(self, name: str, account: str, argv: list[str], restart: str = "Never") -> None:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                "spec": {"serviceAccountName": account, "restartPolicy": restart, "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "c", "image": "python", "command": argv}]}}
        self.k("create", "-f", "-", input=json.dumps(body))

    def phase(self, name: str) -> str:
        out = self.k.run("get", "pod", name, "-n", NS, "-o", "jsonpath={.status.phase}", check=False)
        return out.stdout.strip()

    def api_status(self, token: str, path: str) -> int:
        ctx = ssl.create_default_context(cafile=str(self.srv.data_dir / "tls" / "ca.crt"))
        req = urllib.request.Request(self.srv.url + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="navarch-sa-"))
    srv = NavarchServer(root / "data", free_port(), [
        "--kubelet-arg=--node-ip=127.0.0.1", "--kubelet-arg=--port=0", "--kubelet-arg=--sync-frequency=1"],
        agent=True)
    work = root / "work"
    work.mkdir()
    c = Cluster(srv, work)
    try:
        srv.start()
        c.k("create", "namespace", NS)
        for what in ("serviceaccount/default", "configmap/kube-root-ca.crt"):
            eventually(what, lambda w=what: c.k.run("get", w, "-n", NS, check=False).returncode == 0, log=srv.log)
        c.k("create", "serviceaccount", "reader", "-n", NS)
        c.k("create", "role", "pod-reader", "--verb=list,get", "--resource=pods", "-n", NS)
        c.k("create", "rolebinding", "reader-pods", "--role=pod-reader", f"--serviceaccount={NS}:reader", "-n", NS)
        yield c
    finally:
        c.k.run("delete", "pods", "--all", "-n", NS, "--wait=true", "--timeout=30s", check=False, timeout=40)
        srv.stop()
        remove_tree(root)


def test_pod_gets_the_token_volume_and_env(cluster: Cluster) -> None:
    script = ("env | grep ^KUBERNETES_SERVICE; ls /var/run/secrets/kubernetes.io/serviceaccount; "
              "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace")
    cluster.pod("env", "default", ["sh", "-c", script])
    eventually("pod env to finish", lambda: cluster.phase("env") in ("Succeeded", "Failed"), log=cluster.srv.log)
    pod = json.loads(cluster.k("get", "pod", "env", "-n", NS, "-o", "json"))
    [volume] = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
    assert [next(iter(s)) for s in volume["projected"]["sources"]] == ["serviceAccountToken", "configMap", "downwardAPI"]
    # The creator owns what it sent (and its defaults), not what admission added, as upstream.
    shown = json.loads(cluster.k("get", "pod", "env", "-n", NS, "-o", "json", "--show-managed-fields"))
    [created] = [e for e in shown["metadata"]["managedFields"] if e["manager"] == "kubectl-create"]
    owned = json.dumps(created["fieldsV1"])
    assert '"f:containers"' in owned and '"f:terminationMessagePath"' in owned, owned
    assert "kube-api-access" not in owned and '"f:volumes"' not in owned and '"f:tolerations"' not in owned, owned
    out = cluster.k("logs", "env", "-n", NS)
    assert "KUBERNETES_SERVICE_HOST=127.0.0.1" in out
    assert f"KUBERNETES_SERVICE_PORT={cluster.srv.port}" in out
    assert "ca.crt\nnamespace\ntoken\n" in out and out.rstrip().endswith(NS)


def test_in_cluster_python_client_lists_what_its_role_allows(cluster: Cluster) -> None:
    script = cluster.work / "incluster.py"
    script.write_text(IN_CLUSTER)
    cluster.pod("incluster", "reader", [sys.executable, str(script)])
    eventually("the in-cluster pod to finish", lambda: cluster.phase("incluster") in ("Succeeded", "Failed"),
               log=cluster.srv.log)
    out = cluster.k("logs", "incluster", "-n", NS)
    assert cluster.phase("incluster") == "Succeeded", out
    pods_line = next(line for line in out.splitlines() if line.startswith("pods:"))
    assert "incluster" in pods_line.split(":", 1)[1].split(",")
    rbac = cluster.k.run("auth", "can-i", "list", "configmaps", "-n", NS, f"--as=system:serviceaccount:{NS}:reader",
                         check=False).stdout.strip()
    if rbac == "yes":
        pytest.xfail("RBAC is not enforced yet: every authenticated user may list configmaps")
    assert "configmaps: 403" in out


def test_token_bound_to_a_pod_is_rejected_once_the_pod_is_deleted(cluster: Cluster) -> None:
    cluster.pod("sleeper", "reader", ["sleep", "600"])
    eventually("pod sleeper to run", lambda: cluster.phase("sleeper") == "Running", log=cluster.srv.log)
    token = cluster.k("create", "token", "reader", "-n", NS, "--duration", "15m", "--bound-object-kind", "Pod",
                      "--bound-object-name", "sleeper").strip()
    assert cluster.api_status(token, f"/api/v1/namespaces/{NS}/pods") == 200
    cluster.k("delete", "pod", "sleeper", "-n", NS, "--wait=true", "--timeout=30s", timeout=40)
    assert cluster.api_status(token, f"/api/v1/namespaces/{NS}/pods") == 401


def test_create_token_for_a_missing_pod_or_too_short_is_refused(cluster: Cluster) -> None:
    res = cluster.k.run("create", "token", "reader", "-n", NS, "--bound-object-kind", "Pod",
                        "--bound-object-name", "ghost", check=False)
    assert res.returncode != 0 and 'pods "ghost" not found' in res.stderr
    res = cluster.k.run("create", "token", "reader", "-n", NS, "--duration", "5m", check=False)
    assert "may not specify a duration less than 10 minutes" in res.stderr

"""Two controller-manager processes: only the Lease holder acts; killing it hands over within the lease."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import NO_SERVICE_ACCOUNTS, Kubectl, NavarchServer, free_port, remove_tree


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_only_the_lease_holder_acts_and_a_standby_takes_over() -> None:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    root = Path(tempfile.mkdtemp(prefix="navarch-le-"))
    srv = NavarchServer(root / "data", free_port(), ["--disable-scheduler", "--disable-controller-manager",
                                                           NO_SERVICE_ACCOUNTS]).start()
    k = Kubectl("1.33", srv.kubeconfig)
    procs: dict[str, subprocess.Popen] = {}
    logs: dict[str, Path] = {}
    try:
        for name in ("cm-a", "cm-b"):
            logs[name] = root / f"{name}.log"
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "navarch", "controller-manager", "--kubeconfig", str(srv.kubeconfig),
                 "--controllers=replicaset", "--leader-elect-lease-duration=4",
                 "--leader-elect-renew-deadline=3", "--leader-elect-retry-period=1"],
                stdout=open(logs[name], "wb"), stderr=subprocess.STDOUT, start_new_session=True)

        def holder() -> str:
            r = k.run("get", "lease", "kube-controller-manager", "-n", "kube-system", "-o", "json", check=False)
            return json.loads(r.stdout)["spec"].get("holderIdentity", "") if r.returncode == 0 else ""

        first = _wait(holder, 20, "a leader")
        leaders = _wait(lambda: [n for n in procs if "started leading" in logs[n].read_text(errors="replace")],
                        10, "the leader to start its controllers")
        time.sleep(2)  # several retry periods: the standby must still be waiting
        leaders = [n for n in procs if "started leading" in logs[n].read_text(errors="replace")]
        assert len(leaders) == 1, leaders
        leader = leaders[0]
        standby = "cm-b" if leader == "cm-a" else "cm-a"

        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r1", "namespace": "default"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "r1"}},
                       "template": {"metadata": {"labels": {"app": "r1"}},
                                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
        k("create", "-f", "-", input=json.dumps(rs))
        _wait(lambda: len(json.loads(k("get", "pods", "-l", "app=r1", "-o", "json"))["items"]) == 2, 20, "2 pods")
        assert "started leading" not in logs[standby].read_text(errors="replace")

        procs[leader].send_signal(signal.SIGKILL)
        procs[leader].wait(5)
        t0 = time.monotonic()
        second = _wait(lambda: (lambda h: h if h and h != first else "")(holder()), 15, "a new leader")
        assert time.monotonic() - t0 < 4 + 4  # lease duration plus a retry period's slack
        assert second != first
        rs["metadata"]["name"] = "r2"
        rs["spec"]["selector"]["matchLabels"] = {"app": "r2"}
        rs["spec"]["template"]["metadata"]["labels"] = {"app": "r2"}
        k("create", "-f", "-", input=json.dumps(rs))
        _wait(lambda: len(json.loads(k("get", "pods", "-l", "app=r2", "-o", "json"))["items"]) == 2, 20,
              "the new leader to act")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        srv.stop()
        remove_tree(root)

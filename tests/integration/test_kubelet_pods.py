"""The kubelet issue's acceptance list, end to end: real kubectl 1.33 and 1.34 against ``navarch server``
with its local node agent, which runs every pod as host processes (the process runtime).

One server for the module (agent on, node IP 127.0.0.1 so all traffic stays on loopback, a free
kubelet port, ``--sync-frequency=1`` so configMap volume updates land within seconds). The
client-facing journeys (logs, exec, port-forward, cp) run once per kubectl version against one
``http.server`` pod; the node-side behaviours (restarts, probes, OOM, configuration, termination,
adoption by a restarted kubelet) run once. Every pod prints its shell's PID (``$$$$``: ``$$`` is the
escape for ``$`` in Kubernetes' ``$(VAR)`` expansion), and every test deletes its pods, waits for
them to be gone and checks that those PIDs are gone too.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, free_port, remove_tree, run_in_terminal


def _missing_node_modules() -> str:
    for module in ("navarch.kubelet.runtimes.process", "navarch.kubelet.server", "navarch.kubelet.prober"):
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except ImportError:
            return module
    return ""


_MISSING = _missing_node_modules()
pytestmark = pytest.mark.skipif(bool(_MISSING), reason=f"{_MISSING} is not importable: the local node needs "
                                                       f"the process runtime, the kubelet server and the prober")

NS = "kubelet-pods"
VERSIONS = ["1.33", "1.34"]
WAIT = 60.0  # the bound of every wait in this module, however fast it usually is


# ---- helpers -------------------------------------------------------------------------------------

def eventually(what: str, check: Callable[[], Any], timeout: float = WAIT, interval: float = 0.2,
               log: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" +
                                 (f"\n--- server log ---\n{log()}" if log else ""))
        time.sleep(interval)


def alive(pid: int) -> bool:
    """Running and not a zombie (an unreaped process is dead for our purposes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children(ppid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of ``ppid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == ppid:
            out.append((int(entry.name), cmdline))
    return out


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if text in cmdline:
            out.append((int(entry.name), cmdline))
    return out


def pod_json(name: str, command: list[str], *, grace: int = 2, restart: str = "Always",
             **container: Any) -> dict[str, Any]:
    extra_spec = container.pop("spec", {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"terminationGracePeriodSeconds": grace, "restartPolicy": restart,
                     "containers": [{"name": "c", "image": "busybox", "command": command, **container}],
                     **extra_spec}}


class Node:
    """The module's server, its kubelet and what the tests need to reach them."""

    def __init__(self, srv: NavarchServer, tmp: Path) -> None:
        self.srv = srv
        self.tmp = tmp
        tmp.mkdir()
        (tmp / "kubectl-1.33-cache").mkdir()
        self.k = Kubectl("1.33", srv.kubeconfig, tmp / "kubectl-1.33-cache")
        self.pids: dict[str, list[int]] = {}  # pod name -> shell PIDs it printed
        self._clients = {"1.33": self.k}

    def kubectl(self, version: str) -> Kubectl:
        if kubectl_path(version) is None:
            pytest.skip(f"kubectl {version} is not installed (scripts/install-clients.sh installs 1.34)")
        if version not in self._clients:
            cache = self.tmp / f"kubectl-{version}-cache"
            cache.mkdir(exist_ok=True)
            self._clients[version] = Kubectl(version, self.srv.kubeconfig, cache)
        return self._clients[version]

    def create(self, pod: dict[str, Any]) -> None:
        self.k("apply", "-f", "-", input=json.dumps(pod))

    def get(self, name: str) -> dict[str, Any] | None:
        res = self.k.run("get", "pod", name, "-n", NS, "-o", "json", check=False)
        return json.loads(res.stdout) if res.returncode == 0 else None

    def container(self, name: str) -> dict[str, Any]:
        pod = self.get(name) or {}
        statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
        return statuses[0]

    def wait_ready(self, name: str, timeout: float = WAIT) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            pod = self.get(name)
            conds = {c["type"]: c["status"] for c in ((pod or {}).get("status") or {}).get("conditions") or []}
            return pod if conds.get("Ready") == "True" else None
        return eventually(f"pod {name} Ready", ready, timeout, log=self.srv.log)

    def shell_pid(self, name: str, timeout: float = WAIT) -> int:
        """The PID the pod's current container printed first (``pid N``)."""
        def printed() -> int | None:
            res = self.k.run("logs", name, "-n", NS, check=False)
            m = re.search(r"^pid (\d+)$", res.stdout, re.MULTILINE)
            return int(m.group(1)) if m else None
        pid = eventually(f"pod {name} to print its PID", printed, timeout, log=self.srv.log)
        self.pids.setdefault(name, []).append(pid)
        return pid

    def delete(self, *names: str, wait: float = WAIT) -> float:
        """Delete, wait until gone; the seconds it took. Every PID the pods printed must be gone."""
        started = time.monotonic()
        self.k("delete", "pod", "-n", NS, "--ignore-not-found", "--wait=true", f"--timeout={int(wait)}s", *names,
               timeout=wait + 10)
        took = time.monotonic() - started
        for name in names:
            for pid in self.pids.pop(name, []):
                eventually(f"PID {pid} of pod {name} to be gone", lambda pid=pid: not alive(pid), 10)
        return took

    def events(self, name: str) -> list[dict[str, Any]]:
        out = self.k("get", "events", "-n", NS, "--field-selector", f"involvedObject.name={name}", "-o", "json")
        return json.loads(out)["items"]

    def kubelet_pid(self) -> int | None:
        assert self.srv.proc is not None
        for pid, cmdline in children(self.srv.proc.pid):
            if " kubelet " in f" {cmdline} " and alive(pid):
                return pid
        return None


@contextlib.contextmanager
def popen_kubectl(k: Kubectl, *args: str, **kw: Any) -> Iterator[subprocess.Popen]:
    """A long-running kubectl (logs -f, port-forward), killed when the block ends whatever happens."""
    cmd = [k.path, "--kubeconfig", str(k.kubeconfig), "--cache-dir", str(k.cache_dir), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    watchdog = threading.Timer(WAIT + 30, proc.kill)
    watchdog.start()
    try:
        yield proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def line_reader(stream: Any) -> queue.Queue[bytes]:
    """Lines of a pipe on a queue, so reads can be bounded by a timeout."""
    lines: queue.Queue[bytes] = queue.Queue()

    def pump() -> None:
        for line in iter(stream.readline, b""):
            lines.put(line)
        lines.put(b"")
    threading.Thread(target=pump, daemon=True).start()
    return lines


def read_until(lines: queue.Queue[bytes], pattern: bytes, timeout: float = WAIT) -> list[bytes]:
    seen: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"{pattern!r} did not show up in {timeout:.0f}s; saw {seen!r}") from None
        seen.append(line)
        if pattern in line:
            return seen
        if line == b"":
            raise AssertionError(f"stream ended before {pattern!r}; saw {seen!r}")


# ---- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if kubectl_path("1.33") is None:
        pytest.skip("kubectl 1.33 is not installed")
    root = Path(tempfile.mkdtemp(prefix="navarch-pods-"))
    srv = NavarchServer(root / "data", free_port(), [
        "--kubelet-arg=--node-ip=127.0.0.1", "--kubelet-arg=--port=0", "--kubelet-arg=--sync-frequency=1"],
        agent=True)
    n = Node(srv, root / "work")
    try:
        srv.start()
        def node_ready() -> bool:
            out = n.k.run("get", "nodes", "-o", "json", check=False)
            items = json.loads(out.stdout)["items"] if out.returncode == 0 else []
            return any(c["type"] == "Ready" and c["status"] == "True"
                       for item in items for c in item["status"].get("conditions") or [])
        eventually("the local node Ready", node_ready, log=srv.log)
        n.k("create", "namespace", NS)
        eventually("the default ServiceAccount of the test namespace",
                   lambda: n.k.run("get", "serviceaccount", "default", "-n", NS, check=False).returncode == 0)
        yield n
    finally:
        for _ in range(3):  # a failed test's pods: the kubelet must stop them before it goes
            if not n.k.run("get", "pods", "-n", NS, "-o", "name", check=False).stdout.split():
                break
            n.k.run("delete", "pod", "-n", NS, "--all", "--wait=true", f"--timeout={int(WAIT)}s", check=False,
                    timeout=WAIT + 10)
        srv.stop()
        # The runtime's helpers (shims, and its zygote when it has one) are detached on purpose so
        # that containers survive the kubelet; once the pods are gone no shim may be left, nor any
        # process a pod printed. Whatever is left is killed (containers first), then reported.
        pod_pids = [pid for pids in n.pids.values() for pid in pids if alive(pid)]
        for pid in pod_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        left = processes_mentioning(str(srv.data_dir))
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        remove_tree(root)
        shims = [cmd for _, cmd in left if ".shim" in cmd]
        assert not shims and not pod_pids, \
            f"processes outlived their pods and the server: shims {shims}, pod processes {pod_pids}"


@pytest.fixture(scope="module")
def web(node: Node) -> Iterator[dict[str, Any]]:
    """``python3 -m http.server`` on a free port, Ready through an httpGet readiness probe."""
    site = node.tmp / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>navarch web pod</h1>\n")
    port = free_port()
    script = f'echo "pid $$$$"; exec python3 -u -m http.server {port} --bind 127.0.0.1 --directory {site}'
    node.create(pod_json("web", ["sh", "-c", script],
                         image="python:3.12-slim",
                         readinessProbe={"httpGet": {"path": "/", "port": port}, "periodSeconds": 1}))
    pod = node.wait_ready("web")
    pid = node.shell_pid("web")
    yield {"pod": pod, "port": port, "pid": pid, "site": site}
    node.delete("web")


# ---- a web server: Ready, logs, exec, port-forward, cp -------------------------------------------

def test_http_server_pod_becomes_running_and_ready_through_its_readiness_probe(node: Node, web: dict[str, Any]) -> None:
    status = web["pod"]["status"]
    assert status["phase"] == "Running"
    assert status["podIP"] == "127.0.0.1" and status["hostIP"] == "127.0.0.1"
    assert status["qosClass"] == "BestEffort" and status["startTime"]
    conds = {c["type"]: c["status"] for c in status["conditions"]}
    assert conds == {"PodReadyToStartContainers": "True", "Initialized": "True", "ContainersReady": "True",
                     "Ready": "True", "PodScheduled": "True"}
    c = status["containerStatuses"][0]
    assert (c["ready"], c["started"], c["restartCount"]) == (True, True, 0)
    assert c["containerID"].startswith("process://") and "running" in c["state"]
    assert alive(web["pid"])
    reasons = [e["reason"] for e in node.events("web")]
    for reason in ("Scheduled", "Created", "Started"):
        assert reason in reasons, reasons
    with urllib.request.urlopen(f"http://127.0.0.1:{web['port']}/", timeout=10) as r:
        assert b"navarch web pod" in r.read()


@pytest.mark.parametrize("version", VERSIONS)
def test_logs_and_logs_follow(node: Node, web: dict[str, Any], version: str) -> None:
    k = node.kubectl(version)
    logs = k("logs", "web", "-n", NS)
    assert f"Serving HTTP on 127.0.0.1 port {web['port']}" in logs
    assert k("logs", "web", "-n", NS, "--tail=1").count("\n") == 1
    marker = f"/follow-{version}-{uuid.uuid4().hex[:6]}"
    with popen_kubectl(k, "logs", "-f", "web", "-n", NS) as proc:
        lines = line_reader(proc.stdout)
        read_until(lines, b"Serving HTTP")
        with contextlib.suppress(OSError):  # a 404 is what we ask for: its log line is the point
            urllib.request.urlopen(f"http://127.0.0.1:{web['port']}{marker}", timeout=10).close()
        read_until(lines, marker.encode())  # http.server logs each request on stderr
        assert proc.poll() is None, "logs -f ended while the container runs"


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_it_prints_hi_and_exits_3(node: Node, web: dict[str, Any], version: str) -> None:
    """``kubectl exec -it`` wants a terminal on stdin: it gets a pseudo-terminal, as a user's shell
    would give it."""
    k = node.kubectl(version)
    rc, out = run_in_terminal([k.path, "--kubeconfig", str(k.kubeconfig), "--cache-dir", str(k.cache_dir),
                               "exec", "-it", "web", "-n", NS, "--", "sh", "-c", "echo hi; exit 3"], WAIT)
    assert rc == 3, out
    assert b"hi\r\n" in out, out  # a terminal turns \n into \r\n: the command ran with a TTY

    # Without a terminal: stdin through -i, output and the exit code kept.
    res = k.run("exec", "-i", "web", "-n", NS, "--", "sh", "-c", "cat; exit 3", input="hi\n", check=False)
    assert (res.stdout, res.returncode) == ("hi\n", 3), res.stderr
    assert "command terminated with exit code 3" in res.stderr


@pytest.mark.parametrize("version", VERSIONS)
def test_port_forward_serves_the_page(node: Node, web: dict[str, Any], version: str) -> None:
    k = node.kubectl(version)
    local = free_port()
    with popen_kubectl(k, "port-forward", "pod/web", "-n", NS, f"{local}:{web['port']}") as proc:
        lines = line_reader(proc.stdout)
        read_until(lines, f"Forwarding from 127.0.0.1:{local} -> {web['port']}".encode())
        for _ in range(2):  # a second connection over the same tunnel
            with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=20) as r:
                assert r.status == 200
                assert b"navarch web pod" in r.read()


@pytest.mark.parametrize("version", VERSIONS)
def test_cp_copies_a_file_in_and_out(node: Node, web: dict[str, Any], version: str) -> None:
    k = node.kubectl(version)
    src = node.tmp / f"payload-{version}.bin"
    data = os.urandom(200_000)
    src.write_bytes(data)
    inside = f"/tmp/navarch-cp-{uuid.uuid4().hex[:8]}"
    k("exec", "web", "-n", NS, "--", "mkdir", "-p", inside)
    try:
        k("cp", str(src), f"{NS}/web:{inside}/payload.bin")
        assert k("exec", "web", "-n", NS, "--", "sh", "-c", f"wc -c < {inside}/payload.bin").strip() == str(len(data))
        back = node.tmp / f"back-{version}.bin"
        k("cp", f"{NS}/web:{inside}/payload.bin", str(back))
        assert back.read_bytes() == data
    finally:
        k.run("exec", "web", "-n", NS, "--", "rm", "-rf", inside, check=False)


# ---- restarts, probes, limits -------------------------------------------------------------------

def test_crash_loop_backoff_grows_and_logs_previous_shows_the_last_run(node: Node) -> None:
    """Exit 1 under restartPolicy Always: restarted at once, then held back 10 s, then 20 s
    (upstream's doubling), shown as CrashLoopBackOff with a rising restartCount."""
    counter = node.tmp / "crash-runs"
    script = f'n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}; echo "run $n"; exit 1'
    node.create(pod_json("crash", ["sh", "-c", script], grace=1))
    messages: list[str] = []
    restarts: dict[int, float] = {}

    def backoff_after_two_restarts() -> bool:
        c = node.container("crash")
        count = c.get("restartCount", 0)
        restarts.setdefault(count, time.monotonic())
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == "CrashLoopBackOff" and waiting.get("message", "") not in messages:
            messages.append(waiting["message"])
        return count >= 2 and waiting.get("reason") == "CrashLoopBackOff" and "back-off 20s" in waiting["message"]

    try:
        eventually("two restarts and a 20s back-off", backoff_after_two_restarts, 40, interval=0.3,
                   log=node.srv.log)
        c = node.container("crash")
        assert c["restartCount"] == 2
        assert [re.match(r"back-off (\d+s)", m).group(1) for m in messages] == ["10s", "20s"], messages
        assert all(m.endswith(f"restarting failed container=c pod=crash_{NS}({node.get('crash')['metadata']['uid']})")
                   for m in messages)
        # The first restart is immediate, the second waits out the 10 s back-off.
        assert restarts[2] - restarts[1] >= 9.0, restarts
        last = c["lastState"]["terminated"]
        assert (last["exitCode"], last["reason"]) == (1, "Error")
        assert node.k("logs", "crash", "-n", NS) == "run 3\n"
        assert node.k("logs", "crash", "-n", NS, "--previous") == "run 2\n"
        assert node.get("crash")["status"]["phase"] == "Running"
        reasons = [e["reason"] for e in node.events("crash")]
        assert "BackOff" in reasons, reasons
    finally:
        node.delete("crash")


def test_failing_liveness_probe_restarts_the_container(node: Node) -> None:
    """Healthy for 2 s, then the exec probe fails: Unhealthy, Killing, and a new instance."""
    flags = node.tmp / "liveness"
    flags.mkdir()
    script = f'echo "pid $$$$"; touch {flags}/$$$$; sleep 2; rm {flags}/$$$$; while true; do sleep 0.2; done'
    node.create(pod_json("live", ["sh", "-c", script], grace=1,
                         livenessProbe={"exec": {"command": ["sh", "-c", f"ls {flags} | grep -q ."]},
                                        "periodSeconds": 1, "failureThreshold": 1}))
    try:
        first = node.shell_pid("live")
        eventually("a restart after the liveness failure", lambda: node.container("live").get("restartCount", 0) >= 1,
                   log=node.srv.log)
        assert not alive(first), "the unhealthy instance was not stopped"
        events = node.events("live")
        unhealthy = [e for e in events if e["reason"] == "Unhealthy"]
        assert unhealthy and unhealthy[0]["message"].startswith("Liveness probe failed"), events
        killing = [e["message"] for e in events if e["reason"] == "Killing"]
        assert "Container c failed liveness probe, will be restarted" in killing, killing
        second = eventually("the new instance's PID", lambda: [
            int(m) for m in re.findall(r"^pid (\d+)$", node.k("logs", "live", "-n", NS), re.MULTILINE) if int(m) != first])
        node.pids["live"].extend(second)
    finally:
        node.delete("live")


def test_memory_hog_with_a_64mi_limit_ends_oomkilled(node: Node) -> None:
    if os.geteuid() != 0:
        pytest.skip("memory limits need cgroups, which the process runtime only uses as root")
    from navarch.kubelet.runtimes.process import cgroups

    if not cgroups.available():
        pytest.skip("the cgroup v1 memory/cpu/pids hierarchies are not writable here")
    hog = "import time\nb = []\nwhile True:\n    b.append(b'x' * 2**22)\n    time.sleep(0.005)\n"
    node.create(pod_json("hog", ["python3", "-c", hog], restart="Never", image="python:3.12-slim",
                         resources={"limits": {"memory": "64Mi"}}))
    try:
        def terminated() -> dict[str, Any] | None:
            return (node.container("hog").get("state") or {}).get("terminated")
        term = eventually("the hog to be killed", terminated, log=node.srv.log)
        assert (term["reason"], term["exitCode"]) == ("OOMKilled", 137), term
        eventually("phase Failed", lambda: node.get("hog")["status"]["phase"] == "Failed")
        assert "OOMKilled" in node.k("get", "pod", "hog", "-n", NS)
    finally:
        node.delete("hog")


# ---- identity ------------------------------------------------------------------------------------

def test_security_context_sets_the_user_and_groups_of_the_process_and_of_exec(node: Node) -> None:
    if os.geteuid() != 0:
        pytest.skip("running a container as another user needs a kubelet running as root")
    # The container's runAsGroup wins over the pod's; supplementalGroups and fsGroup join the groups.
    node.create(pod_json("ident", ["sh", "-c", "echo pid $$$$; id; sleep 3600"], securityContext={"runAsGroup": 3000},
                         spec={"securityContext": {"runAsUser": 1000, "runAsGroup": 2000, "supplementalGroups": [4000],
                                                   "fsGroup": 5000}}))
    try:
        node.shell_pid("ident")
        line = eventually("id's output", lambda: re.search(r"^uid=.*$", node.k("logs", "ident", "-n", NS),
                                                           re.MULTILINE), log=node.srv.log).group(0)
        assert re.match(r"uid=1000\b", line) and re.search(r" gid=3000\b", line), line
        groups = set(re.findall(r"(\d+)", line.split("groups=", 1)[1]))
        assert {"3000", "4000", "5000"} <= groups and "0" not in groups, line
        assert node.k("exec", "ident", "-n", NS, "--", "id", "-u").strip() == "1000"
        assert node.k("exec", "ident", "-n", NS, "--", "id", "-g").strip() == "3000"
    finally:
        node.delete("ident")


def test_run_as_non_root_refuses_a_container_that_would_run_as_root(node: Node) -> None:
    if os.geteuid() != 0:
        pytest.skip("a kubelet that is not root runs its containers as a non-root user")
    node.create(pod_json("nonroot", ["sleep", "3600"], spec={"securityContext": {"runAsNonRoot": True}}))
    try:
        def refused() -> dict[str, Any] | None:
            waiting = (node.container("nonroot").get("state") or {}).get("waiting") or {}
            return waiting if waiting.get("reason") == "CreateContainerConfigError" else None
        waiting = eventually("CreateContainerConfigError", refused, log=node.srv.log)
        uid = (node.get("nonroot") or {})["metadata"]["uid"]
        message = f'container has runAsNonRoot and image will run as root (pod: "nonroot_{NS}({uid})", container: c)'
        assert waiting["message"] == message
        assert f"Error: {message}" in [e["message"] for e in node.events("nonroot") if e["reason"] == "Failed"]
    finally:
        node.delete("nonroot")


# ---- configuration into the pod ------------------------------------------------------------------

def test_env_from_configmap_secret_and_downward_api_and_volume_files(node: Node) -> None:
    mounts = node.tmp / "mounts"
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": NS},
         "data": {"greeting": "hello", "color": "blue"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secret", "namespace": NS},
         "stringData": {"password": "s3cret"}},
    ]
    node.k("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    env = [
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "greeting"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "password"}}},
        {"name": "MISSING", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "nope",
                                                              "optional": True}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MEMORY_LIMIT_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                                       "divisor": "1Mi"}}},
        {"name": "MESSAGE", "value": "$(GREETING) from $(POD_NAME)"},
    ]
    node.create(pod_json(
        "configured", ["sh", "-c", 'echo "pid $$$$"; env | sort; exec sleep 3600'], grace=1, env=env,
        envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "app-config"}}],
        resources={"limits": {"memory": "128Mi"}},
        volumeMounts=[{"name": "config", "mountPath": f"{mounts}/config"},
                      {"name": "secret", "mountPath": f"{mounts}/secret", "readOnly": True}],
        spec={"volumes": [{"name": "config", "configMap": {"name": "app-config"}},
                          {"name": "secret", "secret": {"secretName": "app-secret"}}]}))
    try:
        pod = node.wait_ready("configured")
        node.shell_pid("configured")
        printed = dict(line.split("=", 1) for line in node.k("logs", "configured", "-n", NS).splitlines()
                       if "=" in line)
        assert {k: printed.get(k) for k in ("GREETING", "PASSWORD", "POD_NAME", "POD_NAMESPACE", "POD_IP",
                                            "NODE_NAME", "MEMORY_LIMIT_MI", "MESSAGE", "CFG_greeting",
                                            "CFG_color")} == {
            "GREETING": "hello", "PASSWORD": "s3cret", "POD_NAME": "configured", "POD_NAMESPACE": NS,
            "POD_IP": "127.0.0.1", "NODE_NAME": pod["spec"]["nodeName"], "MEMORY_LIMIT_MI": "128",
            "MESSAGE": "hello from configured", "CFG_greeting": "hello", "CFG_color": "blue"}
        assert "MISSING" not in printed

        if os.geteuid() != 0:
            pytest.skip("without root the process runtime cannot mount volumes at their mountPath "
                        "(no mount namespace); the env part passed")

        def read(path: str) -> str:
            return node.k("exec", "configured", "-n", NS, "--", "cat", path)
        assert read(f"{mounts}/config/greeting") == "hello"
        assert read(f"{mounts}/config/color") == "blue"
        assert read(f"{mounts}/secret/password") == "s3cret"
        res = node.k.run("exec", "configured", "-n", NS, "--", "sh", "-c", f"echo x > {mounts}/secret/new",
                         check=False)
        assert res.returncode != 0 and "Read-only file system" in res.stderr, res
        # Upstream's layout: keys are symlinks through ..data, swapped atomically on update.
        listing = node.k("exec", "configured", "-n", NS, "--", "ls", "-a", f"{mounts}/config").split()
        assert "..data" in listing and "greeting" in listing

        node.k("patch", "configmap", "app-config", "-n", NS, "-p", '{"data": {"greeting": "bonjour"}}')
        eventually("the mounted file to follow the ConfigMap edit",
                   lambda: read(f"{mounts}/config/greeting") == "bonjour", 30, interval=0.5, log=node.srv.log)
        assert node.container("configured")["restartCount"] == 0
    finally:
        node.delete("configured")
        node.k.run("delete", "configmap", "app-config", "-n", NS, check=False)
        node.k.run("delete", "secret", "app-secret", "-n", NS, check=False)


# ---- termination -----------------------------------------------------------------------------------

def test_delete_of_a_pod_that_traps_sigterm_ends_at_once(node: Node) -> None:
    marker = node.tmp / "trap-got-term"
    script = f"""trap 'echo got TERM > {marker}; exit 0' TERM; echo "pid $$$$"; while true; do sleep 0.2; done"""
    node.create(pod_json("trap", ["sh", "-c", script], grace=30))
    node.wait_ready("trap")
    pid = node.shell_pid("trap")
    took = node.delete("trap")
    assert took < 10, f"a pod that exits on SIGTERM took {took:.1f}s of its 30s grace period"
    assert marker.read_text() == "got TERM\n", "the container did not get SIGTERM"
    assert not alive(pid)


def test_delete_of_a_pod_that_ignores_sigterm_kills_it_after_the_grace_period(node: Node) -> None:
    script = """trap '' TERM; echo "pid $$$$"; while true; do sleep 0.2; done"""
    node.create(pod_json("stubborn", ["sh", "-c", script], grace=3))
    node.wait_ready("stubborn")
    pid = node.shell_pid("stubborn")
    node.k("delete", "pod", "stubborn", "-n", NS, "--wait=false")
    time.sleep(1.5)
    assert alive(pid), "SIGKILLed before its grace period was up"
    took = 1.5 + node.delete("stubborn")
    assert 2.5 <= took < 15, f"took {took:.1f}s for a 3s grace period"
    assert not alive(pid)


# ---- a kubelet restart ----------------------------------------------------------------------------

def test_a_killed_kubelet_is_restarted_and_adopts_the_running_pods(node: Node) -> None:
    node.create(pod_json("survivor", ["sh", "-c", 'echo "pid $$$$"; while true; do sleep 0.2; done'], grace=1))
    try:
        before = node.wait_ready("survivor")["status"]["containerStatuses"][0]
        pid = node.shell_pid("survivor")
        kubelet = node.kubelet_pid()
        assert kubelet is not None, "navarch server runs no kubelet child"
        os.kill(kubelet, signal.SIGKILL)
        eventually("the kubelet to be gone", lambda: not alive(kubelet), 10)
        restarted = eventually("the supervisor to start a new kubelet",
                               lambda: (p := node.kubelet_pid()) is not None and p != kubelet and p, 30)
        # The new kubelet proves it took the pod over by serving it: exec goes through its server.
        eventually("exec through the new kubelet", lambda: node.k.run(
            "exec", "survivor", "-n", NS, "--", "true", check=False).returncode == 0, log=node.srv.log)
        time.sleep(2)  # a few syncs (--sync-frequency=1): time enough to restart what it would restart
        after = node.get("survivor")["status"]["containerStatuses"][0]
        assert alive(pid), "the pod's process did not survive the kubelet"
        assert (after["containerID"], after["restartCount"]) == (before["containerID"], 0), after
        assert after["state"] == before["state"] and after["ready"]
        assert re.findall(r"^pid (\d+)$", node.k("logs", "survivor", "-n", NS), re.MULTILINE) == [str(pid)]
        assert node.kubelet_pid() == restarted
    finally:
        node.delete("survivor")

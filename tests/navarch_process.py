"""Start real ``navarch`` processes on free loopback ports for integration tests and benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tests.clients import kubectl_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NavarchServer:
    data_dir: Path
    port: int
    args: list[str] = field(default_factory=list)
    command: str = "server"
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    # ``navarch server`` runs a local kubelet unless told not to; tests get it only when they ask,
    # so that node counts, scheduling spreads and host processes stay theirs.
    agent: bool = False

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    def start(self, timeout: float = 30.0) -> "NavarchServer":
        self.log_path = self.data_dir.parent / f"navarch-{self.port}.log"
        log = open(self.log_path, "ab")
        extra = ["--disable-agent"] if self.command == "server" and not self.agent and \
            "--disable-agent" not in self.args else []
        cmd = [sys.executable, "-m", "navarch", self.command, "--data-dir", str(self.data_dir),
               "--port", str(self.port), *self.args, *extra]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"navarch exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=ctx, timeout=1) as r:
                    if r.status == 200 and self.kubeconfig.exists():
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"navarch did not become ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")[-5000:]
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            self._stop_zygote()
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)
        finally:
            self._stop_zygote()

    def _stop_zygote(self) -> None:
        """The local kubelet's process runtime leaves its zygote running (as it does containers);
        a test's server takes it along, by the PID and start time it recorded."""
        record = self.data_dir / "agent" / "kubelet" / "runtime" / "zygote.json"
        try:
            info = json.loads(record.read_text())
            pid, start = int(info["pid"]), info.get("start_time")
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if start is not None and int(fields[19]) != int(start):
                return  # the PID was reused
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError, IndexError):
            pass

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def run_in_terminal(argv: list[str], timeout: float) -> tuple[int, bytes]:
    """Run ``argv`` with a pseudo-terminal as its stdin, stdout and stderr (as ``kubectl exec -it``
    needs: a user's shell would give it one); its exit code and everything it wrote. Killed by PID
    when it outlives ``timeout``."""
    import pty

    master, slave = pty.openpty()
    out = b""
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        try:
            rc = proc.wait(timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        os.close(slave)
        slave = -1
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the terminal's other side is closed and drained
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return rc, out


class Kubectl:
    """Runs one kubectl version against one server, with its own discovery cache."""

    def __init__(self, version: str, kubeconfig: Path, cache_dir: Path | None = None) -> None:
        path = kubectl_path(version)
        if path is None:
            raise FileNotFoundError(f"kubectl {version} is not installed")
        self.path = path
        self.version = version
        self.kubeconfig = kubeconfig
        self._cache_dir = cache_dir

    @property
    def cache_dir(self) -> Path:
        """Beside the kubeconfig (in the server's data dir, or the test's own), so it is removed with
        it; made at first use, since the server writes its kubeconfig only once it runs."""
        if self._cache_dir is None:
            # A cleanup after a server that never started still runs kubectl (which then fails).
            self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            self._cache_dir = Path(tempfile.mkdtemp(prefix=f"kubectl-{self.version}-cache-", dir=self.kubeconfig.parent))
        return self._cache_dir

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        cmd = [self.path, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        full_env = dict(os.environ, KUBECTL_COMMAND_HEADERS="true", **(env or {}))
        full_env.pop("KUBECONFIG", None)
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout, env=full_env)
        if check and res.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({res.returncode}):\n"
                                 f"stdout: {res.stdout}\nstderr: {res.stderr}")
        return res

    def __call__(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout


# Without the controller manager no namespace gets its ``default`` ServiceAccount, and the
# ServiceAccount admission plugin would refuse every pod: upstream's integration tests turn it off too.
NO_SERVICE_ACCOUNTS = "--disable-admission-plugins=ServiceAccount"
API_ONLY = ("--disable-scheduler", "--disable-controller-manager", "--disable-cloud-controller-manager",
            "--disable-agent", NO_SERVICE_ACCOUNTS)


def remove_tree(root: Path) -> None:
    """Remove a test's temporary dir, first unmounting the volumes a kubelet stopped with live pods
    left there (they would make the removal fail and outlive the test)."""
    from navarch.kubelet.volumes.mounts import unmount_all_under

    unmount_all_under(str(root))
    shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_server(prefix: str, *args: str, api_only: bool = True) -> Iterator[NavarchServer]:
    """A ``navarch server`` in a temporary data dir on a free port, stopped and removed afterwards.

    ``api_only`` leaves out the scheduler, controllers and node agent, so only the test (and the
    components it runs itself) writes objects.
    """
    root = Path(tempfile.mkdtemp(prefix=f"navarch-{prefix}-"))
    srv = NavarchServer(root / "data", free_port(), [*(API_ONLY if api_only else ()), *args])
    try:
        yield srv.start()
    finally:
        srv.stop()
        remove_tree(root)

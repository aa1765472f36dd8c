"""Start real etcd members on free loopback ports, for tests and benchmarks that need etcd.

A plain module (not a fixture) so unit tests, integration tests and benchmarks can all use it:

    with EtcdCluster(size=3) as cluster:
        store = EtcdStore(cluster.endpoints)
        cluster.stop_member(0)   # failover

Each member gets a temporary data directory; members are stopped by the PID this module started
(SIGTERM, then SIGKILL after a bounded wait) and their directories removed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ETCD_BINARY = os.environ.get("NAVARCH_ETCD_BINARY", "/usr/bin/etcd")


def etcd_available(binary: str = ETCD_BINARY) -> bool:
    return os.access(binary, os.X_OK)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"


class EtcdCluster:
    def __init__(self, size: int = 1, *, binary: str = ETCD_BINARY, startup_timeout: float = 30.0) -> None:
        self.binary = binary
        self.startup_timeout = startup_timeout
        self._root = Path(tempfile.mkdtemp(prefix="navarch-etcd-"))
        ports = set()
        while len(ports) < 2 * size:
            ports.add(free_port())
        port_list = sorted(ports)
        self.members = [
            Member(f"m{i}", port_list[2 * i], port_list[2 * i + 1], self._root / f"m{i}")
            for i in range(size)
        ]
        self._token = f"navarch-test-{os.getpid()}-{port_list[0]}"

    @property
    def endpoints(self) -> list[str]:
        return [m.client_url for m in self.members]

    def _command(self, member: Member, state: str) -> list[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members)
        return [
            self.binary,
            "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--listen-client-urls", member.client_url,
            "--advertise-client-urls", member.client_url,
            "--listen-peer-urls", member.peer_url,
            "--initial-advertise-peer-urls", member.peer_url,
            "--initial-cluster", initial,
            "--initial-cluster-state", state,
            "--initial-cluster-token", self._token,
            "--logger", "zap",
            "--log-level", "error",
        ]

    def _spawn(self, member: Member, state: str) -> None:
        log = open(self._root / f"{member.name}.log", "ab")
        try:
            member.process = subprocess.Popen(self._command(member, state), stdout=log, stderr=log,
                                              stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            log.close()

    def start(self) -> "EtcdCluster":
        for member in self.members:
            self._spawn(member, "new")
        try:
            self.wait_healthy(self.members)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, members: list[Member]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = list(members)
        while pending:
            member = pending[0]
            if member.process is not None and member.process.poll() is not None:
                raise RuntimeError(f"etcd {member.name} exited with {member.process.returncode}: "
                                   f"{self.log_tail(member)}")
            if self._healthy(member):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd {member.name} not healthy after {self.startup_timeout}s: "
                                   f"{self.log_tail(member)}")
            time.sleep(0.1)

    @staticmethod
    def _healthy(member: Member) -> bool:
        try:
            with urllib.request.urlopen(f"{member.client_url}/health", timeout=1) as resp:
                return b'"true"' in resp.read()
        except OSError:
            return False

    def log_tail(self, member: Member, size: int = 2000) -> str:
        path = self._root / f"{member.name}.log"
        return path.read_bytes()[-size:].decode(errors="replace") if path.exists() else ""

    def stop_member(self, index: int, *, kill: bool = False) -> None:
        member = self.members[index]
        proc, member.process = member.process, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart_member(self, index: int) -> None:
        """Start a stopped member again with its existing data directory (it rejoins the cluster)."""
        member = self.members[index]
        if member.process is None:
            self._spawn(member, "existing")
            self.wait_healthy([member])

    def stop(self) -> None:
        for i in range(len(self.members)):
            self.stop_member(i)
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> "EtcdCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

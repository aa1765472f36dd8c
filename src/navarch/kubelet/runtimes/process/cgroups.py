"""Per-container cgroups (v1 hierarchies, as on these machines: see docs/runtime-process.md).

Each container gets ``navarch/<container id>`` in the memory, cpu and pids hierarchies:
- memory: ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes`` when swap is accounted, so
  the limit cannot be dodged by swapping); the kernel's OOM killer then SIGKILLs inside the group and
  counts it in ``memory.oom_control`` (``oom_kill``), which is how an exit is known to be OOMKilled;
- cpu: CFS quota ``cpu_millis * period / 1000`` per 100 ms period (upstream's conversion);
- pids: no limit, but membership lets the shim find and kill every process the container left.
Only the standard library is imported: the shim uses this module.
"""

from __future__ import annotations

import errno
import os
import signal
import time

CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "navarch"
CONTROLLERS = ("memory", "cpu", "pids")
CFS_PERIOD_US = 100_000
MIN_QUOTA_US = 1_000  # the kernel's minimum quota


def available() -> bool:
    """Whether this process can create v1 cgroups for every controller we use."""
    if os.geteuid() != 0:
        return False
    return all(os.access(os.path.join(CGROUP_ROOT, c, "cgroup.procs"), os.W_OK) for c in CONTROLLERS)


class Cgroup:
    """One container's cgroup: the same relative path in each controller's hierarchy. (A plain class:
    ``dataclasses`` would pull ``inspect`` into every shim.)"""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name  # relative to each hierarchy's root, e.g. navarch/<id>

    def __repr__(self) -> str:
        return f"Cgroup({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cgroup) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @classmethod
    def for_container(cls, container_id: str) -> Cgroup:
        return cls(f"{PARENT}/{container_id}")

    def path(self, controller: str) -> str:
        return os.path.join(CGROUP_ROOT, controller, self.name)

    def create(self, *, cpu_millis: int | None, memory_bytes: int | None) -> None:
        for controller in CONTROLLERS:
            os.makedirs(self.path(controller), exist_ok=True)
        if memory_bytes:
            _write(self.path("memory"), "memory.limit_in_bytes", str(memory_bytes))
            memsw = os.path.join(self.path("memory"), "memory.memsw.limit_in_bytes")
            if os.path.exists(memsw):
                _write(self.path("memory"), "memory.memsw.limit_in_bytes", str(memory_bytes))
        if cpu_millis:
            quota = max(cpu_millis * CFS_PERIOD_US // 1000, MIN_QUOTA_US)
            _write(self.path("cpu"), "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(self.path("cpu"), "cpu.cfs_quota_us", str(quota))

    def join(self, pid: int = 0) -> None:
        """Move ``pid`` (0: the calling process) into every controller's group."""
        for controller in CONTROLLERS:
            _write(self.path(controller), "cgroup.procs", str(pid or os.getpid()))

    def pids(self) -> list[int]:
        try:
            with open(os.path.join(self.path("memory"), "cgroup.procs")) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def kill_all(self) -> None:
        """SIGKILL whatever is still in the group (processes that left the container's process group)."""
        for _ in range(10):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)

    def oom_killed(self) -> bool:
        try:
            with open(os.path.join(self.path("memory"), "memory.oom_control")) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value) > 0
        except FileNotFoundError:
            pass
        return False

    def remove(self) -> None:
        """Remove the group (killing stragglers first); missing groups are fine."""
        self.kill_all()
        for controller in CONTROLLERS:
            path = self.path(controller)
            for attempt in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    # EBUSY while the last killed process is still being torn down.
                    if e.errno != errno.EBUSY or attempt == 49:
                        raise
                    time.sleep(0.01)


def current_procs_files(pid: int = 0) -> list[str]:
    """The ``cgroup.procs`` files of the groups ``pid`` (0: the calling process) is in, one per
    controller we use: where a shim goes back to after spawning its container from inside the
    container's groups (see ``shim.py``)."""
    groups: dict[str, str] = {}
    fd = os.open(f"/proc/{pid or 'self'}/cgroup", os.O_RDONLY | os.O_CLOEXEC)
    try:
        text = os.read(fd, 65536).decode()
    finally:
        os.close(fd)
    for line in text.splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(","):
            groups[name] = path
    return [os.path.join(CGROUP_ROOT, c, groups.get(c, "/").lstrip("/"), "cgroup.procs") for c in CONTROLLERS]


def move_to(procs_files: list[str], pid: int = 0) -> None:
    """Write ``pid`` (0: the calling process) into each of ``procs_files``."""
    value = str(pid or os.getpid()).encode()
    for path in procs_files:
        _write_file(path, value)


def _write(directory: str, name: str, value: str) -> None:
    _write_file(os.path.join(directory, name), value.encode())


def _write_file(path: str, value: bytes) -> None:
    # One write(2), no file object: a cgroup file takes the value in a single write.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value)
    finally:
        os.close(fd)

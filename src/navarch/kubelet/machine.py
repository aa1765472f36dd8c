"""What a real node reads from its machine: resources, addresses, identity and pressure.

Upstream gets these from cAdvisor (machine info, filesystem and memory stats); navarch reads the same
sources directly: ``/proc/meminfo``, ``statvfs`` of the kubelet's root dir, the cgroup CPU quota,
``/sys/kernel/mm/hugepages``, ``/etc/machine-id``, ``/etc/os-release``, the boot id.

Allocatable is upstream's formula: capacity minus kube/system reservations minus the hard eviction
thresholds of memory and disk (``memory.available`` 100Mi, ``nodefs.available`` 10%), and minus
pre-allocated huge pages for memory, so ``kubectl describe node`` reads as on a kubeadm node.

Pressure conditions compare the machine's free resources with the hard eviction thresholds at each
node status round (upstream's eviction manager feeds the same conditions). navarch reports them but
evicts nothing yet.

Every reader takes ``fs_root`` (the directory standing for ``/``) so tests can give a fake machine;
they do small blocking reads, so coroutines call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import platform
import re
import socket
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Mapping

log = logging.getLogger(__name__)

DEFAULT_MAX_PODS = 110
# Upstream's Linux defaults (DefaultEvictionHard) plus a PID headroom, which upstream leaves unset:
# without it PIDPressure could never turn True on a default kubelet.
DEFAULT_EVICTION_HARD: Mapping[str, str] = {
    "memory.available": "100Mi",
    "nodefs.available": "10%",
    "nodefs.inodesFree": "5%",
    "pid.available": "10%",
}
# Signals whose threshold is held back from allocatable (upstream ``hardEvictionReservation``).
_RESERVING_SIGNALS = {"memory.available": "memory", "nodefs.available": "ephemeral-storage"}

# Go's GOARCH names for ``uname -m``, as ``kubernetes.io/arch`` and nodeInfo.architecture show them.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
           "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
           "riscv64": "riscv64", "loongarch64": "loong64", "mips64": "mips64le"}

_BINARY = (("Ei", 2**60), ("Pi", 2**50), ("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10))
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": Decimal(10**3),
            "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12), "P": Decimal(10**15),
            "E": Decimal(10**18)}


@dataclass(frozen=True)
class Machine:
    """The machine as read once at start. Byte counts are exact (not rounded)."""

    cpus: int
    memory_bytes: int
    storage_bytes: int
    hostname: str
    internal_ip: str
    architecture: str
    operating_system: str = "linux"
    # "hugepages-2Mi" -> bytes of pre-allocated pages of that size (0 when none)
    hugepages: Mapping[str, int] = field(default_factory=dict)
    # machineID, systemUUID, bootID, kernelVersion, osImage (what is known)
    node_info: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NodePressure:
    memory: bool = False
    disk: bool = False
    pid: bool = False


@dataclass(frozen=True)
class MachineStats:
    """Free and total amounts of each eviction signal's resource, at one instant."""

    memory_available: int
    memory_capacity: int
    nodefs_available: int
    nodefs_capacity: int
    inodes_free: int
    inodes_total: int
    pids_available: int
    pids_max: int


# ---- quantities ---------------------------------------------------------------------------------

def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("100Mi", "1.5", "250m", "2e3") as a number; ValueError if malformed."""
    s = str(text).strip()
    for suffix, factor in _BINARY:
        if s.endswith(suffix):
            return _decimal(s[: -len(suffix)], text) * factor
    if s and s[-1] in _DECIMAL:
        return _decimal(s[:-1], text) * _DECIMAL[s[-1]]
    return _decimal(s, text)


def _decimal(number: str, text: str) -> Decimal:
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise ValueError(f"quantity {text!r} is not valid") from None
    if not value.is_finite():
        raise ValueError(f"quantity {text!r} is not valid")
    return value


def format_bytes(n: int) -> str:
    """Bytes as upstream's canonical BinarySI form: the largest binary suffix that divides exactly
    (MemTotal in kB reads back as ``16318504Ki``)."""
    n = max(int(n), 0)
    for suffix, factor in _BINARY:
        if n and n % factor == 0:
            return f"{n // factor}{suffix}"
    return str(n)


def format_millicores(m: int) -> str:
    m = max(int(m), 0)
    return str(m // 1000) if m % 1000 == 0 else f"{m}m"


def threshold_amount(value: str, capacity: int) -> int:
    """A threshold ("100Mi", "10%") as an absolute amount of a resource of the given capacity."""
    v = value.strip()
    if v.endswith("%"):
        pct = _decimal(v[:-1], value)
        if not 0 <= pct <= 100:
            raise ValueError(f"threshold {value!r} is not a percentage between 0 and 100")
        return int(capacity * pct / 100)
    return int(parse_quantity(v))


# ---- reading the machine ------------------------------------------------------------------------

def read_machine(root_dir: str | os.PathLike[str], *, node_ip: str = "", hostname: str = "",
                 fs_root: str | os.PathLike[str] = "/") -> Machine:
    """Everything a Node reports about its machine. ``root_dir`` is the kubelet's root directory,
    whose filesystem is the node's ephemeral storage (upstream: the filesystem of /var/lib/kubelet)."""
    root = Path(fs_root)
    name = hostname or default_hostname()
    return Machine(
        cpus=cpu_count(root), memory_bytes=memory_total(root), storage_bytes=filesystem_size(root_dir),
        hostname=name, internal_ip=node_ip or primary_ipv4(name),
        architecture=go_arch(platform.machine()), hugepages=hugepages(root), node_info=node_info(root))


def default_hostname() -> str:
    """Upstream's default node name: the host name, trimmed and lowercased."""
    return socket.gethostname().strip().lower()


def go_arch(machine: str) -> str:
    return _GOARCH.get(machine.lower(), machine.lower() or "amd64")


def cpu_count(fs_root: Path, affinity: int | None = None) -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota (rounded up, as a
    quota of 1.5 CPUs still runs on two)."""
    if affinity is None:
        try:
            affinity = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            affinity = os.cpu_count() or 1
    quota = cgroup_cpu_quota(fs_root)
    if quota is not None:
        affinity = min(affinity, max(1, math.ceil(quota)))
    return max(1, affinity)


def cgroup_cpu_quota(fs_root: Path) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup or its ancestors, v2 or v1."""
    limits: list[float] = []
    for line in _read(fs_root / "proc/self/cgroup").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hier == "0" and controllers == "":
            base = fs_root / "sys/fs/cgroup"
            for d in _cgroup_dirs(base, path):
                parts = _read(d / "cpu.max").split()
                if len(parts) == 2 and parts[0] != "max":
                    limits.append(_ratio(parts[0], parts[1]))
        elif "cpu" in controllers.split(","):
            for mount in ("cpu,cpuacct", "cpu"):
                base = fs_root / "sys/fs/cgroup" / mount
                if not base.is_dir():
                    continue
                for d in _cgroup_dirs(base, path):
                    q, p = _read(d / "cpu.cfs_quota_us").strip(), _read(d / "cpu.cfs_period_us").strip()
                    if q and p and not q.startswith("-"):
                        limits.append(_ratio(q, p))
                break
    limits = [x for x in limits if x > 0]
    return min(limits) if limits else None


def _cgroup_dirs(base: Path, path: str) -> list[Path]:
    """The cgroup's directory and its ancestors' up to the hierarchy root (limits are inherited)."""
    parts = [p for p in path.split("/") if p]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def _ratio(quota: str, period: str) -> float:
    try:
        return int(quota) / int(period) if int(period) > 0 else 0.0
    except ValueError:
        return 0.0


def memory_total(fs_root: Path) -> int:
    return _meminfo(fs_root).get("MemTotal", 0)


def _meminfo(fs_root: Path) -> dict[str, int]:
    """/proc/meminfo in bytes (its "kB" are KiB)."""
    out: dict[str, int] = {}
    for line in _read(fs_root / "proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key.strip()] = int(fields[0]) * (1024 if fields[1:2] == ["kB"] else 1)
    return out


def filesystem_size(path: str | os.PathLike[str]) -> int:
    st = os.statvfs(_existing_ancestor(Path(path)))
    return st.f_blocks * st.f_frsize


def _existing_ancestor(path: Path) -> Path:
    # The root dir may not exist before the first start; its filesystem is the nearest ancestor's.
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def hugepages(fs_root: Path) -> dict[str, int]:
    """Every huge page size the kernel supports, with the bytes pre-allocated in it (upstream shows
    ``hugepages-1Gi: 0`` and ``hugepages-2Mi: 0`` on most x86 machines)."""
    out: dict[str, int] = {}
    base = fs_root / "sys/kernel/mm/hugepages"
    try:
        entries = sorted(base.iterdir())
    except OSError:
        return out
    for d in entries:
        m = re.fullmatch(r"hugepages-(\d+)kB", d.name)
        if not m:
            continue
        size = int(m.group(1)) * 1024
        count = _read(d / "nr_hugepages").strip()
        out["hugepages-" + format_bytes(size)] = size * (int(count) if count.isdigit() else 0)
    return out


def node_info(fs_root: Path) -> dict[str, str]:
    info = {
        "machineID": _read(fs_root / "etc/machine-id").strip(),
        # root-only on most machines; upstream leaves it empty when unreadable too
        "systemUUID": _read(fs_root / "sys/class/dmi/id/product_uuid").strip(),
        "bootID": _read(fs_root / "proc/sys/kernel/random/boot_id").strip(),
        "kernelVersion": _read(fs_root / "proc/sys/kernel/osrelease").strip() or platform.release(),
        "osImage": os_image(fs_root),
    }
    return {k: v for k, v in info.items() if v}


def os_image(fs_root: Path) -> str:
    """PRETTY_NAME from os-release (upstream's osImage), falling back to the kernel's name."""
    for path in (fs_root / "etc/os-release", fs_root / "usr/lib/os-release"):
        for line in _read(path).splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "PRETTY_NAME":
                return value.strip().strip("\"'")
    return platform.system() or "Linux"


def primary_ipv4(hostname: str) -> str:
    """Upstream's choice of node IP when ``--node-ip`` is not given: the host name's first
    non-loopback IPv4 address, else the address of the interface holding the default route, else
    127.0.0.1 (a machine without a network still runs a node)."""
    try:
        for *_, addr in socket.getaddrinfo(hostname, None, socket.AF_INET, socket.SOCK_STREAM):
            ip = str(addr[0])
            if not ip.startswith("127.") and ip != "0.0.0.0":
                return ip
    except OSError:
        pass
    try:
        # Connecting a UDP socket only selects a route and source address; no packet is sent.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never a real peer
            ip = s.getsockname()[0]
            if ip and not ip.startswith("127.") and ip != "0.0.0.0":
                return ip
    except OSError:
        pass
    return "127.0.0.1"


# ---- capacity and allocatable -------------------------------------------------------------------

def capacity(machine: Machine, max_pods: int = DEFAULT_MAX_PODS) -> dict[str, str]:
    out = {"cpu": str(machine.cpus), "ephemeral-storage": format_bytes(machine.storage_bytes),
           "memory": format_bytes(machine.memory_bytes), "pods": str(max_pods)}
    out.update({name: format_bytes(n) for name, n in machine.hugepages.items()})
    return out


def allocatable(machine: Machine, max_pods: int = DEFAULT_MAX_PODS, *,
                eviction_hard: Mapping[str, str] = DEFAULT_EVICTION_HARD,
                reserved: Mapping[str, str] | None = None) -> dict[str, str]:
    """Capacity minus ``reserved`` (kube-reserved plus system-reserved: cpu, memory,
    ephemeral-storage) minus the hard eviction thresholds of memory and nodefs; memory also minus
    pre-allocated huge pages. Raises ValueError for a malformed quantity."""
    reserved = reserved or {}
    held = {"cpu": Decimal(0), "memory": Decimal(0), "ephemeral-storage": Decimal(0)}
    for name, value in reserved.items():
        if name not in held:
            raise ValueError(f"cannot reserve {name!r}: only cpu, memory and ephemeral-storage")
        held[name] += parse_quantity(value)
    totals = {"memory": machine.memory_bytes, "ephemeral-storage": machine.storage_bytes}
    for signal_name, resource in _RESERVING_SIGNALS.items():
        if signal_name in eviction_hard:
            held[resource] += threshold_amount(eviction_hard[signal_name], totals[resource])
    memory = machine.memory_bytes - sum(machine.hugepages.values()) - int(held["memory"])
    out = capacity(machine, max_pods)
    out["cpu"] = format_millicores(machine.cpus * 1000 - int(held["cpu"] * 1000))
    out["memory"] = format_bytes(memory)
    out["ephemeral-storage"] = format_bytes(machine.storage_bytes - int(held["ephemeral-storage"]))
    return out


# ---- pressure -----------------------------------------------------------------------------------

def read_stats(root_dir: str | os.PathLike[str], fs_root: str | os.PathLike[str] = "/") -> MachineStats:
    root = Path(fs_root)
    mem = _meminfo(root)
    total = mem.get("MemTotal", 0)
    available = mem.get("MemAvailable", mem.get("MemFree", 0) + mem.get("Cached", 0))
    st = os.statvfs(_existing_ancestor(Path(root_dir)))
    pid_max = _int(_read(root / "proc/sys/kernel/pid_max"))
    threads_max = _int(_read(root / "proc/sys/kernel/threads-max"))
    limit = min(x for x in (pid_max, threads_max, 2**22) if x > 0)
    # /proc/loadavg's fourth field is "runnable/total" scheduling entities: every thread holds a PID.
    loadavg = _read(root / "proc/loadavg").split()
    in_use = _int(loadavg[3].partition("/")[2]) if len(loadavg) > 3 else 0
    return MachineStats(
        memory_available=available, memory_capacity=total,
        nodefs_available=st.f_bavail * st.f_frsize, nodefs_capacity=st.f_blocks * st.f_frsize,
        inodes_free=st.f_favail, inodes_total=st.f_files,
        pids_available=max(limit - in_use, 0), pids_max=limit)


def pressure(stats: MachineStats, eviction_hard: Mapping[str, str] = DEFAULT_EVICTION_HARD) -> NodePressure:
    """Which signals are below their hard threshold. A resource with no known total (filesystems
    without inodes report 0) never counts as under pressure."""

    def below(signal_name: str, available: int, total: int) -> bool:
        threshold = eviction_hard.get(signal_name)
        return threshold is not None and total > 0 and available < threshold_amount(threshold, total)

    return NodePressure(
        memory=below("memory.available", stats.memory_available, stats.memory_capacity),
        disk=below("nodefs.available", stats.nodefs_available, stats.nodefs_capacity)
        or below("nodefs.inodesFree", stats.inodes_free, stats.inodes_total),
        pid=below("pid.available", stats.pids_available, stats.pids_max))


def validate_eviction_hard(eviction_hard: Mapping[str, str]) -> None:
    """Raises ValueError for a signal navarch does not watch or a malformed threshold."""
    known = set(DEFAULT_EVICTION_HARD) | {"imagefs.available", "imagefs.inodesFree"}
    for name, value in eviction_hard.items():
        if name not in known:
            raise ValueError(f"unknown eviction signal {name!r} (known: {', '.join(sorted(known))})")
        threshold_amount(value, 100)


class PressureMonitor:
    """The Kubelet's ``pressure`` source: reads the machine in a thread at each status round and
    logs each condition as it turns on or off."""

    def __init__(self, root_dir: str | os.PathLike[str], eviction_hard: Mapping[str, str] = DEFAULT_EVICTION_HARD,
                 *, fs_root: str | os.PathLike[str] = "/") -> None:
        validate_eviction_hard(eviction_hard)
        self.root_dir = root_dir
        self.eviction_hard = dict(eviction_hard)
        self.fs_root = fs_root
        self.last = NodePressure()

    async def __call__(self) -> NodePressure:
        try:
            stats = await asyncio.to_thread(read_stats, self.root_dir, self.fs_root)
        except OSError as e:
            log.warning("cannot read machine stats, keeping the last pressure state: %s", e)
            return self.last
        now = pressure(stats, self.eviction_hard)
        for kind in ("memory", "disk", "pid"):
            if getattr(now, kind) != getattr(self.last, kind):
                log.warning("%s pressure %s (thresholds %s)", kind,
                            "observed" if getattr(now, kind) else "ended", self.eviction_hard)
        self.last = now
        return now


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _int(text: str) -> int:
    text = text.strip()
    return int(text) if text.isdigit() else 0

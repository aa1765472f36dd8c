"""Reading the machine: resources, identity, allocatable and pressure, over a fake filesystem root."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from navarch.kubelet import machine
from navarch.kubelet.machine import Machine, MachineStats, NodePressure

GiB = 2**30
MiB = 2**20


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root, "proc/meminfo", "MemTotal:       16318504 kB\nMemFree:         1000 kB\nMemAvailable:   8000000 kB\n")
    write(root, "etc/machine-id", "0123456789abcdef0123456789abcdef\n")
    write(root, "sys/class/dmi/id/product_uuid", "EC2A1B2C-0000-1111-2222-333344445555\n")
    write(root, "proc/sys/kernel/random/boot_id", "5b0e1f4c-aaaa-bbbb-cccc-ddddeeeeffff\n")
    write(root, "proc/sys/kernel/osrelease", "6.8.0-1014-aws\n")
    write(root, "etc/os-release", 'NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 24.04.1 LTS"\nID=ubuntu\n')
    write(root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0\n")
    write(root, "sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
    write(root, "proc/self/cgroup", "0::/\n")
    return root


def test_node_info_comes_from_the_usual_files(fake_root: Path) -> None:
    assert machine.node_info(fake_root) == {
        "machineID": "0123456789abcdef0123456789abcdef",
        "systemUUID": "EC2A1B2C-0000-1111-2222-333344445555",
        "bootID": "5b0e1f4c-aaaa-bbbb-cccc-ddddeeeeffff",
        "kernelVersion": "6.8.0-1014-aws",
        "osImage": "Ubuntu 24.04.1 LTS",
    }


def test_unreadable_identity_files_are_left_out(tmp_path: Path) -> None:
    info = machine.node_info(tmp_path)
    assert "machineID" not in info and "systemUUID" not in info and "bootID" not in info
    assert info["osImage"]  # falls back to the kernel's name


def test_memory_and_hugepages(fake_root: Path) -> None:
    assert machine.memory_total(fake_root) == 16318504 * 1024
    assert machine.hugepages(fake_root) == {"hugepages-1Gi": 0, "hugepages-2Mi": 0}
    write(fake_root, "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "3\n")
    assert machine.hugepages(fake_root)["hugepages-2Mi"] == 3 * 2 * MiB


@pytest.mark.parametrize("cgroup,files,affinity,want", [
    ("0::/\n", {}, 8, 8),
    ("0::/kubepods/pod1\n", {"sys/fs/cgroup/kubepods/pod1/cpu.max": "max 100000\n"}, 8, 8),
    ("0::/kubepods/pod1\n", {"sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n"}, 8, 2),
    ("0::/a/b\n", {"sys/fs/cgroup/a/cpu.max": "300000 100000\n", "sys/fs/cgroup/a/b/cpu.max": "max 100000\n"}, 8, 3),
    ("0::/\n", {"sys/fs/cgroup/cpu.max": "50000 100000\n"}, 4, 1),
    ("0::/\n", {"sys/fs/cgroup/cpu.max": "1600000 100000\n"}, 4, 4),
    ("4:cpu,cpuacct:/docker/x\n", {"sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us": "200000\n",
                                   "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000\n"}, 8, 2),
    ("4:cpu,cpuacct:/docker/x\n", {"sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_quota_us": "-1\n",
                                   "sys/fs/cgroup/cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000\n"}, 8, 8),
], ids=["no-limit", "v2-max", "v2-quota-rounds-up", "v2-ancestor", "v2-below-one", "v2-above-affinity",
        "v1-quota", "v1-unlimited"])
def test_cpu_count_is_capped_by_the_cgroup_quota(tmp_path: Path, cgroup: str, files: dict[str, str],
                                                 affinity: int, want: int) -> None:
    write(tmp_path, "proc/self/cgroup", cgroup)
    for rel, text in files.items():
        write(tmp_path, rel, text)
    assert machine.cpu_count(tmp_path, affinity=affinity) == want


def test_the_real_machine_is_readable(tmp_path: Path) -> None:
    m = machine.read_machine(tmp_path / "not-yet-created", node_ip="10.0.0.5", hostname="box")
    assert m.cpus >= 1 and m.memory_bytes > 0 and m.storage_bytes > 0
    assert (m.hostname, m.internal_ip) == ("box", "10.0.0.5")
    assert m.architecture in ("amd64", "arm64") or m.architecture


def test_primary_ipv4_is_an_ipv4_address() -> None:
    import ipaddress

    assert isinstance(ipaddress.ip_address(machine.primary_ipv4("localhost")), ipaddress.IPv4Address)


@pytest.mark.parametrize("uname,want", [("x86_64", "amd64"), ("aarch64", "arm64"), ("armv7l", "arm"),
                                        ("s390x", "s390x")], ids=lambda v: str(v))
def test_architecture_uses_go_names(uname: str, want: str) -> None:
    assert machine.go_arch(uname) == want


@pytest.mark.parametrize("n,want", [(16318504 * 1024, "16318504Ki"), (16 * GiB, "16Gi"), (100 * MiB, "100Mi"),
                                    (1000, "1000"), (1536, "1536"), (0, "0"), (-5, "0")],
                         ids=lambda v: str(v))
def test_bytes_format_as_upstream_canonical_binary_quantities(n: int, want: str) -> None:
    assert machine.format_bytes(n) == want


@pytest.mark.parametrize("text,want", [("100Mi", 100 * MiB), ("1.5Gi", Decimal("1.5") * GiB), ("250m", Decimal("0.25")),
                                       ("2k", 2000), ("2e3", 2000), ("7", 7)], ids=lambda v: str(v))
def test_parse_quantity(text: str, want: Decimal) -> None:
    assert machine.parse_quantity(text) == want


@pytest.mark.parametrize("text", ["", "abc", "1Qi", "inf"])
def test_bad_quantities_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        machine.parse_quantity(text)


def make_machine(**kw) -> Machine:
    base = dict(cpus=4, memory_bytes=16318504 * 1024, storage_bytes=100 * GiB, hostname="box",
                internal_ip="10.0.0.5", architecture="amd64",
                hugepages={"hugepages-1Gi": 0, "hugepages-2Mi": 0})
    return Machine(**{**base, **kw})


def test_capacity_is_the_machine() -> None:
    assert machine.capacity(make_machine()) == {
        "cpu": "4", "ephemeral-storage": "100Gi", "memory": "16318504Ki", "pods": "110",
        "hugepages-1Gi": "0", "hugepages-2Mi": "0"}


def test_allocatable_holds_back_the_hard_eviction_thresholds() -> None:
    alloc = machine.allocatable(make_machine())
    assert alloc["cpu"] == "4"
    assert alloc["memory"] == f"{16318504 - 100 * 1024}Ki"  # memory.available<100Mi
    assert alloc["ephemeral-storage"] == "90Gi"  # nodefs.available<10%
    assert alloc["pods"] == "110"


def test_allocatable_without_thresholds_is_capacity() -> None:
    m = make_machine()
    assert machine.allocatable(m, eviction_hard={}) == machine.capacity(m)


def test_allocatable_subtracts_reservations_and_hugepages() -> None:
    m = make_machine(hugepages={"hugepages-2Mi": 512 * MiB})
    alloc = machine.allocatable(m, 50, eviction_hard={}, reserved={"cpu": "250m", "memory": "1Gi"})
    assert alloc["cpu"] == "3750m"
    assert alloc["memory"] == machine.format_bytes(16318504 * 1024 - 512 * MiB - GiB)
    assert alloc["pods"] == "50"
    with pytest.raises(ValueError):
        machine.allocatable(m, reserved={"gpu": "1"})


def stats(**kw) -> MachineStats:
    base = dict(memory_available=8 * GiB, memory_capacity=16 * GiB, nodefs_available=50 * GiB,
                nodefs_capacity=100 * GiB, inodes_free=1_000_000, inodes_total=2_000_000,
                pids_available=30_000, pids_max=32_768)
    return MachineStats(**{**base, **kw})


@pytest.mark.parametrize("kw,want", [
    ({}, NodePressure()),
    ({"memory_available": 99 * MiB}, NodePressure(memory=True)),
    ({"memory_available": 100 * MiB}, NodePressure()),
    ({"nodefs_available": 9 * GiB}, NodePressure(disk=True)),
    ({"inodes_free": 50_000}, NodePressure(disk=True)),
    ({"inodes_free": 0, "inodes_total": 0}, NodePressure()),
    ({"pids_available": 100}, NodePressure(pid=True)),
], ids=["healthy", "memory-low", "memory-at-threshold", "disk-low", "inodes-low", "no-inodes-fs", "pids-low"])
def test_pressure_compares_with_the_thresholds(kw: dict, want: NodePressure) -> None:
    assert machine.pressure(stats(**kw)) == want


def test_thresholds_can_be_turned_off() -> None:
    assert machine.pressure(stats(memory_available=0), {}) == NodePressure()


def test_unknown_signals_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown eviction signal"):
        machine.validate_eviction_hard({"memory.avail": "1Mi"})
    with pytest.raises(ValueError):
        machine.validate_eviction_hard({"nodefs.available": "150%"})


def test_read_stats_reads_the_fake_machine(fake_root: Path, tmp_path: Path) -> None:
    write(fake_root, "proc/sys/kernel/pid_max", "32768\n")
    write(fake_root, "proc/sys/kernel/threads-max", "100000\n")
    write(fake_root, "proc/loadavg", "0.10 0.20 0.30 2/468 12345\n")
    s = machine.read_stats(tmp_path, fake_root)
    assert (s.memory_capacity, s.memory_available) == (16318504 * 1024, 8000000 * 1024)
    assert (s.pids_max, s.pids_available) == (32768, 32768 - 468)
    st = os.statvfs(tmp_path)
    assert s.nodefs_capacity == st.f_blocks * st.f_frsize


async def test_monitor_reports_what_it_reads(fake_root: Path, tmp_path: Path) -> None:
    write(fake_root, "proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 1024 kB\n")
    monitor = machine.PressureMonitor(tmp_path, {"memory.available": "100Mi"}, fs_root=fake_root)
    assert await monitor() == NodePressure(memory=True)
    write(fake_root, "proc/meminfo", "MemTotal: 1048576 kB\nMemAvailable: 524288 kB\n")
    assert await monitor() == NodePressure()

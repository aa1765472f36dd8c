"""emptyDir volumes: a world-writable directory; medium Memory is a sized tmpfs as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.volumes import VolumeError, VolumeManager, emptydir, mounts
from tests.unit.kubelet.volumes.fakes import FakeClient, can_mount, make_pod

DIR = "pods/uid-1/volumes/kubernetes.io~empty-dir/scratch"


async def test_plain_directory(tmp_path: Path) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {}}], [{"name": "scratch", "mountPath": "/tmp/s"}])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=False)
    await vm.setup(pod)
    d = tmp_path / DIR
    assert d.is_dir() and d.stat().st_mode & 0o777 == 0o777
    [m] = vm.mounts(pod, pod["spec"]["containers"][0])
    assert (m.host_path, m.container_path, m.readonly) == (str(d), "/tmp/s", False)
    (d / "data").write_text("x")
    await vm.setup(pod)  # idempotent: contents survive
    assert (d / "data").read_text() == "x"
    await vm.teardown("uid-1")
    assert not (tmp_path / "pods" / "uid-1").exists()


async def test_memory_without_root_is_a_directory(tmp_path: Path) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {"medium": "Memory"}}])
    await VolumeManager(str(tmp_path), FakeClient(), isolated=False).setup(pod)
    assert (tmp_path / DIR).is_dir() and not os.path.ismount(tmp_path / DIR)


async def test_hugepages_refused(tmp_path: Path) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {"medium": "HugePages"}}])
    with pytest.raises(VolumeError, match="not supported by navarch"):
        await VolumeManager(str(tmp_path), FakeClient(), isolated=False).setup(pod)


@pytest.mark.parametrize("allocatable,limits,size_limit,want", [
    ({}, None, None, None),
    ({"memory": "8Gi"}, None, None, 8 * 2 ** 30),
    ({"memory": "8Gi"}, "1Gi", None, 2 ** 30),
    ({"memory": "8Gi"}, "1Gi", "64Mi", 64 * 2 ** 20),
    ({"memory": "8Gi"}, "1Gi", "2Gi", 2 ** 30),          # sizeLimit above the pod limit does not raise it
    ({}, None, "64Mi", 64 * 2 ** 20),
], ids=["nothing", "allocatable", "pod-limit", "size-limit", "size-limit-too-big", "size-only"])
def test_memory_size(allocatable: dict, limits: str | None, size_limit: str | None, want: int | None) -> None:
    pod = make_pod([], resources={"limits": {"memory": limits}} if limits else {})
    source = {"medium": "Memory", **({"sizeLimit": size_limit} if size_limit else {})}
    assert emptydir.memory_size(allocatable, pod, source) == want


@pytest.mark.skipif(not can_mount(), reason="tmpfs mounts need root")
async def test_memory_tmpfs_with_size(tmp_path: Path) -> None:
    pod = make_pod([{"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "4Mi"}}])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=True)
    d = tmp_path / DIR
    try:
        try:
            await vm.setup(pod)
        except VolumeError as e:
            pytest.skip(f"cannot mount here: {e}")
        assert os.path.ismount(d)
        st = os.statvfs(d)
        assert st.f_blocks * st.f_frsize == 4 * 2 ** 20
        await vm.setup(pod)  # already mounted: not mounted twice
        assert mounts.mount_points_under(str(tmp_path)) == [str(d)]
        await vm.teardown("uid-1")
        assert mounts.mount_points_under(str(tmp_path)) == []
        assert not d.exists()
    finally:
        for point in mounts.mount_points_under(str(tmp_path)):
            await mounts.unmount(point)

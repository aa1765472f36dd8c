import os

import pytest

from navarch.kubelet.volumes import mounts


def test_is_mount_point_agrees_with_os_path(tmp_path):
    plain = tmp_path / "a" / "b"
    plain.mkdir(parents=True)
    for path in ("/", "/proc", str(tmp_path), str(plain), str(tmp_path / "missing")):
        assert mounts.is_mount_point(path) == os.path.ismount(path), path
    assert mounts.is_mount_point("/") and mounts.is_mount_point("/proc")
    assert not mounts.is_mount_point(str(plain))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_tmpfs_mounted_on_a_directory_is_a_mount_point(tmp_path):
    target = tmp_path / "vol"
    target.mkdir()
    mounts.mount_tmpfs_blocking(str(target))
    try:
        assert mounts.is_mount_point(str(target))
    finally:
        mounts.libc().umount(str(target))
    assert not mounts.is_mount_point(str(target))


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_unmount_all_under_detaches_nested_mounts(tmp_path):
    outer, inner = tmp_path / "pods" / "a", tmp_path / "pods" / "a" / "b"
    outer.mkdir(parents=True)
    mounts.mount_tmpfs_blocking(str(outer))
    try:
        inner.mkdir()
        mounts.mount_tmpfs_blocking(str(inner))
    finally:
        assert mounts.unmount_all_under(str(tmp_path)) == 2
    assert not mounts.is_mount_point(str(outer)) and not mounts.is_mount_point(str(inner))
    assert mounts.unmount_all_under(str(tmp_path)) == 0

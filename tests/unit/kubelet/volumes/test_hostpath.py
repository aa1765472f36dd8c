"""hostPath volumes: upstream's type checks and their messages."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from navarch.kubelet.volumes import VolumeError, VolumeManager
from tests.unit.kubelet.volumes.fakes import FakeClient, make_pod


def layout(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    return {name: str(tmp_path / name) for name in ("dir", "file", "sock", "missing")}


@pytest.mark.parametrize("kind,name,error", [
    ("", "missing", None),
    ("Directory", "dir", None),
    ("Directory", "file", "hostPath type check failed: {p} is not a directory"),
    ("Directory", "missing", "hostPath type check failed: {p} is not a directory"),
    ("DirectoryOrCreate", "dir", None),
    ("DirectoryOrCreate", "file", "hostPath type check failed: {p} is not a directory"),
    ("File", "file", None),
    ("File", "dir", "hostPath type check failed: {p} is not a file"),
    ("FileOrCreate", "file", None),
    ("Socket", "sock", None),
    ("Socket", "file", "hostPath type check failed: {p} is not a socket file"),
    ("CharDevice", "file", "hostPath type check failed: {p} is not a character device"),
    ("BlockDevice", "dir", "hostPath type check failed: {p} is not a block device"),
    ("Weird", "dir", "Weird is an invalid volume type"),
])
async def test_type_checks(tmp_path: Path, kind: str, name: str, error: str | None) -> None:
    p = layout(tmp_path)[name]
    source = {"path": p, **({"type": kind} if kind else {})}
    vm = VolumeManager(str(tmp_path / "root"), FakeClient(), isolated=False)
    pod = make_pod([{"name": "h", "hostPath": source}], [{"name": "h", "mountPath": "/h"}])
    if error is None:
        await vm.setup(pod)
        [m] = vm.mounts(pod, pod["spec"]["containers"][0])
        assert m.host_path == p and not m.readonly
    else:
        with pytest.raises(VolumeError) as err:
            await vm.setup(pod)
        assert str(err.value) == f'MountVolume.SetUp failed for volume "h" : {error.format(p=p)}'


@pytest.mark.parametrize("kind,check", [("DirectoryOrCreate", os.path.isdir), ("FileOrCreate", os.path.isfile)])
async def test_or_create(tmp_path: Path, kind: str, check) -> None:
    p = str(tmp_path / "new")
    await VolumeManager(str(tmp_path / "root"), FakeClient(), isolated=False).setup(
        make_pod([{"name": "h", "hostPath": {"path": p, "type": kind}}]))
    assert check(p)


async def test_teardown_leaves_host_path(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    vm = VolumeManager(str(tmp_path / "root"), FakeClient(), isolated=False)
    await vm.setup(make_pod([{"name": "h", "hostPath": {"path": str(tmp_path / "keep"), "type": "Directory"}}]))
    await vm.teardown("uid-1")
    assert (tmp_path / "keep").is_dir()

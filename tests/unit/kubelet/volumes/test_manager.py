"""The volume manager: mounts with subPath/subPathExpr/readOnly, unknown volumes, teardown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.runtimes.interface import CreateContainerConfigError
from navarch.kubelet.volumes import VolumeError, VolumeManager, mounts
from tests.unit.kubelet.volumes.fakes import FakeClient, make_pod

EMPTY = "pods/uid-1/volumes/kubernetes.io~empty-dir/data"


async def ready(tmp_path: Path, mounts_: list[dict], **kw) -> tuple[VolumeManager, dict]:
    client = FakeClient()
    client.put_configmap("cm", {"a": "1"})
    pod = make_pod([{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cm"}}], mounts_, **kw)
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    await vm.setup(pod)
    return vm, pod


async def test_sub_paths_and_read_only(tmp_path: Path) -> None:
    vm, pod = await ready(tmp_path, [
        {"name": "data", "mountPath": "/a", "subPath": "x/y", "readOnly": True},
        {"name": "data", "mountPath": "/b", "subPathExpr": "logs/$(POD_NAME)"},
        {"name": "cfg", "mountPath": "/etc/a", "subPath": "a"},
    ])
    a, b, c = vm.mounts(pod, pod["spec"]["containers"][0], {"POD_NAME": "p"})
    base = tmp_path / EMPTY
    assert (a.container_path, a.host_path, a.readonly) == ("/a", str(base / "x" / "y"), True)
    assert (base / "x" / "y").is_dir() and (base / "x" / "y").stat().st_mode & 0o777 == 0o777
    assert (b.host_path, b.readonly) == (str(base / "logs" / "p"), False)
    # A configMap key mounted by subPath is the resolved file, as upstream binds it.
    cm_dir = tmp_path / "pods/uid-1/volumes/kubernetes.io~configmap/cfg"
    assert c.host_path == os.path.realpath(cm_dir / "a") and c.readonly
    assert Path(c.host_path).read_text() == "1"


@pytest.mark.parametrize("mount,env,message", [
    ({"name": "nope", "mountPath": "/x"}, {}, 'cannot find volume "nope" to mount into container "c"'),
    ({"name": "data", "mountPath": "/x", "subPath": "/abs"}, {}, "error SubPath `/abs` must not be an absolute path"),
    ({"name": "data", "mountPath": "/x", "subPath": "a/../../b"}, {},
     "unable to provision SubPath `a/../../b`: must not contain '..'"),
    ({"name": "data", "mountPath": "/x", "subPathExpr": "$(B)/$(A)"}, {"A": ""}, "missing value for A, B"),
    ({"name": "data", "mountPath": "/x", "subPath": "escape/inner"}, {},
     'failed to prepare subPath for volumeMount "data" of container "c"'),
], ids=["unknown-volume", "absolute", "backsteps", "missing-vars", "symlink-escape"])
async def test_mount_errors(tmp_path: Path, mount: dict, env: dict, message: str) -> None:
    vm, pod = await ready(tmp_path, [mount])
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, tmp_path / EMPTY / "escape")
    with pytest.raises(CreateContainerConfigError) as err:
        vm.mounts(pod, pod["spec"]["containers"][0], env)
    assert str(err.value) == message
    assert not (outside / "inner").exists()


async def test_unsupported_volume_type(tmp_path: Path) -> None:
    pod = make_pod([{"name": "claim", "persistentVolumeClaim": {"claimName": "x"}}, {"name": "ok", "emptyDir": {}}])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=False)
    with pytest.raises(VolumeError) as err:
        await vm.setup(pod)
    assert err.value.messages == (
        'MountVolume.SetUp failed for volume "claim" : volume type persistentVolumeClaim is not supported by navarch',)
    assert (tmp_path / "pods/uid-1/volumes/kubernetes.io~empty-dir/ok").is_dir()


async def test_failed_volume_retried_others_not_redone(tmp_path: Path) -> None:
    client = FakeClient()
    pod = make_pod([{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "later"}}])
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    with pytest.raises(VolumeError):
        await vm.setup(pod)
    client.put_configmap("later", {"k": "v"})
    await vm.setup(pod)
    assert (tmp_path / "pods/uid-1/volumes/kubernetes.io~configmap/cfg/k").read_text() == "v"


async def test_teardown_removes_everything_of_the_pod(tmp_path: Path) -> None:
    vm, _ = await ready(tmp_path, [])
    (tmp_path / EMPTY / "f").write_text("x")
    await vm.teardown("uid-1")
    assert not (tmp_path / "pods" / "uid-1").exists()
    await vm.teardown("uid-1")  # idempotent


def test_mount_points_under_reads_mountinfo(tmp_path: Path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / / rw - ext4 /dev/root rw\n"
        "40 22 0:39 / /var/lib/k/pods/u/volumes/a rw - tmpfs tmpfs rw\n"
        "41 40 0:40 / /var/lib/k/pods/u/volumes/a/b\\040c rw - tmpfs tmpfs rw\n"
        "42 22 0:41 / /var/lib/k/pods/u2/volumes/x rw - tmpfs tmpfs rw\n")
    found = mounts.mount_points_under("/var/lib/k/pods/u/volumes", str(info))
    assert found == ["/var/lib/k/pods/u/volumes/a/b c", "/var/lib/k/pods/u/volumes/a"]


async def test_setup_names_what_it_set_up_and_refresh_can_skip_it(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("cm", {"a": "1"})
    pod = make_pod([{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cm"}}], [])
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    assert await vm.setup(pod) == {"data", "cfg"}
    assert await vm.setup(pod) == set()  # nothing left to set up
    client.put_configmap("cm", {"a": "2"})
    target = tmp_path / "pods/uid-1/volumes/kubernetes.io~configmap/cfg/a"
    await vm.refresh(pod, skip={"cfg"})
    assert target.read_text() == "1"
    await vm.refresh(pod)
    assert target.read_text() == "2"

"""secret volumes: decoded content, modes, tmpfs backing as root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.volumes import VolumeError, VolumeManager, mounts
from tests.unit.kubelet.volumes.fakes import FakeClient, can_mount, make_pod, read

SECRET_DIR = "pods/uid-1/volumes/kubernetes.io~secret/creds"


async def test_decoded_with_modes(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_secret("db", {"user": "admin", "password": "s3cret"})
    pod = make_pod([{"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400,
                                                  "items": [{"key": "password", "path": "pw"}]}}],
                   [{"name": "creds", "mountPath": "/secrets"}])
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    await vm.setup(pod)
    d = tmp_path / SECRET_DIR
    assert read(str(d / "pw")) == "s3cret"
    assert not os.path.lexists(d / "user")
    assert (d / "..data" / "pw").stat().st_mode & 0o777 == 0o400
    assert not os.path.ismount(d)
    [m] = vm.mounts(pod, pod["spec"]["containers"][0])
    assert m.readonly


@pytest.mark.parametrize("source,message", [
    ({"secretName": "nope"}, 'MountVolume.SetUp failed for volume "creds" : secret "nope" not found'),
    ({"secretName": "db", "items": [{"key": "k", "path": "k"}]},
     'MountVolume.SetUp failed for volume "creds" : references non-existent secret key: k'),
])
async def test_failures(tmp_path: Path, source: dict, message: str) -> None:
    client = FakeClient()
    client.put_secret("db", {})
    with pytest.raises(VolumeError) as err:
        await VolumeManager(str(tmp_path), client, isolated=False).setup(make_pod([{"name": "creds", "secret": source}]))
    assert str(err.value) == message


@pytest.mark.skipif(not can_mount(), reason="tmpfs mounts need root")
async def test_tmpfs_when_isolated(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_secret("db", {"password": "s3cret"})
    pod = make_pod([{"name": "creds", "secret": {"secretName": "db"}}])
    vm = VolumeManager(str(tmp_path), client, isolated=True)
    d = tmp_path / SECRET_DIR
    try:
        try:
            await vm.setup(pod)
        except VolumeError as e:
            pytest.skip(f"cannot mount here: {e}")
        assert os.path.ismount(d)
        assert read(str(d / "password")) == "s3cret"
        client.put_secret("db", {"password": "new"})
        await vm.refresh(pod)
        assert read(str(d / "password")) == "new"
        await vm.teardown("uid-1")
        assert not os.path.exists(tmp_path / "pods" / "uid-1")
    finally:
        for point in mounts.mount_points_under(str(tmp_path)):
            await mounts.unmount(point)

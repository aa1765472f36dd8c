"""configMap volumes: projection, items and modes, missing objects, refresh on change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.runtimes.interface import Mount
from navarch.kubelet.volumes import VolumeError, VolumeManager
from tests.unit.kubelet.volumes.fakes import FakeClient, make_pod, read

CM_DIR = "pods/uid-1/volumes/kubernetes.io~configmap/cfg"


def manager(tmp_path: Path, client: FakeClient) -> VolumeManager:
    return VolumeManager(str(tmp_path), client, isolated=False)


async def test_all_keys_projected_read_only(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("app", {"a.conf": "x=1"}, binary={"blob": b"\x00\x01"})
    pod = make_pod([{"name": "cfg", "configMap": {"name": "app"}}], [{"name": "cfg", "mountPath": "/etc/app"}])
    vm = manager(tmp_path, client)
    await vm.setup(pod)
    d = tmp_path / CM_DIR
    assert read(str(d / "a.conf")) == "x=1"
    assert (d / "blob").read_bytes() == b"\x00\x01"
    assert os.readlink(d / "a.conf") == "..data/a.conf"
    assert (d / "..data" / "a.conf").stat().st_mode & 0o777 == 0o644
    assert vm.mounts(pod, pod["spec"]["containers"][0]) == [Mount("/etc/app", str(d), readonly=True)]


async def test_items_paths_and_modes(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("app", {"a": "1", "b": "2", "c": "3"})
    pod = make_pod([{"name": "cfg", "configMap": {"name": "app", "defaultMode": 0o400, "items": [
        {"key": "a", "path": "sub/a.txt"}, {"key": "b", "path": "b.txt", "mode": 0o640}]}}])
    await manager(tmp_path, client).setup(pod)
    d = tmp_path / CM_DIR
    assert sorted(n for n in os.listdir(d) if not n.startswith("..")) == ["b.txt", "sub"]
    assert read(str(d / "sub" / "a.txt")) == "1"
    assert (d / "..data" / "sub" / "a.txt").stat().st_mode & 0o777 == 0o400
    assert (d / "..data" / "b.txt").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("source,message", [
    ({"name": "nope"}, 'MountVolume.SetUp failed for volume "cfg" : configmap "nope" not found'),
    ({"name": "app", "items": [{"key": "zz", "path": "z"}]},
     'MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: zz'),
], ids=["missing-object", "missing-key"])
async def test_failures(tmp_path: Path, source: dict, message: str) -> None:
    client = FakeClient()
    client.put_configmap("app", {"a": "1"})
    with pytest.raises(VolumeError) as err:
        await manager(tmp_path, client).setup(make_pod([{"name": "cfg", "configMap": source}]))
    assert err.value.messages == (message,)


async def test_optional_missing_is_empty_then_filled_by_refresh(tmp_path: Path) -> None:
    client = FakeClient()
    pod = make_pod([{"name": "cfg", "configMap": {"name": "later", "optional": True,
                                                  "items": [{"key": "k", "path": "k"}]}}])
    vm = manager(tmp_path, client)
    await vm.setup(pod)
    d = tmp_path / CM_DIR
    assert [n for n in os.listdir(d) if not n.startswith("..")] == []
    client.put_configmap("later", {"k": "v"})
    await vm.refresh(pod)
    assert read(str(d / "k")) == "v"


async def test_refresh_swaps_data_only_on_change(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("app", {"a": "1"})
    pod = make_pod([{"name": "cfg", "configMap": {"name": "app"}}])
    vm = manager(tmp_path, client)
    await vm.setup(pod)
    d = tmp_path / CM_DIR
    first = os.readlink(d / "..data")
    await vm.refresh(pod)
    assert os.readlink(d / "..data") == first
    client.put_configmap("app", {"a": "2"})
    await vm.refresh(pod)
    second = os.readlink(d / "..data")
    assert second != first and not (d / first).exists()
    assert read(str(d / "a")) == "2"


async def test_refresh_keeps_last_content_when_object_vanishes(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("app", {"a": "1"})
    pod = make_pod([{"name": "cfg", "configMap": {"name": "app"}}])
    vm = manager(tmp_path, client)
    await vm.setup(pod)
    client.objects.clear()
    with pytest.raises(VolumeError, match='configmap "app" not found'):
        await vm.refresh(pod)
    assert read(str(tmp_path / CM_DIR / "a")) == "1"

"""downwardAPI volumes: metadata fields and resources as files, rewritten when labels change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.volumes import VolumeError, VolumeManager
from tests.unit.kubelet.volumes.fakes import FakeClient, make_pod, read

DIR = "pods/uid-1/volumes/kubernetes.io~downward-api/info"


def pod_with(items: list[dict]) -> dict:
    pod = make_pod([{"name": "info", "downwardAPI": {"items": items}}],
                   resources={"limits": {"memory": "64Mi"}})
    return pod


async def test_fields_and_resources(tmp_path: Path) -> None:
    pod = pod_with([
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "app", "fieldRef": {"fieldPath": "metadata.labels['app']"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu", "divisor": "1m"},
         "mode": 0o600},
    ])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=False, node_allocatable={"cpu": "2"})
    await vm.setup(pod)
    d = tmp_path / DIR
    assert read(str(d / "name")) == "p"
    assert read(str(d / "labels")) == 'app="web"'
    assert read(str(d / "app")) == "web"
    assert read(str(d / "mem")) == "64"
    assert read(str(d / "cpu")) == "2000"
    assert (d / "..data" / "cpu").stat().st_mode & 0o777 == 0o600


async def test_refresh_follows_labels(tmp_path: Path) -> None:
    pod = pod_with([{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=False)
    await vm.setup(pod)
    d = tmp_path / DIR
    first = os.readlink(d / "..data")
    pod["metadata"]["labels"]["tier"] = "front"
    await vm.refresh(pod)
    assert os.readlink(d / "..data") != first
    assert read(str(d / "labels")) == 'app="web"\ntier="front"'


async def test_errors_aggregated(tmp_path: Path) -> None:
    pod = pod_with([{"path": "a", "fieldRef": {"fieldPath": "spec.nodeName"}},
                    {"path": "b", "resourceFieldRef": {"containerName": "zz", "resource": "limits.cpu"}}])
    with pytest.raises(VolumeError) as err:
        await VolumeManager(str(tmp_path), FakeClient(), isolated=False).setup(pod)
    assert str(err.value) == ('MountVolume.SetUp failed for volume "info" : '
                              "[unsupported fieldPath: spec.nodeName, container zz not found]")

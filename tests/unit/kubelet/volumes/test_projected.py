"""projected volumes: several sources in one directory; token sources skipped for now."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from navarch.kubelet.volumes import VolumeError, VolumeManager
from tests.unit.kubelet.volumes.fakes import FakeClient, make_pod, read

DIR = "pods/uid-1/volumes/kubernetes.io~projected/all"


def projected(*sources: dict, mode: int | None = None) -> dict:
    source: dict = {"sources": list(sources)}
    if mode is not None:
        source["defaultMode"] = mode
    return {"name": "all", "projected": source}


async def test_merged_sources(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    client = FakeClient()
    client.put_configmap("cm", {"app.conf": "x"})
    client.put_secret("s", {"token": "t"})
    pod = make_pod([projected(
        {"configMap": {"name": "cm"}},
        {"secret": {"name": "s", "items": [{"key": "token", "path": "creds/token"}]}},
        {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "absent", "optional": True}},
        mode=0o440)])
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    await vm.setup(pod)
    d = tmp_path / DIR
    assert read(str(d / "app.conf")) == "x"
    assert read(str(d / "creds" / "token")) == "t"
    assert read(str(d / "labels")) == 'app="web"'
    assert not os.path.lexists(d / "token")
    assert (d / "..data" / "app.conf").stat().st_mode & 0o777 == 0o440
    assert "serviceAccountToken source is not supported by navarch yet" in caplog.text
    client.put_configmap("cm", {"app.conf": "y"})
    await vm.refresh(pod)
    assert read(str(d / "app.conf")) == "y"


async def test_failures_of_all_sources_reported(tmp_path: Path) -> None:
    pod = make_pod([projected({"configMap": {"name": "a"}}, {"secret": {"name": "b"}})])
    with pytest.raises(VolumeError) as err:
        await VolumeManager(str(tmp_path), FakeClient(), isolated=False).setup(pod)
    assert str(err.value) == 'MountVolume.SetUp failed for volume "all" : [configmap "a" not found, secret "b" not found]'

"""projected volumes: several sources in one directory, service-account tokens among them."""

from __future__ import annotations

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


async def test_merged_sources(tmp_path: Path) -> None:
    client = FakeClient()
    client.put_configmap("cm", {"app.conf": "x"})
    client.put_secret("s", {"token": "t"})
    pod = make_pod([projected(
        {"configMap": {"name": "cm"}},
        {"secret": {"name": "s", "items": [{"key": "token", "path": "creds/token"}]}},
        {"downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"configMap": {"name": "absent", "optional": True}},
        mode=0o440)])
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    await vm.setup(pod)
    d = tmp_path / DIR
    assert read(str(d / "app.conf")) == "x"
    assert read(str(d / "creds" / "token")) == "t"
    assert read(str(d / "labels")) == 'app="web"'
    assert (d / "..data" / "app.conf").stat().st_mode & 0o777 == 0o440
    client.put_configmap("cm", {"app.conf": "y"})
    await vm.refresh(pod)
    assert read(str(d / "app.conf")) == "y"


async def test_failures_of_all_sources_reported(tmp_path: Path) -> None:
    pod = make_pod([projected({"configMap": {"name": "a"}}, {"secret": {"name": "b"}})])
    with pytest.raises(VolumeError) as err:
        await VolumeManager(str(tmp_path), FakeClient(), isolated=False).setup(pod)
    assert str(err.value) == 'MountVolume.SetUp failed for volume "all" : [configmap "a" not found, secret "b" not found]'


class TokenClient(FakeClient):
    """Answers TokenRequests with numbered tokens, recording each request."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, dict]] = []

    async def create_subresource(self, res: str, name: str, sub: str, body: dict, namespace: str | None = None) -> dict:
        import time

        assert (res, sub) == ("serviceaccounts", "token")
        self.requests.append((namespace or "", name, body))
        seconds = body["spec"]["expirationSeconds"]
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))
        return {**body, "status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": expires}}


async def test_service_account_token_source_is_bound_to_the_pod(tmp_path: Path) -> None:
    client = TokenClient()
    pod = make_pod([projected({"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                              {"serviceAccountToken": {"path": "vault", "audience": "vault", "expirationSeconds": 600}},
                              mode=0o420)])
    pod["spec"]["serviceAccountName"] = "bot"
    vm = VolumeManager(str(tmp_path), client, isolated=False)
    await vm.setup(pod)
    d = tmp_path / DIR
    assert read(str(d / "token")) == "token-1" and read(str(d / "vault")) == "token-2"
    ns, name, body = client.requests[0]
    assert (ns, name) == ("default", "bot")
    assert body["spec"] == {"expirationSeconds": 3607, "boundObjectRef": {
        "apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "uid-1"}}
    assert client.requests[1][2]["spec"]["audiences"] == ["vault"]
    await vm.refresh(pod)  # fresh tokens are reused
    assert len(client.requests) == 2 and read(str(d / "token")) == "token-1"
    await vm.teardown("uid-1")
    assert vm.ctx.tokens._cache == {}


async def test_token_request_failure_is_a_mount_failure(tmp_path: Path) -> None:
    pod = make_pod([projected({"serviceAccountToken": {"path": "token"}})])
    vm = VolumeManager(str(tmp_path), FakeClient(), isolated=False)
    with pytest.raises(VolumeError, match='MountVolume.SetUp failed for volume "all" : failed to fetch token'):
        await vm.setup(pod)

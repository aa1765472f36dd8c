"""ServiceAccount admission: default account, existence, the kube-api-access volume and its mounts."""

from __future__ import annotations

from typing import Any

import pytest

from navarch.api import errors
from navarch.apiserver.admission import service_account
from tests.unit.apiserver.admission.fakes import FakeAccess, attrs, make_pod

MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def access_with(*accounts: dict[str, Any]) -> FakeAccess:
    access = FakeAccess()
    for sa in accounts:
        access.put("", "serviceaccounts", sa)
    return access


def account(name: str = "default", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}"}, **extra}


async def admit(access: FakeAccess, pod: dict[str, Any]) -> dict[str, Any]:
    a = attrs(access, "pods", pod)
    await service_account.admit(a)
    await service_account.validate(a)
    return pod


async def test_default_account_and_projected_volume_as_upstream() -> None:
    pod = make_pod(initContainers=[{"name": "init", "image": "busybox"}])
    await admit(access_with(account()), pod)
    spec = pod["spec"]
    assert spec["serviceAccountName"] == "default" and spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-") and len(volume["name"]) == len("kube-api-access-") + 5
    assert volume["projected"] == {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ]}
    for c in spec["initContainers"] + spec["containers"]:
        assert c["volumeMounts"] == [{"name": volume["name"], "readOnly": True, "mountPath": MOUNT}]


@pytest.mark.parametrize("pod_says, sa_says, mounted", [
    (None, None, True), (False, None, False), (None, False, False), (True, False, True), (False, True, False),
], ids=["default", "pod-off", "sa-off", "pod-wins-on", "pod-wins-off"])
async def test_automount_preference(pod_says: bool | None, sa_says: bool | None, mounted: bool) -> None:
    extra = {} if sa_says is None else {"automountServiceAccountToken": sa_says}
    spec = {} if pod_says is None else {"automountServiceAccountToken": pod_says}
    pod = make_pod(serviceAccountName="bot", **spec)
    await admit(access_with(account("bot", **extra)), pod)
    assert bool(pod["spec"].get("volumes")) is mounted


async def test_existing_mount_at_the_path_and_existing_volume_are_kept() -> None:
    mine = {"name": "mine", "mountPath": MOUNT}
    pod = make_pod(containers=[{"name": "a", "image": "x", "volumeMounts": [mine]}, {"name": "b", "image": "x"}],
                   volumes=[{"name": "kube-api-access-abcde", "projected": {"sources": []}}])
    await admit(access_with(account()), pod)
    a, b = pod["spec"]["containers"]
    assert a["volumeMounts"] == [mine]
    assert b["volumeMounts"] == [{"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT}]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["kube-api-access-abcde"]


async def test_missing_account_is_forbidden_with_upstreams_message() -> None:
    with pytest.raises(errors.StatusError) as e:
        await admit(access_with(), make_pod(serviceAccountName="ghost"))
    assert e.value.code == 403
    assert e.value.message == ('pods "p" is forbidden: error looking up service account ns/ghost: '
                               'serviceaccount "ghost" not found')


async def test_default_account_is_looked_up_again(monkeypatch: pytest.MonkeyPatch) -> None:
    access = access_with()
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the service account controller catches up
            access.put("", "serviceaccounts", account())

    monkeypatch.setattr(service_account.asyncio, "sleep", fake_sleep)
    pod = await admit(access, make_pod())
    assert len(sleeps) == 3 and all(0.1 <= s <= 0.2 for s in sleeps)
    assert pod["spec"]["volumes"]


async def test_image_pull_secrets_are_copied_when_the_pod_names_none() -> None:
    pod = make_pod()
    await admit(access_with(account(imagePullSecrets=[{"name": "reg"}])), pod)
    assert pod["spec"]["imagePullSecrets"] == [{"name": "reg"}]


async def test_mirror_pods_may_not_reference_accounts_or_secrets() -> None:
    mirror = {"kubernetes.io/config.mirror": "x"}
    pod = make_pod()
    pod["metadata"]["annotations"] = mirror
    await admit(access_with(), pod)  # left alone, no account needed
    assert "serviceAccountName" not in pod["spec"]
    bad = make_pod(serviceAccountName="default")
    bad["metadata"]["annotations"] = mirror
    with pytest.raises(errors.StatusError, match="a mirror pod may not reference service accounts"):
        await admit(access_with(account()), bad)


async def test_updates_and_other_resources_are_ignored() -> None:
    pod = make_pod()
    a = attrs(FakeAccess(), "pods", pod, op="UPDATE", old=make_pod())
    await service_account.admit(a)
    await service_account.validate(a)
    assert "serviceAccountName" not in pod["spec"]

"""The root CA publisher: kube-root-ca.crt in every active namespace, restored when changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from navarch.controllers.rootcacertpublisher import (
    CONFIGMAP_NAME,
    DESCRIPTION_ANNOTATION,
    RootCACertPublisher,
)
from tests.unit.controllers.hygiene_fakes import fill, make_ctx

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def namespace(name: str, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


async def test_publishes_in_active_namespaces_only(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text(CA)
    ctx, api, _ = make_ctx(**{"root-ca-file": str(tmp_path / "ca.crt")})
    ctrl = RootCACertPublisher(ctx)
    fill(ctx, "namespaces", namespace("dev"), namespace("doomed", deleting=True))
    await ctrl.sync("dev")
    await ctrl.sync("doomed")
    await ctrl.sync("gone")
    assert api.verbs() == [("create", "configmaps", f"dev/{CONFIGMAP_NAME}")]
    cm = api.objects[("configmaps", "dev", CONFIGMAP_NAME)]
    assert cm["data"] == {"ca.crt": CA} and cm["metadata"]["annotations"][DESCRIPTION_ANNOTATION]


async def test_an_edited_configmap_is_restored_and_a_current_one_left_alone(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text(CA)
    ctx, api, _ = make_ctx(**{"root-ca-file": str(tmp_path / "ca.crt")})
    ctrl = RootCACertPublisher(ctx)
    edited = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIGMAP_NAME, "namespace": "dev"},
              "data": {"ca.crt": "junk"}}
    fill(ctx, "namespaces", namespace("dev"))
    fill(ctx, "configmaps", api.put("configmaps", edited))
    await ctrl.sync("dev")
    assert api.verbs() == [("update", "configmaps", f"dev/{CONFIGMAP_NAME}")]
    fill(ctx, "configmaps", api.objects[("configmaps", "dev", CONFIGMAP_NAME)])
    await ctrl.sync("dev")
    assert len(api.writes) == 1


def test_the_ca_defaults_to_the_clients() -> None:
    ctx, api, _ = make_ctx()
    api.config = type("C", (), {"ca_data": CA.encode()})()  # type: ignore[attr-defined]
    assert RootCACertPublisher(ctx).root_ca == CA

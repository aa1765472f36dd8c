"""A fake API client and pod builder shared by the volume tests."""

from __future__ import annotations

import base64
import os
from typing import Any

from navarch.client.errors import ApiError


class FakeClient:
    """GET of ConfigMaps and Secrets from a dict keyed (resource, namespace, name); tests edit it."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    def put_configmap(self, name: str, data: dict[str, str], binary: dict[str, bytes] | None = None,
                      ns: str = "default") -> None:
        obj: dict[str, Any] = {"metadata": {"name": name, "namespace": ns}, "data": dict(data)}
        if binary:
            obj["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
        self.objects[("configmaps", ns, name)] = obj

    def put_secret(self, name: str, data: dict[str, str], ns: str = "default") -> None:
        self.objects[("secrets", ns, name)] = {
            "metadata": {"name": name, "namespace": ns},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}

    async def get(self, res: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        try:
            return self.objects[(res, namespace or "", name)]
        except KeyError:
            raise ApiError({"kind": "Status", "code": 404, "reason": "NotFound",
                            "message": f'{res} "{name}" not found'}) from None


def make_pod(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]] | None = None, *,
             uid: str = "uid-1", **container: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "default", "uid": uid, "labels": {"app": "web"},
                     "annotations": {"a": "1"}},
        "spec": {"containers": [{"name": "c", "volumeMounts": mounts or [], **container}], "volumes": volumes},
    }


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def can_mount() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0

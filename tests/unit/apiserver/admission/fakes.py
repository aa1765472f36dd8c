"""Test doubles for admission plugins: an in-memory ObjectAccess and attribute builders."""

from __future__ import annotations

import copy
from typing import Any

from navarch.apiserver.admission import Attributes
from navarch.apiserver.admission.access import resource_for


class FakeAccess:
    """Objects by (group, plural, namespace, name) with a revision each; counts compare-and-swaps."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], tuple[dict[str, Any], int]] = {}
        self.revision = 1
        self.swaps = 0
        self.conflicts = 0
        self.refreshes = 0

    def put(self, group: str, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        self.objects[(group, plural, meta.get("namespace", ""), meta["name"])] = (obj, self.revision)
        return obj

    def obj(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.objects[(group, plural, namespace, name)][0]

    async def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        return [o for (g, p, ns, _), (o, _) in self.objects.items()
                if g == group and p == plural and (namespace is None or ns == namespace)]

    async def get(self, group: str, plural: str, namespace: str | None, name: str):
        return self.objects.get((group, plural, namespace or "", name))

    async def compare_and_swap(self, group: str, plural: str, namespace: str | None, obj: dict[str, Any],
                               revision: int) -> int | None:
        key = (group, plural, namespace or "", obj["metadata"]["name"])
        cur = self.objects.get(key)
        if cur is None or cur[1] != revision:
            self.conflicts += 1
            return None
        self.swaps += 1
        self.put(group, plural, copy.deepcopy(obj))
        return self.revision

    async def refresh(self) -> None:
        self.refreshes += 1

    async def lookup(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        for (g, p, ns, n), (o, _) in self.objects.items():
            if p == plural and ns == (namespace or "") and n == name:
                return o
        return None


def attrs(access: FakeAccess, plural: str, obj: dict[str, Any] | None, *, group: str = "", op: str = "CREATE",
          namespace: str | None = "ns", old: dict[str, Any] | None = None, subresource: str | None = None,
          dry_run: bool = False) -> Attributes:
    r = resource_for(group, plural)
    assert r is not None
    name = ((obj or old or {}).get("metadata") or {}).get("name", "")
    return Attributes(operation=op, resource=r, subresource=subresource, namespace=namespace if r.namespaced else None,
                      name=name, obj=obj, old=old, user=None, dry_run=dry_run, lookup=access.lookup, access=access)


def make_pod(name: str = "p", namespace: str = "ns", containers: list[dict[str, Any]] | None = None,
             **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": containers if containers is not None else [{"name": "c", "image": "nginx"}],
                     **spec}}


def container(name: str = "c", requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
              **extra: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "nginx", **extra}
    res: dict[str, Any] = {}
    if requests is not None:
        res["requests"] = requests
    if limits is not None:
        res["limits"] = limits
    if res:
        c["resources"] = res
    return c


def namespace(name: str = "ns", labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}, **extra}}

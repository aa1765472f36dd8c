"""Test doubles for the cluster-hygiene controllers: an in-memory API and a recording event sink."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from typing import Any

from navarch.api.resources import REGISTRY
from navarch.client.errors import ApiError
from navarch.client.resolve import resolve
from navarch.controllers.base import ControllerContext
from navarch.machinery.clock import FakeClock
from navarch.machinery.factory import SharedInformerFactory


def not_found(name: str) -> ApiError:
    return ApiError({"kind": "Status", "code": 404, "reason": "NotFound", "message": f'"{name}" not found'})


def conflict(name: str) -> ApiError:
    return ApiError({"kind": "Status", "code": 409, "reason": "Conflict", "message": f"{name} changed"})


class FakeApi:
    """Objects by (plural, namespace, name); records every write as (verb, plural, ns/name, extra)."""

    registry = REGISTRY

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str, Any]] = []
        self._rv = itertools.count(100)

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("resourceVersion", str(next(self._rv)))
        self.objects[(plural, meta.get("namespace", ""), meta["name"])] = obj
        return obj

    def _key(self, res: Any, name: str, namespace: str | None) -> tuple[str, str, str]:
        r = resolve(res)
        return (r.plural, (namespace or "") if r.namespaced else "", name)

    async def get(self, res: Any, name: str, namespace: str | None = None, *, subresource: str | None = None
                  ) -> dict[str, Any]:
        obj = self.objects.get(self._key(res, name, namespace))
        if obj is None:
            raise not_found(name)
        return copy.deepcopy(obj)

    async def delete(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        key = self._key(res, name, namespace)
        obj = self.objects.get(key)
        if obj is None:
            raise not_found(name)
        pre = kw.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"].get("uid"):
            raise conflict(name)
        self.writes.append(("delete", key[0], f"{key[1]}/{name}", kw.get("propagation_policy")))
        del self.objects[key]
        return obj

    async def patch(self, res: Any, name: str, body: Any, patch_type: str = "merge", namespace: str | None = None,
                    subresource: str | None = None, **kw: Any) -> dict[str, Any]:
        key = self._key(res, name, namespace)
        obj = self.objects.get(key)
        if obj is None:
            raise not_found(name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != obj["metadata"]["resourceVersion"]:
            raise conflict(name)
        self.writes.append(("patch", key[0], f"{key[1]}/{name}", copy.deepcopy(body)))
        merged = _merge(obj, body)
        merged["metadata"]["resourceVersion"] = str(next(self._rv))
        if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get("finalizers"):
            del self.objects[key]
        else:
            self.objects[key] = merged
        return copy.deepcopy(merged)

    async def create(self, res: Any, body: Mapping[str, Any], namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        r = resolve(res)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            meta["name"] = meta.get("generateName", "x-") + str(next(self._rv))
        ns = namespace or meta.get("namespace") or ""
        meta["namespace"] = ns
        self.writes.append(("create", r.plural, f"{ns}/{meta['name']}", obj))
        return copy.deepcopy(self.put(r.plural, obj))

    async def update(self, res: Any, body: Mapping[str, Any], namespace: str | None = None, *,
                     subresource: str | None = None, **kw: Any) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        r = resolve(res)
        meta = obj["metadata"]
        meta["resourceVersion"] = str(next(self._rv))
        self.writes.append(("update" + (f"/{subresource}" if subresource else ""), r.plural,
                            f"{namespace or meta.get('namespace', '')}/{meta['name']}", obj))
        return copy.deepcopy(self.put(r.plural, obj))

    async def update_status(self, res: Any, body: Mapping[str, Any], namespace: str | None = None, **kw: Any
                            ) -> dict[str, Any]:
        return await self.update(res, body, namespace, subresource="status")

    async def list_all(self, res: Any, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        r = resolve(res)
        items = [copy.deepcopy(o) for (p, ns, _), o in sorted(self.objects.items())
                 if p == r.plural and (not namespace or ns == namespace)]
        return {"kind": r.list_kind, "metadata": {"resourceVersion": "1"}, "items": items}

    async def delete_collection(self, res: Any, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        r = resolve(res)
        for (p, ns, name), o in list(self.objects.items()):
            if p == r.plural and ns == (namespace or ""):
                if o["metadata"].get("finalizers"):
                    o["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
                else:
                    del self.objects[(p, ns, name)]
        self.writes.append(("deletecollection", r.plural, f"{namespace}/", None))
        return {}

    def verbs(self) -> list[tuple[str, str, str]]:
        return [(v, p, k) for v, p, k, _ in self.writes]


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict) or not isinstance(target, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge(out.get(k), v)
    return out


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, str]] = []

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        name = (obj.get("metadata") or {}).get("name") if "metadata" in obj else obj.get("name")
        self.recorded.append((str(name), event_type, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, _, r, _ in self.recorded]


def make_ctx(api: FakeApi | None = None, clock: FakeClock | None = None, **options: Any
             ) -> tuple[ControllerContext, FakeApi, Events]:
    api = api or FakeApi()
    events = Events()
    clock = clock or FakeClock()
    factory = SharedInformerFactory(api, clock=clock)  # type: ignore[arg-type]
    ctx = ControllerContext(client=api, factory=factory, recorder=events, clock=clock,  # type: ignore[arg-type]
                            options=dict(options))
    return ctx, api, events


def fill(ctx: ControllerContext, plural: str, *objs: dict[str, Any], namespace: str | None = None) -> None:
    """Put objects straight into an informer's cache (no reflector), telling its handlers."""
    inf = ctx.factory.informer(plural, namespace=namespace)
    for o in objs:
        inf.indexer.update(o)
        inf._notify_add(o)

"""Test doubles for the workload controllers: a recording API client and a recording event sink.

Informer caches are filled directly (``ctx.factory.informer(res).indexer.add(obj)``); nothing starts
a reflector, so no request ever leaves the process.
"""

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


class RecordingClient:
    """Answers writes as a server would (uid, resourceVersion, generateName) and records them."""

    registry = REGISTRY

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any]] = []
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._seq = itertools.count(1)

    def _plural(self, res: Any) -> str:
        return resolve(res, REGISTRY).plural

    async def create(self, res: Any, body: Mapping[str, Any], namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        obj = copy.deepcopy(dict(body))
        meta = obj.setdefault("metadata", {})
        n = next(self._seq)
        if not meta.get("name"):
            meta["name"] = f"{meta.get('generateName', 'x-')}{n:05d}"
        meta.setdefault("namespace", namespace)
        meta.update(uid=f"uid-{meta['name']}", resourceVersion=str(n))
        key = (self._plural(res), meta.get("namespace") or "", meta["name"])
        if key in self.objects:
            raise ApiError({"code": 409, "reason": "AlreadyExists", "message": "exists"})
        self.objects[key] = obj
        self.calls.append(("create", key[0], meta["name"], obj))
        return obj

    async def get(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        obj = self.objects.get((self._plural(res), namespace or "", name))
        if obj is None:
            raise ApiError({"code": 404, "reason": "NotFound", "message": f"{name} not found"})
        return obj

    async def patch(self, res: Any, name: str, body: Any, patch_type: str = "merge", namespace: str | None = None,
                    subresource: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("patch" + (f"/{subresource}" if subresource else ""), self._plural(res), name, body))
        return {"metadata": {"name": name, "namespace": namespace}}

    async def update_status(self, res: Any, body: Mapping[str, Any], namespace: str | None = None,
                            **kw: Any) -> dict[str, Any]:
        self.calls.append(("update/status", self._plural(res), body["metadata"]["name"], body))
        return copy.deepcopy(dict(body))

    async def delete(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("delete", self._plural(res), name, kw))
        return {}

    def writes(self, verb: str, plural: str) -> list[tuple[str, Any]]:
        return [(name, body) for v, p, name, body in self.calls if v == verb and p == plural]


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.events]


def make_context(clock: FakeClock) -> tuple[ControllerContext, RecordingClient, RecordingEvents]:
    client = RecordingClient()
    events = RecordingEvents()
    factory = SharedInformerFactory(client, clock=clock)  # type: ignore[arg-type]
    ctx = ControllerContext(client=client, factory=factory, recorder=events, clock=clock)  # type: ignore[arg-type]
    return ctx, client, events

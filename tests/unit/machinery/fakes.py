"""Test doubles for the machinery: a scripted list/watch client."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator

from navarch.api.resources import REGISTRY
from navarch.client.errors import ApiError
from navarch.client.watch import WatchEvent


def obj(name: str, rv: int, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv), "uid": f"uid-{name}",
                         "labels": labels}}


def event(kind: str, o: dict[str, Any]) -> WatchEvent:
    return WatchEvent(kind, o)


def bookmark(rv: int) -> WatchEvent:
    return WatchEvent("BOOKMARK", {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}})


def gone() -> ApiError:
    return ApiError({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"})


def list_result(rv: int, *items: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)},
            "items": [dict(i) for i in items]}


class ScriptedClient:
    """``lists``/``watches`` are consumed in order; each entry is a result or an exception to raise.
    A watch entry is a list of events (an exception inside it breaks the stream there). When the
    watch script runs out, the watch blocks until cancelled, like a quiet server."""

    registry = REGISTRY

    def __init__(self) -> None:
        self.lists: deque[Any] = deque()
        self.watches: deque[Any] = deque()
        self.list_calls: list[str | None] = []
        self.watch_calls: list[str] = []

    async def list_all(self, res: Any, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.list_calls.append(kw.get("resource_version"))
        if not self.lists:
            await asyncio.Event().wait()
        item = self.lists.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    async def watch(self, res: Any, namespace: str | None = None, *, resource_version: str,
                    **kw: Any) -> AsyncIterator[WatchEvent]:
        self.watch_calls.append(resource_version)
        if not self.watches:
            await asyncio.Event().wait()
        script = self.watches.popleft()
        if isinstance(script, BaseException):
            raise script
        for item in script:
            if isinstance(item, BaseException):
                raise item
            yield item

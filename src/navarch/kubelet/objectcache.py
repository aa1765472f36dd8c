"""ConfigMaps and Secrets the node's pods use, kept current by a watch on each object, as upstream's
kubelet does by default (``configMapAndSecretChangeDetectionStrategy: Watch``).

Every pod sync reads the objects its volumes and environment name; with a GET each time, a burst of
100 pods sharing ``kube-root-ca.crt`` cost 300 requests. Here the first read of an object starts a
list+watch pinned to its name (``fieldSelector=metadata.name=``, which the Node authorizer allows for
objects the node's pods reference) and waits for it; later reads answer from memory, and changes
arrive by the watch, so configMap volumes still follow edits. An object no read has asked for in
``idle_seconds`` has its watch stopped (pods resync every minute, so live ones never go idle).

``get`` keeps ``envvars.fetch``'s contract: the object, None when it does not exist, ``ApiError``
when the API refuses (a watch that never synced re-raises its error and is dropped, so the next read
tries again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from navarch.client.errors import ApiError, is_gone

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_RETRY_SECONDS = 1.0


@dataclass
class _Entry:
    obj: Obj | None = None
    synced: asyncio.Event = field(default_factory=asyncio.Event)
    error: ApiError | None = None
    last_used: float = 0.0
    task: asyncio.Task[None] | None = None


class ObjectCache:
    def __init__(self, client: Any, *, idle_seconds: float = 600.0, sync_timeout: float = 10.0) -> None:
        self.client = client
        self.idle_seconds = idle_seconds
        self.sync_timeout = sync_timeout
        self._entries: dict[tuple[str, str, str], _Entry] = {}
        self._swept = 0.0

    async def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        key = (resource, namespace, name)
        now = time.monotonic()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            entry.task = asyncio.get_running_loop().create_task(self._follow(key, entry),
                                                                 name=f"watch {resource} {namespace}/{name}")
        entry.last_used = now
        if not entry.synced.is_set():
            try:
                await asyncio.wait_for(entry.synced.wait(), self.sync_timeout)
            except asyncio.TimeoutError:
                self._drop(key, entry)
                raise ApiError({"code": 504, "reason": "Timeout",
                                "message": f"timed out waiting for {resource} {namespace}/{name}"}) from None
        if entry.error is not None:
            self._drop(key, entry)
            raise entry.error
        return entry.obj

    async def _follow(self, key: tuple[str, str, str], entry: _Entry) -> None:
        resource, namespace, name = key
        selector = f"metadata.name={name}"
        while True:
            try:
                listed = await self.client.list(resource, namespace, field_selector=selector)
            except ApiError as e:
                if not entry.synced.is_set():
                    entry.error = e  # the reader sees the API's answer, as a GET would have given it
                    entry.synced.set()
                    return
                log.warning("listing %s %s/%s failed (retrying): %s", resource, namespace, name, e)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            items = listed.get("items") or []
            entry.obj = items[0] if items else None
            entry.synced.set()
            rv = (listed.get("metadata") or {}).get("resourceVersion", "")
            try:
                async with contextlib.aclosing(self.client.watch(resource, namespace, resource_version=rv,
                                                                 field_selector=selector)) as events:
                    async for ev in events:
                        if ev.type in ("ADDED", "MODIFIED"):
                            entry.obj = ev.object
                        elif ev.type == "DELETED":
                            entry.obj = None
            except ApiError as e:
                if not is_gone(e):
                    log.warning("watching %s %s/%s failed (relisting): %s", resource, namespace, name, e)
                    await asyncio.sleep(_RETRY_SECONDS)
            except (OSError, asyncio.TimeoutError) as e:
                log.warning("watch of %s %s/%s broke (relisting): %s", resource, namespace, name, e)
                await asyncio.sleep(_RETRY_SECONDS)

    def _expire(self, now: float) -> None:
        # A sweep walks every entry: at most one per tenth of the idle time, not one per read.
        if now - self._swept < self.idle_seconds / 10:
            return
        self._swept = now
        for key, entry in list(self._entries.items()):
            if entry.synced.is_set() and now - entry.last_used > self.idle_seconds:
                self._drop(key, entry)

    def _drop(self, key: tuple[str, str, str], entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()

    async def close(self) -> None:
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        self._entries.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""List, then watch, forever: keep a local store equal to the server's view of one resource.

The resourceVersion rules are client-go's, because they decide what can be missed:
- the first list asks for ``resourceVersion=0`` (any recent state, served from the API server's
  watch cache, cheap at start-up); later lists ask for "not older than" the last version seen, so a
  re-list never travels back in time; after a 410 on the list itself, ``""`` (a consistent read);
- the watch starts at the list's resourceVersion, so no change between list and watch is lost;
  bookmarks advance the version without objects, keeping the resume point fresh on quiet resources;
- a watch that ends normally (server timeout) resumes from the last version without re-listing; a
  broken connection is retried with backoff; 410 Gone or any other error re-lists, and the store's
  ``replace`` turns the difference into adds, updates and deletes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from navarch.api.resources import ResourceInfo
from navarch.client.errors import ApiError, is_gone, is_too_many_requests
from navarch.client.rest import Client
from navarch.client.watch import ADDED, BOOKMARK, DELETED, MODIFIED
from navarch.machinery.clock import Clock, RealClock

log = logging.getLogger(__name__)

# Failures that mean "the connection went away", after which resuming the watch is enough.
_CONNECTION_ERRORS = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError,
                      asyncio.TimeoutError)


class ReflectorStore(Protocol):
    """Where a reflector writes. Calls are synchronous and arrive in the server's order."""

    def replace(self, objs: list[dict[str, Any]], resource_version: str) -> None: ...

    def add(self, obj: dict[str, Any]) -> None: ...

    def update(self, obj: dict[str, Any]) -> None: ...

    def delete(self, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ReflectorOptions:
    page_size: int = 500
    # Watches last a random time in [min, 2*min] so that many clients do not re-watch in lock step.
    min_watch_timeout: float = 300.0
    backoff_initial: float = 0.8
    backoff_max: float = 30.0
    # A list-and-watch cycle that ran this long was healthy: the next failure starts backoff afresh.
    backoff_reset_after: float = 120.0


class Reflector:
    def __init__(self, client: Client, res: ResourceInfo, store: ReflectorStore, *,
                 namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, clock: Clock | None = None,
                 options: ReflectorOptions | None = None, name: str = "") -> None:
        self.client = client
        self.res = res
        self.store = store
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock = clock or RealClock()
        self.options = options or ReflectorOptions()
        self.name = name or res.qualified
        self.last_sync_resource_version = ""
        self._last_sync_unavailable = False
        self._random = random.Random()
        self._backoff = self.options.backoff_initial

    async def run(self) -> None:
        """Until cancelled. Errors are logged and retried with jittered exponential backoff."""
        while True:
            started = self.clock.monotonic()
            try:
                await self.list_and_watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - any failure means: back off, then re-list
                log.warning("%s: list and watch failed, will re-list: %s", self.name, _describe(e))
            if self.clock.monotonic() - started >= self.options.backoff_reset_after:
                self._backoff = self.options.backoff_initial
            await self._sleep_backoff()

    async def list_and_watch(self) -> None:
        """One list, then watches until one needs a re-list (returns) or fails (raises)."""
        await self._list()
        while True:
            try:
                started = self.clock.monotonic()
                if await self._watch() == 0 and self.clock.monotonic() - started < 1.0:
                    # client-go's "very short watch": a server that hangs up at once would otherwise
                    # be re-watched in a tight loop.
                    raise RuntimeError("watch closed immediately without delivering any event")
            except ApiError as e:
                if is_gone(e):
                    log.info("%s: watch from resourceVersion %s expired (%s); re-listing",
                             self.name, self.last_sync_resource_version, e.message)
                    return
                if not is_too_many_requests(e):
                    raise
                await self._sleep_backoff()
            except _CONNECTION_ERRORS as e:
                # Said once per outage; the retries while the server stays away are debug noise.
                level = logging.INFO if self._backoff <= self.options.backoff_initial else logging.DEBUG
                log.log(level, "%s: watch connection lost (%s); resuming from %s",
                        self.name, _describe(e), self.last_sync_resource_version)
                await self._sleep_backoff()

    def _relist_resource_version(self) -> str:
        if self._last_sync_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    async def _list(self) -> None:
        rv = self._relist_resource_version()
        try:
            result = await self.client.list_all(self.res, self.namespace, label_selector=self.label_selector,
                                                field_selector=self.field_selector, resource_version=rv,
                                                page_size=self.options.page_size)
        except ApiError as e:
            if is_gone(e) and rv:
                # The version we resumed from is gone from the server too: next time read fresh.
                self._last_sync_unavailable = True
            raise
        items = result.get("items") or []
        for item in items:
            # List items may omit their type; cached objects always carry it, like watch events do.
            item.setdefault("apiVersion", self.res.api_version)
            item.setdefault("kind", self.res.kind)
        list_rv = str((result.get("metadata") or {}).get("resourceVersion") or "")
        self.store.replace(items, list_rv)
        self.last_sync_resource_version = list_rv
        self._last_sync_unavailable = False
        log.debug("%s: listed %d objects at resourceVersion %s", self.name, len(items), list_rv)

    async def _watch(self) -> int:
        """Apply one watch stream's events; returns how many arrived."""
        count = 0
        low = self.options.min_watch_timeout
        timeout = int(low + self._random.random() * low)
        stream = self.client.watch(self.res, self.namespace, resource_version=self.last_sync_resource_version,
                                   timeout_seconds=max(timeout, 1), allow_bookmarks=True,
                                   label_selector=self.label_selector, field_selector=self.field_selector)
        async with aclosing(stream) as events:
            async for event in events:
                count += 1
                obj = event.object
                if event.type == ADDED:
                    self.store.add(obj)
                elif event.type == MODIFIED:
                    self.store.update(obj)
                elif event.type == DELETED:
                    self.store.delete(obj)
                elif event.type != BOOKMARK:
                    log.warning("%s: ignoring watch event of unknown type %r", self.name, event.type)
                    continue
                if event.resource_version:
                    self.last_sync_resource_version = event.resource_version
                # A healthy stream clears the backoff that earlier failures built up.
                self._backoff = self.options.backoff_initial
        return count

    async def _sleep_backoff(self) -> None:
        delay = self._backoff * (1 + self._random.random())
        self._backoff = min(self._backoff * 2, self.options.backoff_max)
        await self.clock.sleep(min(delay, self.options.backoff_max))


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

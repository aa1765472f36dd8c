"""An informer: a reflector filling an indexed cache, and event handlers told of every change.

Handlers are synchronous callables that should only turn objects into work-queue keys; they run
inline, in the order the server sent the changes, right after the cache reflects each change (so a
lister read from a handler's consequences never sees an older state than the event). A handler that
raises is logged and skipped; it cannot stop the informer or other handlers.

What handlers receive:
- ``on_add(obj)``: a new object, and for a handler registered late, every object already cached;
- ``on_update(old, new)``: a change, and also every object again on each relist and each periodic
  resync with the same resourceVersion (as upstream, so level-triggered controllers re-check state;
  compare resourceVersions to skip no-ops);
- ``on_delete(obj)``: the final state from the watch, or a ``DeletedFinalStateUnknown`` tombstone
  when a relist found the object gone without its delete having been seen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from navarch.api.resources import ResourceInfo
from navarch.client.rest import Client
from navarch.machinery.cache import DeletedFinalStateUnknown, Obj, object_key
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.indexer import Indexer, IndexFunc
from navarch.machinery.reflector import Reflector, ReflectorOptions

log = logging.getLogger(__name__)

AddHandler = Callable[[Obj], None]
UpdateHandler = Callable[[Obj, Obj], None]
DeleteHandler = Callable[[Any], None]  # the object or a DeletedFinalStateUnknown


@dataclass(frozen=True, eq=False)
class EventHandler:
    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None


class Informer:
    def __init__(self, client: Client, res: ResourceInfo, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync: float = 0.0, clock: Clock | None = None,
                 indexers: Mapping[str, IndexFunc] | None = None, debug: bool = False,
                 options: ReflectorOptions | None = None) -> None:
        self.res = res
        self.namespace = namespace
        self.resync = resync
        self.clock = clock or RealClock()
        self.indexer = Indexer(indexers, debug=debug)
        self.name = res.qualified + (f" in {namespace}" if namespace else "") + \
            (f" [{label_selector}]" if label_selector else "") + (f" [{field_selector}]" if field_selector else "")
        self.reflector = Reflector(client, res, _Store(self), namespace=namespace, label_selector=label_selector,
                                   field_selector=field_selector, clock=self.clock, options=options,
                                   name=self.name)
        self._handlers: list[EventHandler] = []
        self._synced = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # ---- handlers ----------------------------------------------------------------------------

    def add_event_handler(self, on_add: AddHandler | None = None, on_update: UpdateHandler | None = None,
                          on_delete: DeleteHandler | None = None) -> EventHandler:
        """Register; objects already cached are delivered to ``on_add`` at once. Returns a handle
        for ``remove_event_handler``."""
        handler = EventHandler(on_add, on_update, on_delete)
        self._handlers.append(handler)
        if on_add is not None:
            for obj in self.indexer.list():
                self._call(on_add, obj)
        return handler

    def remove_event_handler(self, handler: EventHandler) -> None:
        self._handlers.remove(handler)

    # ---- lifecycle ---------------------------------------------------------------------------

    def has_synced(self) -> bool:
        """The first list has been stored and delivered to handlers."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    @property
    def started(self) -> bool:
        return bool(self._tasks)

    def start(self) -> None:
        """Start the reflector (and resync timer) as named tasks on the running loop; idempotent."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self.reflector.run(), name=f"reflector {self.name}"))
        if self.resync > 0:
            self._tasks.append(asyncio.create_task(self._resync_loop(), name=f"resync {self.name}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_sync_resource_version

    # ---- delivery ----------------------------------------------------------------------------

    async def _resync_loop(self) -> None:
        while True:
            await self.clock.sleep(self.resync)
            if self.has_synced():
                self.resync_now()

    def resync_now(self) -> None:
        """Re-deliver every cached object as an update to itself (upstream's periodic resync)."""
        for obj in self.indexer.list():
            self._notify_update(obj, obj)

    def _notify_add(self, obj: Obj) -> None:
        for h in list(self._handlers):
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in list(self._handlers):
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _notify_delete(self, obj: Any) -> None:
        for h in list(self._handlers):
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - one bad handler must not stop the cache
            log.exception("%s: event handler %r failed", self.name, fn)


class _Store:
    """The reflector's view of the informer: apply each change to the cache, then tell handlers."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer

    def replace(self, objs: list[dict[str, Any]], resource_version: str) -> None:
        inf = self.informer
        indexer = inf.indexer
        fresh = {object_key(o): o for o in objs}
        gone = [(key, indexer.get(key)) for key in indexer.list_keys() if key not in fresh]
        for key, last in gone:
            indexer.delete(key)
            inf._notify_delete(DeletedFinalStateUnknown(key, last or {}))
        for obj in fresh.values():
            old = indexer.update(obj)
            if old is None:
                inf._notify_add(obj)
            else:
                inf._notify_update(old, obj)
        inf._synced.set()

    def add(self, obj: dict[str, Any]) -> None:
        self.update(obj)

    def update(self, obj: dict[str, Any]) -> None:
        old = self.informer.indexer.update(obj)
        if old is None:
            self.informer._notify_add(obj)
        else:
            self.informer._notify_update(old, obj)

    def delete(self, obj: dict[str, Any]) -> None:
        self.informer.indexer.delete(obj)
        self.informer._notify_delete(obj)

"""What every controller shares: its context, its work queue and its worker loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from navarch.client.rest import Client
from navarch.machinery.cache import object_key
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.workqueue import ShutDown, WorkQueue


@dataclass
class ControllerContext:
    """Everything a controller may use; built once per controller-manager process."""

    client: Client
    factory: SharedInformerFactory
    recorder: EventRecorder
    clock: Clock = field(default_factory=RealClock)
    # Per-controller tunables from flags (e.g. {"node-monitor-grace-period": 40.0}).
    options: dict[str, Any] = field(default_factory=dict)


class QueueController:
    """A level-triggered loop: handlers enqueue keys (``namespace/name``), workers call ``sync``.

    Subclasses set ``name``, register informer handlers in ``__init__`` (calling ``self.enqueue``)
    and implement ``sync``. ``sync`` must be idempotent: it is called again after any failure, after
    restarts and for keys whose object no longer exists.
    """

    name: ClassVar[str] = ""
    workers: ClassVar[int] = 2

    def __init__(self, ctx: ControllerContext) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.factory = ctx.factory
        self.recorder = ctx.recorder
        self.clock = ctx.clock
        self.queue: WorkQueue[str] = WorkQueue(self.name, clock=ctx.clock)
        self.log = logging.getLogger(f"navarch.controllers.{self.name}")

    def enqueue(self, obj: Any) -> None:
        """Queue an object's key (also accepts a key string or a tombstone)."""
        self.queue.add(obj if isinstance(obj, str) else object_key(obj))

    async def sync(self, key: str) -> None:
        raise NotImplementedError

    async def run(self, workers: int | None = None) -> None:
        """Run workers until cancelled; the caller starts the factory and waits for cache sync first."""
        tasks = [asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
                 for i in range(workers or self.workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.sync(key)
            except asyncio.CancelledError:
                self.queue.done(key)
                raise
            except Exception as e:  # retried with per-key backoff; never kills the worker
                self.log.warning("sync %s failed (retry %d): %s", key, self.queue.num_requeues(key),
                                 f"{type(e).__name__}: {e}")
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
            self.queue.done(key)


def enabled_controllers(spec: tuple[str, ...], known: Iterable[str],
                        aliases: Mapping[str, str] | None = None) -> list[str]:
    """Upstream's ``--controllers`` syntax, for any controller manager: ``*`` for all, ``foo`` to
    add, ``-foo`` to remove, comma-separated or repeated; ``aliases`` maps older names. An unknown
    name is a ValueError naming the known ones."""
    known = list(known)
    aliases = aliases or {}
    names: list[str] = []
    for item in spec:
        for part in (p.strip() for p in item.split(",") if p.strip()):
            neg = part.startswith("-")
            name = aliases.get(part.lstrip("-"), part.lstrip("-"))
            if name == "*" and not neg:
                names.extend(n for n in known if n not in names)
            elif name not in known:
                raise ValueError(f"unknown controller {name!r}; known: {', '.join(known)}")
            elif neg:
                names = [n for n in names if n != name]
            elif name not in names:
                names.append(name)
    return names

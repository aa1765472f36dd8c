"""One informer per resource per process, shared by every component that process hosts.

In single-process mode the scheduler, the controllers and the kubelet all read pods; one factory
means one list, one watch and one cache for all of them. Build one factory, pass it to each
component's constructor, let each ask for what it reads, then ``start()`` once everything is wired
and ``wait_for_cache_sync()`` before workers run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from navarch.client.resolve import ResourceRef, resolve
from navarch.client.rest import Client
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.informer import Informer
from navarch.machinery.listers import Lister
from navarch.machinery.reflector import ReflectorOptions

log = logging.getLogger(__name__)


class SharedInformerFactory:
    def __init__(self, client: Client, resync: float = 0.0, *, namespace: str | None = None,
                 clock: Clock | None = None, debug: bool = False,
                 options: ReflectorOptions | None = None) -> None:
        """``namespace`` limits every informer to one namespace (None: all); ``debug`` makes caches
        check that nobody mutates cached objects in place."""
        self.client = client
        self.resync = resync
        self.namespace = namespace
        self.clock = clock or RealClock()
        self.debug = debug
        self.options = options or ReflectorOptions()
        self._informers: dict[tuple[Any, ...], Informer] = {}
        self._started = False

    def informer(self, res: ResourceRef, *, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None) -> Informer:
        """The shared informer for this resource and filter; created on first request. Informers
        requested after ``start()`` start with the next ``start()`` call, as upstream."""
        r = resolve(res, self.client.registry)
        ns = namespace if namespace is not None else self.namespace
        key = (r.group, r.version, r.plural, ns or "", label_selector or "", field_selector or "")
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, r, namespace=ns, label_selector=label_selector,
                           field_selector=field_selector, resync=self.resync, clock=self.clock,
                           debug=self.debug, options=self.options)
            self._informers[key] = inf
        return inf

    def lister(self, res: ResourceRef, **kw: Any) -> Lister:
        inf = self.informer(res, **kw)
        return Lister(inf.indexer, inf.res)

    def start(self) -> None:
        for inf in self._informers.values():
            if not inf.started:
                inf.start()
        self._started = True

    async def wait_for_cache_sync(self, timeout: float | None = None) -> bool:
        """True once every started informer has synced; False if ``timeout`` elapsed first."""
        pending = [inf for inf in self._informers.values() if inf.started]
        try:
            async with asyncio.timeout(timeout):
                for inf in pending:
                    await inf.wait_synced()
        except TimeoutError:
            missing = [inf.name for inf in pending if not inf.has_synced()]
            log.warning("caches not synced after %ss: %s", timeout, ", ".join(missing))
            return False
        return True

    async def stop(self) -> None:
        await asyncio.gather(*(inf.stop() for inf in self._informers.values()))
        self._started = False

    def informers(self) -> list[Informer]:
        return list(self._informers.values())

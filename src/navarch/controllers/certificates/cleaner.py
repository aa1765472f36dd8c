"""The CSR cleaner (upstream's ``csrcleaner``): requests are not kept forever.

Upstream's ages: a pending request goes after 24 hours; an approved, denied or failed one after an
hour; an issued one once its certificate has expired (and after an hour, as approved). Each request
is re-queued for exactly when it becomes due, instead of upstream's hourly sweep.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import Any, ClassVar

from cryptography import x509

from navarch.client.errors import is_not_found
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.certificates import csr as c

PENDING = dt.timedelta(hours=24)
DECIDED = dt.timedelta(hours=1)


def due(obj: Mapping[str, Any]) -> dt.datetime | None:
    """When the request should be deleted (None: its creation time is unknown)."""
    created = wl.parse_time((obj.get("metadata") or {}).get("creationTimestamp"))
    if created is None:
        return None
    if not (c.is_approved(obj) or c.is_denied(obj) or c.is_failed(obj)):
        return created + PENDING
    at = created + DECIDED
    if c.is_issued(obj):
        try:
            pem = base64.b64decode(obj["status"]["certificate"])
            at = min(at, x509.load_pem_x509_certificates(pem)[0].not_valid_after_utc)
        except (ValueError, KeyError, IndexError, TypeError):
            pass
    return at


class CSRCleanerController(QueueController):
    name: ClassVar[str] = "csrcleaner"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.csrs = self.factory.lister(c.CSRS)
        self.factory.informer(c.CSRS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))

    async def sync(self, key: str) -> None:
        obj = self.csrs.get(None, key)
        if obj is None:
            return
        at = due(obj)
        if at is None:
            return
        left = (at - self.clock.now()).total_seconds()
        if left > 0:
            self.queue.add_after(key, left)
            return
        self.log.info("deleting old csr %s", key)
        try:
            await self.client.delete(c.CSRS, key, preconditions={"uid": obj["metadata"]["uid"]})
        except Exception as e:
            if not is_not_found(e):
                raise

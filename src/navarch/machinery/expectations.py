"""Controller expectations: "I asked for N creations; do not act again until I have seen them".

A controller's cache lags its own writes. Without this, a ReplicaSet that created 3 pods would, on
its next sync, still count 0 and create 3 more. The controller raises expectations *before* writing,
its informer handlers lower them as the objects show up, and ``sync`` skips creating or deleting
until they are satisfied. A write that failed must be lowered by the controller itself. If an
observation is lost, the record expires after 5 minutes so the controller cannot stall forever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from navarch.machinery.clock import Clock, RealClock

log = logging.getLogger(__name__)

EXPECTATIONS_TIMEOUT = 300.0


@dataclass
class _Record:
    adds: int
    deletes: int
    timestamp: float

    @property
    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.deletes <= 0


class ControllerExpectations:
    """Per controller key (``namespace/name`` of the owner). Synchronous and cheap: safe to call from
    event handlers. ``satisfied`` is True when no record exists (nothing expected, or forgotten)."""

    def __init__(self, clock: Clock | None = None, timeout: float = EXPECTATIONS_TIMEOUT) -> None:
        self.clock = clock or RealClock()
        self.timeout = timeout
        self._records: dict[str, _Record] = {}

    def expect_creations(self, key: str, n: int) -> None:
        self.set_expectations(key, adds=n, deletes=0)

    def expect_deletions(self, key: str, n: int) -> None:
        self.set_expectations(key, adds=0, deletes=n)

    def set_expectations(self, key: str, adds: int, deletes: int) -> None:
        """Replace whatever was expected (a new sync decided afresh) and restart the expiry timer."""
        self._records[key] = _Record(adds, deletes, self.clock.monotonic())

    def raise_expectations(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        rec = self._records.get(key)
        if rec is None:
            self.set_expectations(key, adds, deletes)
        else:
            rec.adds += adds
            rec.deletes += deletes

    def lower_expectations(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        rec = self._records.get(key)
        if rec is not None:
            rec.adds -= adds
            rec.deletes -= deletes

    def creation_observed(self, key: str) -> None:
        self.lower_expectations(key, adds=1)

    def deletion_observed(self, key: str) -> None:
        self.lower_expectations(key, deletes=1)

    def satisfied(self, key: str) -> bool:
        rec = self._records.get(key)
        if rec is None or rec.fulfilled:
            return True
        if self.clock.monotonic() - rec.timestamp > self.timeout:
            log.info("expectations for %s expired (adds %d, deletes %d still pending)", key, rec.adds, rec.deletes)
            return True
        return False

    def pending(self, key: str) -> tuple[int, int] | None:
        """(adds, deletes) still expected, or None without a record."""
        rec = self._records.get(key)
        return None if rec is None else (rec.adds, rec.deletes)

    def delete_expectations(self, key: str) -> None:
        """Forget the key (its controller object was deleted)."""
        self._records.pop(key, None)


class UIDTrackingExpectations:
    """Deletion expectations keyed by the uids being deleted (upstream's UIDTrackingControllerExpectations).

    A pod deletion can be observed twice (its update with deletionTimestamp, then its delete event);
    tracking uids lowers the count once per pod, not once per event.
    """

    def __init__(self, expectations: ControllerExpectations | None = None) -> None:
        self.expectations = expectations or ControllerExpectations()
        self._uids: dict[str, set[str]] = {}

    def expect_deletions(self, key: str, uids: list[str]) -> None:
        self._uids[key] = set(uids)
        self.expectations.expect_deletions(key, len(uids))

    def deletion_observed(self, key: str, uid: str) -> None:
        uids = self._uids.get(key)
        if uids is not None and uid in uids:
            uids.discard(uid)
            self.expectations.deletion_observed(key)

    def expect_creations(self, key: str, n: int) -> None:
        self.expectations.expect_creations(key, n)

    def creation_observed(self, key: str) -> None:
        self.expectations.creation_observed(key)

    def lower_expectations(self, key: str, adds: int = 0, deletes: int = 0) -> None:
        self.expectations.lower_expectations(key, adds, deletes)

    def satisfied(self, key: str) -> bool:
        return self.expectations.satisfied(key)

    def pending_uids(self, key: str) -> set[str]:
        return set(self._uids.get(key, ()))

    def delete_expectations(self, key: str) -> None:
        self._uids.pop(key, None)
        self.expectations.delete_expectations(key)

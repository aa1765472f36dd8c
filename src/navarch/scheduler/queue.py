"""The scheduling queue: activeQ, backoffQ and the unschedulable pods (upstream PriorityQueue).

- activeQ hands out pods in the QueueSort plugin's order (PrioritySort: priority, then time queued).
- A pod that failed goes to the unschedulable pods when plugins rejected it, or to backoffQ after a
  scheduler error or when a cluster change arrived while it was being scheduled (the change might
  have helped, so waiting for another event could strand it).
- A cluster event moves the unschedulable pods whose rejecting plugins registered for it (or that
  no plugin rejected) to activeQ, or to backoffQ while their backoff lasts.
- Backoff per pod: 1 s, doubling per failed attempt, at most 10 s. Pods left unschedulable for 5
  minutes are retried anyway, so a lost or unregistered event cannot strand a pod forever.
Everything but ``pop`` and ``run`` is synchronous: informer handlers call it inline.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from navarch.machinery.clock import Clock, RealClock
from navarch.scheduler.framework.types import ClusterEvent, PodInfo

log = logging.getLogger(__name__)

DEFAULT_INITIAL_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 10.0
DEFAULT_MAX_UNSCHEDULABLE = 300.0
BACKOFF_FLUSH_INTERVAL = 1.0
UNSCHEDULABLE_FLUSH_INTERVAL = 30.0


@dataclass(eq=False)
class QueuedPodInfo:
    pod_info: PodInfo
    timestamp: float
    initial_attempt_timestamp: float | None = None
    attempts: int = 0
    unschedulable_plugins: set[str] = field(default_factory=set)
    # Set while in flight when an update or cluster event arrived (see ``add_unschedulable``).
    updated_in_flight: bool = False
    deleted_in_flight: bool = False

    @property
    def key(self) -> str:
        return self.pod_info.key


class _ActiveEntry:
    __slots__ = ("qpi", "less", "removed")

    def __init__(self, qpi: QueuedPodInfo, less: Callable[[Any, Any], bool]) -> None:
        self.qpi = qpi
        self.less = less
        self.removed = False

    def __lt__(self, other: "_ActiveEntry") -> bool:
        return self.less(self.qpi, other.qpi)


class SchedulingQueue:
    def __init__(self, less: Callable[[Any, Any], bool], *, clock: Clock | None = None,
                 events: Mapping[str, list[ClusterEvent]] | None = None,
                 initial_backoff: float = DEFAULT_INITIAL_BACKOFF, max_backoff: float = DEFAULT_MAX_BACKOFF,
                 max_unschedulable: float = DEFAULT_MAX_UNSCHEDULABLE) -> None:
        """``events``: plugin name -> events that may make pods it rejected schedulable."""
        self.less = less
        self.clock = clock or RealClock()
        self.events = dict(events or {})
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.max_unschedulable = max_unschedulable
        self._active: list[_ActiveEntry] = []
        self._active_by_key: dict[str, _ActiveEntry] = {}
        self._backoff: list[tuple[float, int, str]] = []
        self._backoff_by_key: dict[str, tuple[float, QueuedPodInfo]] = {}
        self._unschedulable: dict[str, tuple[float, QueuedPodInfo]] = {}
        self._in_flight: dict[str, QueuedPodInfo] = {}
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self.move_request_cycle = -1

    # ---- informer side ---------------------------------------------------------------------------

    def add(self, pod: PodInfo) -> None:
        """A new pending pod (or one seen again after a relist)."""
        key = pod.key
        if key in self._in_flight:
            self._in_flight[key].pod_info = pod
            return
        if key in self._active_by_key or key in self._backoff_by_key or key in self._unschedulable:
            self.update(pod)
            return
        self._push_active(QueuedPodInfo(pod, self.clock.monotonic()))

    def update(self, pod: PodInfo, *, spec_changed: bool = True) -> None:
        """A pending pod changed. A change that could matter (``spec_changed``) lets an unschedulable
        pod try again (after its backoff); otherwise only the stored object is refreshed."""
        key = pod.key
        if key in self._in_flight:
            qpi = self._in_flight[key]
            qpi.pod_info = pod
            qpi.updated_in_flight = qpi.updated_in_flight or spec_changed
            return
        entry = self._active_by_key.get(key)
        if entry is not None:
            entry.qpi.pod_info = pod
            return
        if key in self._backoff_by_key:
            self._backoff_by_key[key][1].pod_info = pod
            return
        if key in self._unschedulable:
            _, qpi = self._unschedulable[key]
            qpi.pod_info = pod
            if spec_changed:
                del self._unschedulable[key]
                self._requeue(qpi)
            return
        self.add(pod)

    def delete(self, key: str) -> None:
        if key in self._in_flight:
            self._in_flight[key].deleted_in_flight = True
        entry = self._active_by_key.pop(key, None)
        if entry is not None:
            entry.removed = True
        self._backoff_by_key.pop(key, None)
        self._unschedulable.pop(key, None)

    # ---- scheduler side --------------------------------------------------------------------------

    async def pop(self) -> QueuedPodInfo:
        """The next pod to schedule, waiting for one; raises ``asyncio.CancelledError`` on close."""
        while True:
            while self._active:
                entry = heapq.heappop(self._active)
                if entry.removed:
                    continue
                qpi = entry.qpi
                del self._active_by_key[qpi.key]
                qpi.attempts += 1
                if qpi.initial_attempt_timestamp is None:
                    qpi.initial_attempt_timestamp = self.clock.monotonic()
                qpi.updated_in_flight = qpi.deleted_in_flight = False
                self._in_flight[qpi.key] = qpi
                self.scheduling_cycle += 1
                return qpi
            if self._closed:
                raise asyncio.CancelledError("scheduling queue closed")
            self._ready.clear()
            await self._ready.wait()

    def done(self, key: str) -> None:
        """The scheduling attempt of ``key`` ended (bound, or given back with ``add_unschedulable``)."""
        self._in_flight.pop(key, None)

    def add_unschedulable(self, qpi: QueuedPodInfo, cycle: int, *, error: bool = False) -> None:
        """Give back a pod whose attempt (in scheduling cycle ``cycle``) failed."""
        key = qpi.key
        self._in_flight.pop(key, None)
        if qpi.deleted_in_flight or key in self._active_by_key or key in self._backoff_by_key \
                or key in self._unschedulable:
            return
        qpi.timestamp = self.clock.monotonic()
        if error or qpi.updated_in_flight or self.move_request_cycle >= cycle:
            self._push_backoff(qpi)
        else:
            self._unschedulable[key] = (self.clock.monotonic(), qpi)

    def activate(self, key: str) -> None:
        """Move one parked pod to activeQ now (used after preemption made room, and by tests)."""
        if key in self._unschedulable:
            _, qpi = self._unschedulable.pop(key)
            self._push_active(qpi)
        elif key in self._backoff_by_key:
            _, qpi = self._backoff_by_key.pop(key)
            self._push_active(qpi)

    def move_all_to_active_or_backoff(self, event: ClusterEvent) -> int:
        """A cluster change happened: retry the pods it might help. Returns how many moved."""
        self.move_request_cycle = self.scheduling_cycle
        moved = 0
        for key, (_, qpi) in list(self._unschedulable.items()):
            if self._helps(qpi, event):
                del self._unschedulable[key]
                self._requeue(qpi)
                moved += 1
        return moved

    def _helps(self, qpi: QueuedPodInfo, event: ClusterEvent) -> bool:
        if not qpi.unschedulable_plugins:
            return True
        for plugin in qpi.unschedulable_plugins:
            for registered in self.events.get(plugin, ()):
                if registered.matches(event):
                    return True
        return False

    # ---- backoff and timers ----------------------------------------------------------------------

    def backoff_duration(self, qpi: QueuedPodInfo) -> float:
        duration = self.initial_backoff
        for _ in range(1, qpi.attempts):
            duration *= 2
            if duration >= self.max_backoff:
                return self.max_backoff
        return min(duration, self.max_backoff)

    def backoff_expiry(self, qpi: QueuedPodInfo) -> float:
        return qpi.timestamp + self.backoff_duration(qpi)

    def is_backing_off(self, qpi: QueuedPodInfo) -> bool:
        return qpi.attempts > 0 and self.backoff_expiry(qpi) > self.clock.monotonic()

    def flush_backoff_completed(self) -> int:
        now = self.clock.monotonic()
        moved = 0
        while self._backoff and self._backoff[0][0] <= now:
            expiry, _, key = heapq.heappop(self._backoff)
            item = self._backoff_by_key.get(key)
            if item is None or item[0] != expiry:
                continue
            del self._backoff_by_key[key]
            self._push_active(item[1])
            moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        now = self.clock.monotonic()
        moved = 0
        for key, (since, qpi) in list(self._unschedulable.items()):
            if now - since > self.max_unschedulable:
                del self._unschedulable[key]
                self._requeue(qpi)
                moved += 1
        return moved

    async def run(self) -> None:
        """The periodic flushes; run as a task next to the scheduling loop."""
        last_unschedulable_flush = self.clock.monotonic()
        while not self._closed:
            await self.clock.sleep(BACKOFF_FLUSH_INTERVAL)
            self.flush_backoff_completed()
            if self.clock.monotonic() - last_unschedulable_flush >= UNSCHEDULABLE_FLUSH_INTERVAL:
                last_unschedulable_flush = self.clock.monotonic()
                self.flush_unschedulable_leftover()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    # ---- introspection ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._active_by_key) + len(self._backoff_by_key) + len(self._unschedulable)

    def pending(self) -> dict[str, list[str]]:
        return {"active": sorted(self._active_by_key), "backoff": sorted(self._backoff_by_key),
                "unschedulable": sorted(self._unschedulable), "in_flight": sorted(self._in_flight)}

    def nominated_pods(self) -> list[PodInfo]:
        """Parked pods that preemption nominated to a node (status.nominatedNodeName)."""
        out = []
        for qpi in itertools.chain((e.qpi for e in self._active_by_key.values()),
                                   (q for _, q in self._backoff_by_key.values()),
                                   (q for _, q in self._unschedulable.values())):
            if (qpi.pod_info.pod.get("status") or {}).get("nominatedNodeName"):
                out.append(qpi.pod_info)
        return out

    # ---- internals -------------------------------------------------------------------------------

    def _requeue(self, qpi: QueuedPodInfo) -> None:
        if self.is_backing_off(qpi):
            self._push_backoff(qpi)
        else:
            self._push_active(qpi)

    def _push_active(self, qpi: QueuedPodInfo) -> None:
        entry = _ActiveEntry(qpi, self.less)
        self._active_by_key[qpi.key] = entry
        heapq.heappush(self._active, entry)
        self._ready.set()

    def _push_backoff(self, qpi: QueuedPodInfo) -> None:
        expiry = self.backoff_expiry(qpi)
        self._backoff_by_key[qpi.key] = (expiry, qpi)
        heapq.heappush(self._backoff, (expiry, next(self._seq), qpi.key))

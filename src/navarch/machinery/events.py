"""Events: what components tell humans (``kubectl describe``, ``kubectl get events``).

Recording must never slow down or fail the caller: a controller's sync does not wait for, or care
about, its Events. ``EventRecorder.event`` only queues; a background task writes them one at a
time, as client-go's broadcaster does (``max_in_flight`` allows more). Events are best effort: when
a component records faster than the API server takes them (a scheduler binding hundreds of pods a
second), the queue fills and new Events are dropped, as upstream's 1000-event queue drops them.
Writing several at once kept more of them, but they then competed with the work they describe:
the scheduler streamed ~15% fewer pods and a 100-pod burst on one node started ~0.4 s later at p99
(``benchmarks/scheduler_bench.py``, ``benchmarks/pod_start_bench.py``).
Repeats are folded as upstream's event logger does: the same object, type, reason and message
again within 10 minutes PATCHes ``count`` and ``lastTimestamp`` of the Event already written
instead of adding one; writes of the same (correlation key) event are kept in order, each after
the one before it finished, so folding sees what was stored.
Not yet done (upstream's EventCorrelator also has them): the per-object spam filter and folding of
*similar* events with different messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Mapping

import aiohttp

from navarch.client.errors import ApiError, is_not_found
from navarch.client.rest import Client
from navarch.machinery.clock import Clock, RealClock

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
AGGREGATE_WINDOW = 600.0
CACHE_SIZE = 4096
QUEUE_SIZE = 1000
WRITE_ATTEMPTS = 3
MAX_IN_FLIGHT = 1  # writes outstanding at once per recorder, as client-go's one sink goroutine
DROP_LOG_INTERVAL = 10.0  # seconds between two "dropping event" lines


def object_reference(obj: Mapping[str, Any], field_path: str = "") -> dict[str, Any]:
    """The ``involvedObject`` for an object (which must carry ``kind`` and ``apiVersion``)."""
    meta = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": meta.get("name", ""),
           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
           "resourceVersion": meta.get("resourceVersion", "")}
    if field_path:
        ref["fieldPath"] = field_path
    return {k: v for k, v in ref.items() if v}


def timestamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Decision:
    """What to write: a new Event (``create``) or a patch of an existing one."""

    action: Literal["create", "patch"]
    event: dict[str, Any]
    patch: dict[str, Any] | None = None


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str
    last_seen: float


class EventCorrelator:
    """Pure decision logic (no I/O), so aggregation is tested on fake time. Remembers the most recent
    ``CACHE_SIZE`` distinct events, least recently seen forgotten first."""

    def __init__(self, clock: Clock, window: float = AGGREGATE_WINDOW, size: int = CACHE_SIZE) -> None:
        self.clock = clock
        self.window = window
        self.size = size
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()

    @staticmethod
    def key(event: Mapping[str, Any]) -> tuple[str, ...]:
        ref = event.get("involvedObject") or {}
        source = event.get("source") or {}
        return (source.get("component", ""), source.get("host", ""), ref.get("kind", ""),
                ref.get("namespace", ""), ref.get("name", ""), ref.get("fieldPath", ""), ref.get("uid", ""),
                ref.get("apiVersion", ""), event.get("type", ""), event.get("reason", ""),
                event.get("message", ""))

    def correlate(self, event: dict[str, Any], at: float) -> Decision:
        """``event`` is a complete new Event observed at monotonic time ``at``."""
        key = self.key(event)
        seen = self._seen.get(key)
        if seen is not None and at - seen.last_seen <= self.window:
            seen.count += 1
            seen.last_seen = at
            self._seen.move_to_end(key)
            merged = {**event, "metadata": {**event["metadata"], "name": seen.name, "namespace": seen.namespace},
                      "count": seen.count, "firstTimestamp": seen.first_timestamp}
            return Decision("patch", merged, {"count": seen.count, "lastTimestamp": event["lastTimestamp"]})
        self._remember(key, event, at)
        return Decision("create", event)

    def recorded(self, event: Mapping[str, Any], at: float) -> None:
        """The Event actually stored (its name may differ after a re-create)."""
        self._remember(self.key(event), event, at)

    def _remember(self, key: tuple[str, ...], event: Mapping[str, Any], at: float) -> None:
        meta = event.get("metadata") or {}
        self._seen[key] = _Seen(meta.get("name", ""), meta.get("namespace", ""), int(event.get("count") or 1),
                                str(event.get("firstTimestamp") or ""), at)
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)


class EventRecorder:
    """``event(obj, type, reason, message)`` from anywhere on the loop; writes happen in the background.

    The writer task starts with the first event (or ``start()``); ``stop()`` flushes what is queued
    (bounded by a timeout) and ends it. When the queue is full, new events are dropped and logged.
    At most ``max_in_flight`` writes are outstanding at once.
    """

    def __init__(self, client: Client, component: str, host: str = "", *, clock: Clock | None = None,
                 queue_size: int = QUEUE_SIZE, max_in_flight: int = MAX_IN_FLIGHT, qps: float = 0.0,
                 burst: int = 0) -> None:
        """``qps``/``burst``: a token bucket on writes (upstream kubelet's --event-qps 50 and
        --event-burst 100), so that a burst of pod starts is not slowed by its own events; 0 means
        no limit. Events wait in the queue meanwhile; the queue's bound still applies."""
        self.client = client
        self.qps = qps
        self.burst = max(burst, 1)
        self._tokens = float(self.burst)
        self._refilled: float | None = None
        self.component = component
        self.host = host
        self.clock = clock or RealClock()
        self.correlator = EventCorrelator(self.clock)
        self.max_in_flight = max(1, max_in_flight)
        self._queue: asyncio.Queue[tuple[dict[str, Any], float]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        # The latest write of each correlation key still running: the next one of that key waits for it.
        self._latest: dict[tuple[str, ...], asyncio.Task[None]] = {}
        self._last_ns = 0
        self._drops = 0
        self._drops_logged_at: float | None = None

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Record about ``obj`` (an object, or an ObjectReference). Never waits; raises only for
        arguments no Event could carry (a type other than Normal or Warning)."""
        if event_type not in (NORMAL, WARNING):
            raise ValueError(f"event type must be {NORMAL} or {WARNING}, not {event_type!r}")
        if self._queue.full():
            self._dropped(obj, event_type, reason, message)
            return
        # An object (with metadata) or already an ObjectReference.
        ref = object_reference(obj) if "metadata" in obj else obj
        self._queue.put_nowait((self._new_event(ref, event_type, reason, message), self.clock.monotonic()))
        self.start()

    def _dropped(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """A full queue drops events until the writer catches up (upstream's broadcaster does the
        same); the log names the first drop and then counts, so a flood is not logged line by line
        on the loop that is already behind."""
        self._drops += 1
        now = self.clock.monotonic()
        if self._drops_logged_at is not None and now - self._drops_logged_at < DROP_LOG_INTERVAL:
            return
        name = (obj.get("metadata") or {}).get("name") if "metadata" in obj else obj.get("name")
        log.warning("event queue full, dropping event %s %s on %s: %s (%d dropped so far)", event_type, reason,
                    name, message, self._drops)
        self._drops_logged_at = now

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"events {self.component}")

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        await self._queue.join()

    async def stop(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._queue.join()
        except TimeoutError:
            log.warning("dropping %d unwritten events at shutdown", self._queue.qsize())
        task, self._task = self._task, None
        tasks = [task, *self._writes]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._writes.clear()
        self._latest.clear()

    def _new_event(self, ref: Mapping[str, Any], event_type: str, reason: str, message: str) -> dict[str, Any]:
        now = self.clock.now()
        # Unique per recorder even when many events share one clock reading (upstream: name.<unixnano hex>).
        self._last_ns = max(int(now.timestamp() * 1e9), self._last_ns + 1)
        name = f"{str(ref.get('name', ''))[:200]}.{self._last_ns:x}"
        ts = timestamp(now)
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ref.get("namespace") or "default"},
            "involvedObject": dict(ref), "reason": reason, "message": message[:1024], "type": event_type,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.max_in_flight)
        loop = asyncio.get_running_loop()
        while True:
            event, at = await self._queue.get()
            if self.qps > 0:
                await self._take_token()
            await slots.acquire()
            key = EventCorrelator.key(event)
            task = loop.create_task(self._write_in_turn(self._latest.get(key), key, event, at, slots),
                                    name=f"event write {self.component}")
            self._latest[key] = task
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _take_token(self) -> None:
        while True:
            now = self.clock.monotonic()
            if self._refilled is not None:
                self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * self.qps)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await self.clock.sleep((1.0 - self._tokens) / self.qps)

    async def _write_in_turn(self, before: asyncio.Task[None] | None, key: tuple[str, ...], event: dict[str, Any],
                             at: float, slots: asyncio.Semaphore) -> None:
        try:
            if before is not None and not before.done():
                await asyncio.wait([before])
            await self._write(event, at)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - events are best effort by design
            log.warning("could not record event %s on %s: %s", event.get("reason"),
                        event["involvedObject"].get("name"), e)
        finally:
            slots.release()
            if self._latest.get(key) is asyncio.current_task():
                del self._latest[key]
            self._queue.task_done()

    async def _write(self, event: dict[str, Any], at: float) -> None:
        decision = self.correlator.correlate(event, at)
        ev = decision.event
        ns = ev["metadata"]["namespace"]
        for attempt in range(WRITE_ATTEMPTS):
            try:
                if decision.action == "patch":
                    try:
                        stored = await self.client.patch("events", ev["metadata"]["name"], decision.patch, "merge", ns)
                    except ApiError as e:
                        if not is_not_found(e):
                            raise
                        # Someone deleted it (or it expired): write it anew, keeping the count.
                        fresh_meta = {**ev["metadata"], "name": event["metadata"]["name"]}
                        decision = Decision("create", {**ev, "metadata": fresh_meta})
                        ev = decision.event
                        continue
                else:
                    stored = await self.client.create("events", ev, ns)
                self.correlator.recorded(stored, at)
                return
            except ApiError:
                raise  # the server said no: retrying the same write will not help
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as e:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                log.debug("event write failed (%s), retrying", e)
                await self.clock.sleep(1.0 * (attempt + 1))

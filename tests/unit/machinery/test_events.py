import asyncio
from typing import Any

import pytest

from navarch.client.errors import ApiError
from navarch.machinery.clock import FakeClock
from navarch.machinery.events import EventCorrelator, EventRecorder, object_reference

POD = {"kind": "Pod", "apiVersion": "v1",
       "metadata": {"name": "web-1", "namespace": "ns", "uid": "u1", "resourceVersion": "7"}}
NODE = {"kind": "Node", "apiVersion": "v1", "metadata": {"name": "n1", "uid": "n-uid"}}


class EventSink:
    """Records the event writes a recorder makes; can fail the next writes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.stored: dict[str, dict] = {}
        self.fail_next: list[BaseException] = []

    async def create(self, res: str, body: dict, namespace: str | None = None) -> dict:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.calls.append(("create", body))
        self.stored[body["metadata"]["name"]] = dict(body)
        return dict(body)

    async def patch(self, res: str, name: str, body: dict, patch_type: str, namespace: str | None = None) -> dict:
        if self.fail_next:
            raise self.fail_next.pop(0)
        self.calls.append(("patch", (name, body)))
        if name not in self.stored:
            raise ApiError({"code": 404, "reason": "NotFound", "message": f'events "{name}" not found'})
        self.stored[name].update(body)
        return dict(self.stored[name])


def new_event(clock: FakeClock, message: str = "pulled", obj: dict = POD, name: str = "web-1.1") -> dict:
    ts = "2025-01-01T00:00:00Z"
    ref = object_reference(obj)
    return {"metadata": {"name": name, "namespace": ref.get("namespace", "default")}, "involvedObject": ref,
            "reason": "Pulled", "message": message, "type": "Normal", "source": {"component": "kubelet"},
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1}


def test_correlator_folds_repeats_within_ten_minutes():
    clock = FakeClock()
    c = EventCorrelator(clock)
    first = c.correlate(new_event(clock, name="e.1"), at=0)
    assert first.action == "create"
    second = c.correlate({**new_event(clock, name="e.2"), "lastTimestamp": "2025-01-01T00:05:00Z"}, at=300)
    assert second.action == "patch"
    assert second.event["metadata"]["name"] == "e.1"
    assert second.patch == {"count": 2, "lastTimestamp": "2025-01-01T00:05:00Z"}
    assert second.event["firstTimestamp"] == "2025-01-01T00:00:00Z"
    assert c.correlate(new_event(clock, name="e.3"), at=600).patch["count"] == 3
    # More than ten minutes after the last sighting: a new Event.
    assert c.correlate(new_event(clock, name="e.4"), at=1201).action == "create"


@pytest.mark.parametrize("change", [
    {"message": "other"}, {"reason": "Failed"}, {"type": "Warning"},
    {"involvedObject": object_reference(NODE)}, {"source": {"component": "scheduler"}},
], ids=["message", "reason", "type", "object", "source"])
def test_correlator_keeps_different_events_apart(change):
    c = EventCorrelator(FakeClock())
    c.correlate(new_event(FakeClock()), at=0)
    assert c.correlate({**new_event(FakeClock(), name="x.2"), **change}, at=1).action == "create"


def test_correlator_forgets_least_recent_beyond_its_size():
    c = EventCorrelator(FakeClock(), size=2)
    for msg in ["a", "b", "c"]:
        c.correlate(new_event(FakeClock(), message=msg), at=0)
    assert c.correlate(new_event(FakeClock(), message="a"), at=1).action == "create"
    assert c.correlate(new_event(FakeClock(), message="c"), at=1).action == "patch"


async def test_recorder_writes_in_background_and_aggregates():
    clock = FakeClock()
    sink = EventSink()
    rec = EventRecorder(sink, "kubelet", "node-1", clock=clock)  # type: ignore[arg-type]
    rec.event(POD, "Normal", "Pulled", "image pulled")
    assert sink.calls == []  # nothing written inline
    clock.advance(60)
    rec.event(POD, "Normal", "Pulled", "image pulled")
    rec.event(NODE, "Warning", "NodeNotReady", "kubelet stopped posting")
    await rec.flush()
    kinds = [c[0] for c in sink.calls]
    assert kinds == ["create", "patch", "create"]
    created = sink.calls[0][1]
    assert created["involvedObject"] == {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "namespace": "ns",
                                         "uid": "u1", "resourceVersion": "7"}
    assert created["source"] == {"component": "kubelet", "host": "node-1"}
    assert created["reportingComponent"] == "kubelet" and created["reportingInstance"] == "node-1"
    assert created["metadata"]["name"].startswith("web-1.")
    assert sink.calls[1][1] == (created["metadata"]["name"], {"count": 2, "lastTimestamp": "2025-01-01T00:01:00Z"})
    node_event = sink.calls[2][1]
    assert node_event["metadata"]["namespace"] == "default"  # cluster-scoped objects' events live there
    assert node_event["type"] == "Warning"
    await rec.stop()


async def test_recorder_recreates_a_deleted_event_and_survives_failures():
    clock = FakeClock()
    sink = EventSink()
    rec = EventRecorder(sink, "controller", clock=clock)  # type: ignore[arg-type]
    rec.event(POD, "Normal", "Created", "created pod")
    await rec.flush()
    sink.stored.clear()  # someone deleted the Event
    rec.event(POD, "Normal", "Created", "created pod")
    await rec.flush()
    assert [c[0] for c in sink.calls] == ["create", "patch", "create"]
    assert sink.calls[2][1]["count"] == 2
    sink.fail_next.append(ApiError({"code": 403, "reason": "Forbidden", "message": "no"}))
    rec.event(POD, "Warning", "Failed", "x")  # must not raise, must not kill the writer
    await rec.flush()
    rec.event(POD, "Warning", "Failed", "y")
    await rec.flush()
    assert sink.calls[-1][1]["message"] == "y"
    await rec.stop()


async def test_recorder_never_blocks_and_drops_when_full():
    rec = EventRecorder(EventSink(), "c", clock=FakeClock(), queue_size=2)  # type: ignore[arg-type]
    for i in range(5):
        rec.event(POD, "Normal", "R", str(i))  # no await: the writer has not run yet
    assert rec._queue.qsize() == 2
    await rec.stop()
    with pytest.raises(ValueError):
        rec.event(POD, "Info", "R", "bad type")
    await asyncio.sleep(0)


async def test_recorder_logs_a_flood_of_drops_once_per_interval(caplog):
    clock = FakeClock()
    rec = EventRecorder(EventSink(), "c", clock=clock, queue_size=1)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="navarch.machinery.events"):
        for i in range(50):
            rec.event(POD, "Normal", "R", str(i))
        clock.advance(11)
        rec.event({"kind": "Pod", "name": "ref-only", "namespace": "ns"}, "Normal", "R", "late")
    drops = [r.getMessage() for r in caplog.records if "dropping event" in r.getMessage()]
    assert drops == ["event queue full, dropping event Normal R on web-1: 1 (1 dropped so far)",
                     "event queue full, dropping event Normal R on ref-only: late (50 dropped so far)"]
    await rec.stop()


class SlowSink(EventSink):
    """Each write waits for ``release``; counts how many writes are outstanding at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.outstanding = 0
        self.peak = 0

    async def _slow(self) -> None:
        self.outstanding += 1
        self.peak = max(self.peak, self.outstanding)
        try:
            await self.release.wait()
        finally:
            self.outstanding -= 1

    async def create(self, res: str, body: dict, namespace: str | None = None) -> dict:
        await self._slow()
        return await super().create(res, body, namespace)

    async def patch(self, res: str, name: str, body: dict, patch_type: str, namespace: str | None = None) -> dict:
        await self._slow()
        return await super().patch(res, name, body, patch_type, namespace)


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_recorder_writes_concurrently_up_to_its_bound():
    sink = SlowSink()
    rec = EventRecorder(sink, "scheduler", clock=FakeClock(), max_in_flight=3)  # type: ignore[arg-type]
    for i in range(5):
        rec.event(POD, "Normal", "Scheduled", f"assigned to node-{i}")  # five different events
    await _settle()
    assert sink.outstanding == 3  # three writes started at once, the other two wait for a slot
    sink.release.set()
    await rec.flush()
    assert sink.peak == 3
    assert sorted(c[1]["message"] for c in sink.calls) == [f"assigned to node-{i}" for i in range(5)]
    await rec.stop()


async def test_recorder_writes_one_at_a_time_by_default():
    sink = SlowSink()
    rec = EventRecorder(sink, "scheduler", clock=FakeClock())  # type: ignore[arg-type]
    for i in range(3):
        rec.event(POD, "Normal", "Scheduled", f"assigned to node-{i}")
    await _settle()
    assert sink.outstanding == 1  # as client-go's broadcaster: one write, the others queued
    sink.release.set()
    await rec.flush()
    assert sink.peak == 1 and len(sink.calls) == 3
    await rec.stop()


async def test_recorder_keeps_repeats_of_one_event_in_order_while_others_proceed():
    sink = SlowSink()
    clock = FakeClock()
    rec = EventRecorder(sink, "kubelet", clock=clock, max_in_flight=4)  # type: ignore[arg-type]
    rec.event(POD, "Normal", "Pulled", "image pulled")
    rec.event(POD, "Normal", "Pulled", "image pulled")  # a repeat: must wait for the first one's create
    rec.event(NODE, "Normal", "Ready", "node ready")
    await _settle()
    assert sink.outstanding == 2  # the first Pulled and the node event; the repeat waits its turn
    sink.release.set()
    await rec.flush()
    pulled = [c for c in sink.calls if c[0] == "patch" or c[1]["reason"] == "Pulled"]
    assert [c[0] for c in pulled] == ["create", "patch"]
    assert pulled[1][1] == (pulled[0][1]["metadata"]["name"], {"count": 2, "lastTimestamp": "2025-01-01T00:00:00Z"})
    await rec.stop()


async def test_recorder_stop_cancels_writes_that_do_not_finish():
    sink = SlowSink()
    rec = EventRecorder(sink, "c", clock=FakeClock())  # type: ignore[arg-type]
    rec.event(POD, "Normal", "R", "never acknowledged")
    await _settle()
    await rec.stop(timeout=0.01)
    assert sink.outstanding == 0 and not rec._writes


async def test_recorder_rate_limits_writes_with_a_token_bucket():
    clock = FakeClock()
    sink = EventSink()
    rec = EventRecorder(sink, "kubelet", "node-1", clock=clock, qps=2, burst=3)  # type: ignore[arg-type]
    for i in range(6):
        rec.event({**POD, "metadata": {**POD["metadata"], "name": f"p{i}"}}, "Normal", "Started", "started")
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sink.calls) == 3  # the burst, then the writer waits for tokens
    clock.advance(0.5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(sink.calls) == 4  # one token every 1/qps seconds
    clock.advance(1.0)
    await rec.flush()
    assert len(sink.calls) == 6
    await rec.stop()

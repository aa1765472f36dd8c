"""When the TTL-after-finished controller deletes a Job."""

from datetime import UTC, datetime

from navarch.controllers import ttlafterfinished as ttl
from navarch.controllers.ttlafterfinished import TTLAfterFinishedController
from navarch.machinery.clock import FakeClock
from tests.unit.controllers.workload_fakes import make_context

FINISHED = "2025-01-01T10:00:00Z"


def job(ttl_seconds=60, condition="Complete"):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "ns", "uid": "uid-pi"},
            "spec": {"ttlSecondsAfterFinished": ttl_seconds},
            "status": {"conditions": [{"type": condition, "status": "True", "lastTransitionTime": FINISHED}]}}


def test_time_left():
    at = datetime(2025, 1, 1, 10, 0, 20, tzinfo=UTC)
    assert ttl.time_left(job(), at) == 40
    assert ttl.time_left(job(condition="Failed"), at) == 40
    assert ttl.time_left(job(ttl_seconds=None), at) is None
    assert ttl.time_left(job(condition="SuccessCriteriaMet"), at) is None


async def test_deletes_in_foreground_once_due():
    clock = FakeClock(datetime(2025, 1, 1, 10, 0, 30, tzinfo=UTC))
    ctx, client, _ = make_context(clock)
    ctrl = TTLAfterFinishedController(ctx)
    ctx.factory.informer("batch/v1/jobs").indexer.add(job())
    client.objects[("jobs", "ns", "pi")] = job()
    await ctrl.sync("ns/pi")
    assert client.writes("delete", "jobs") == []
    assert clock.next_deadline() == 30
    clock.advance(30)
    await ctrl.sync("ns/pi")
    [(name, options)] = client.writes("delete", "jobs")
    assert name == "pi" and options["propagation_policy"] == "Foreground"
    assert options["preconditions"] == {"uid": "uid-pi"}

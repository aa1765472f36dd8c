"""Schedule arithmetic of the CronJob controller, and one sync on fake time."""

from datetime import UTC, datetime

import pytest

from navarch.controllers import cronjob


def t(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC) if "+" not in s else datetime.fromisoformat(s)


@pytest.mark.parametrize("schedule,zone,after,want", [
    ("*/1 * * * *", None, "2025-01-01T10:00:30", "2025-01-01T10:01:00+00:00"),
    ("@hourly", None, "2025-01-01T10:00:00", "2025-01-01T11:00:00+00:00"),
    ("@daily", None, "2025-01-01T10:00:00", "2025-01-02T00:00:00+00:00"),
    # 09:00 in New York is 14:00 UTC in winter, 13:00 UTC in summer.
    ("0 9 * * *", "America/New_York", "2025-01-01T00:00:00", "2025-01-01T14:00:00+00:00"),
    ("0 9 * * *", "America/New_York", "2025-07-01T00:00:00", "2025-07-01T13:00:00+00:00"),
    # Berlin moves to summer time overnight: 09:00 is 08:00 UTC on Saturday, 07:00 UTC on Sunday.
    ("0 9 * * *", "Europe/Berlin", "2025-03-29T08:30:00", "2025-03-30T07:00:00+00:00"),
    ("CRON_TZ=Asia/Tokyo 0 0 * * *", None, "2025-01-01T00:00:00", "2025-01-01T15:00:00+00:00"),
], ids=["every-minute", "hourly", "daily", "tz-winter", "tz-summer", "dst-switch", "cron-tz-prefix"])
def test_next_time(schedule, zone, after, want):
    expr, tz = cronjob.parse_schedule(schedule, zone)
    assert cronjob.next_time(expr, tz, t(after)) == datetime.fromisoformat(want)


@pytest.mark.parametrize("schedule,zone", [("bad schedule", None), ("* * * *", None), ("* * * * *", "Mars/Base")],
                         ids=["words", "four-fields", "unknown-zone"])
def test_parse_schedule_rejects(schedule, zone):
    with pytest.raises(cronjob.ScheduleError):
        cronjob.parse_schedule(schedule, zone)


def test_most_recent_time_counts_missed_runs():
    expr, tz = cronjob.parse_schedule("*/5 * * * *", None)
    latest, missed = cronjob.most_recent_time(expr, tz, t("2025-01-01T10:00:00"), t("2025-01-01T10:17:00"))
    assert latest == t("2025-01-01T10:15:00") and missed == 3
    latest, missed = cronjob.most_recent_time(expr, tz, t("2025-01-01T10:00:00"), t("2025-01-01T10:04:59"))
    assert latest is None and missed == 0
    # A time exactly now is due.
    latest, _ = cronjob.most_recent_time(expr, tz, t("2025-01-01T10:00:00"), t("2025-01-01T10:05:00"))
    assert latest == t("2025-01-01T10:05:00")
    _, missed = cronjob.most_recent_time(expr, tz, t("2024-01-01T00:00:00"), t("2025-01-01T00:00:00"))
    assert missed > cronjob.MAX_MISSED


def test_job_name_and_annotation_in_zone():
    cj = {"metadata": {"name": "nightly", "namespace": "ns", "uid": "u1"},
          "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {}}}}}
    scheduled = t("2025-01-01T14:00:00")
    _, tz = cronjob.parse_schedule("0 9 * * *", "America/New_York")
    job = cronjob.new_job(cj, scheduled, tz)
    assert job["metadata"]["name"] == f"nightly-{int(scheduled.timestamp()) // 60}"
    assert job["metadata"]["annotations"][cronjob.SCHEDULED_TIMESTAMP] == "2025-01-01T09:00:00-05:00"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["labels"] == {"a": "b"}


def test_jobs_to_prune_keeps_newest():
    def job(name, kind, start):
        return {"metadata": {"name": name}, "status": {"startTime": start,
                                                      "conditions": [{"type": kind, "status": "True"}]}}
    jobs = [job("a", "Complete", "2025-01-01T00:00:00Z"), job("b", "Complete", "2025-01-01T00:02:00Z"),
            job("c", "Complete", "2025-01-01T00:01:00Z"), job("d", "Failed", "2025-01-01T00:00:00Z"),
            {"metadata": {"name": "running"}, "status": {}}]
    pruned = [j["metadata"]["name"] for j in cronjob.jobs_to_prune(jobs, 1, 0)]
    assert pruned == ["a", "c", "d"]


# ---- sync on fake time -----------------------------------------------------------------------

from navarch.controllers.cronjob import CronJobController
from navarch.machinery.clock import FakeClock
from tests.unit.controllers.workload_fakes import make_context


def make_cronjob(**spec):
    base = {"schedule": "*/1 * * * *", "concurrencyPolicy": "Allow", "suspend": False,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                           "restartPolicy": "Never"}}}}}
    base.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "ns", "uid": "cj-uid", "resourceVersion": "1",
                         "creationTimestamp": "2025-01-01T10:00:00Z"},
            "spec": base, "status": {}}


async def test_sync_creates_job_when_due_and_requeues_for_next_time():
    clock = FakeClock(datetime(2025, 1, 1, 10, 0, 30, tzinfo=UTC))
    ctx, client, events = make_context(clock)
    ctrl = CronJobController(ctx)
    cj = make_cronjob()
    ctx.factory.informer("batch/v1/cronjobs").indexer.add(cj)

    await ctrl.sync("ns/tick")
    assert client.writes("create", "jobs") == []
    assert clock.next_deadline() == pytest.approx(30.1)

    clock.advance(30.1)
    assert len(ctrl.queue) == 1
    await ctrl.sync("ns/tick")
    created = client.writes("create", "jobs")
    scheduled = datetime(2025, 1, 1, 10, 1, tzinfo=UTC)
    assert [name for name, _ in created] == [f"tick-{int(scheduled.timestamp()) // 60}"]
    assert created[0][1]["metadata"]["annotations"][cronjob.SCHEDULED_TIMESTAMP] == "2025-01-01T10:01:00Z"
    (_, status_patch), = client.writes("patch/status", "cronjobs")
    assert status_patch["status"]["lastScheduleTime"] == "2025-01-01T10:01:00Z"
    assert status_patch["status"]["active"][0]["name"] == created[0][0]
    assert "SuccessfulCreate" in events.reasons()


async def test_forbid_skips_while_a_job_runs_and_replace_deletes_it():
    clock = FakeClock(datetime(2025, 1, 1, 10, 2, 5, tzinfo=UTC))
    running = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "tick-1", "namespace": "ns", "uid": "job-uid",
                            "ownerReferences": [{"kind": "CronJob", "name": "tick", "uid": "cj-uid",
                                                 "controller": True}]}, "status": {}}
    for policy, created, deleted in (("Forbid", 0, 0), ("Replace", 1, 1), ("Allow", 1, 0)):
        ctx, client, events = make_context(clock)
        ctrl = CronJobController(ctx)
        cj = make_cronjob(concurrencyPolicy=policy)
        cj["status"] = {"lastScheduleTime": "2025-01-01T10:01:00Z",
                        "active": [{"kind": "Job", "name": "tick-1", "namespace": "ns", "uid": "job-uid"}]}
        ctx.factory.informer("batch/v1/cronjobs").indexer.add(cj)
        ctx.factory.informer("batch/v1/jobs").indexer.add(running)
        await ctrl.sync("ns/tick")
        assert len(client.writes("create", "jobs")) == created, policy
        assert len(client.writes("delete", "jobs")) == deleted, policy
        if policy == "Forbid":
            assert "JobAlreadyActive" in events.reasons()


async def test_starting_deadline_skips_a_late_run():
    clock = FakeClock(datetime(2025, 1, 1, 10, 0, 50, tzinfo=UTC))
    ctx, client, _ = make_context(clock)
    ctrl = CronJobController(ctx)
    cj = make_cronjob(schedule="0 * * * *", startingDeadlineSeconds=10)
    cj["metadata"]["creationTimestamp"] = "2025-01-01T09:30:00Z"
    ctx.factory.informer("batch/v1/cronjobs").indexer.add(cj)
    await ctrl.sync("ns/tick")
    assert client.writes("create", "jobs") == []  # 10:00 was 50 s ago, past the 10 s deadline
    cj["spec"]["startingDeadlineSeconds"] = 60
    await ctrl.sync("ns/tick")
    assert len(client.writes("create", "jobs")) == 1


async def test_suspended_cronjob_creates_nothing():
    clock = FakeClock(datetime(2025, 1, 1, 10, 5, 0, tzinfo=UTC))
    ctx, client, _ = make_context(clock)
    ctrl = CronJobController(ctx)
    ctx.factory.informer("batch/v1/cronjobs").indexer.add(make_cronjob(suspend=True))
    await ctrl.sync("ns/tick")
    assert client.writes("create", "jobs") == []

"""The CronJob controller: create a Job at each scheduled time.

As upstream's ``pkg/controller/cronjob`` (the v2 controller):
- schedules are standard 5-field cron or the ``@hourly``/``@daily``/... macros, evaluated in
  ``spec.timeZone`` (or UTC), by ``croniter``;
- each sync looks for the most recent schedule time after the last one acted on (or the CronJob's
  creation) and not older than ``startingDeadlineSeconds``; more than 100 missed times are reported;
- the Job is named ``<cronjob>-<scheduled time in minutes since the epoch>`` (so two controllers, or a
  restart, cannot start the same run twice) and annotated ``batch.kubernetes.io/cronjob-scheduled-timestamp``;
- ``concurrencyPolicy`` Allow, Forbid (skip while one runs) or Replace (delete the running ones);
- finished Jobs beyond the history limits are deleted, oldest first; the key is re-queued for the
  next schedule time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from navarch.client.errors import is_already_exists, is_not_found
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.indexer import OWNER_INDEX

KIND, API_VERSION = "CronJob", "batch/v1"
CRONJOBS, JOBS = "batch/v1/cronjobs", "batch/v1/jobs"
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MAX_MISSED = 100
# Upstream wakes a little after the schedule time so that "now" is surely past it.
NEXT_SCHEDULE_DELTA = 0.1

Obj = Mapping[str, Any]


class ScheduleError(ValueError):
    pass


def parse_schedule(schedule: str, time_zone: str | None) -> tuple[str, ZoneInfo | timezone]:
    """(cron expression, zone). A ``CRON_TZ=``/``TZ=`` prefix in the schedule is honoured like
    robfig/cron does; ``timeZone`` wins when both are given."""
    expr = schedule.strip()
    zone_name = None
    for prefix in ("CRON_TZ=", "TZ="):
        if expr.startswith(prefix):
            zone_name, _, expr = expr[len(prefix):].partition(" ")
            expr = expr.strip()
    if time_zone:
        zone_name = time_zone
    tz: ZoneInfo | timezone = UTC
    if zone_name and zone_name != "UTC":
        try:
            tz = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ScheduleError(f"invalid timeZone: {zone_name!r}: {e}") from None
    if not croniter.is_valid(expr) or len(expr.split()) not in (1, 5):
        raise ScheduleError(f"unparseable schedule: {schedule!r}")
    return expr, tz


def next_time(expr: str, tz: ZoneInfo | timezone, after: datetime) -> datetime:
    """The first schedule time strictly after ``after`` (UTC-aware result)."""
    return croniter(expr, after.astimezone(tz)).get_next(datetime).astimezone(UTC)


def most_recent_time(expr: str, tz: ZoneInfo | timezone, earliest: datetime,
                     now: datetime) -> tuple[datetime | None, int]:
    """(the latest schedule time in (earliest, now], how many times fell in that span, capped just
    above ``MAX_MISSED``) — upstream mostRecentScheduleTime."""
    first = next_time(expr, tz, earliest)
    if first > now:
        return None, 0
    # Schedules are minute-grained: a second past ``now`` makes a time equal to ``now`` count.
    start = now.astimezone(tz).replace(microsecond=0) + timedelta(seconds=1)
    latest = croniter(expr, start).get_prev(datetime).astimezone(UTC)
    missed, t = 1, first
    while missed <= MAX_MISSED:
        t = next_time(expr, tz, t)
        if t > now:
            break
        missed += 1
    return latest, missed


def job_name(cronjob_name: str, scheduled: datetime) -> str:
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def new_job(cj: Obj, scheduled: datetime, tz: ZoneInfo | timezone) -> dict[str, Any]:
    cmeta = wl.meta(cj)
    tpl = copy.deepcopy(dict(wl.spec(cj).get("jobTemplate") or {}))
    tmeta = tpl.get("metadata") or {}
    annotations = {**(tmeta.get("annotations") or {}),
                   SCHEDULED_TIMESTAMP: scheduled.astimezone(tz).isoformat().replace("+00:00", "Z")}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": job_name(cmeta["name"], scheduled), "namespace": cmeta["namespace"],
                         "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                         "ownerReferences": [controllerref.new_controller_ref(cj, KIND, API_VERSION)]},
            "spec": tpl.get("spec") or {}}


def finished_condition(job: Obj) -> str | None:
    for c in wl.status(job).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


def job_ref(job: Obj) -> dict[str, Any]:
    m = wl.meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": m["name"], "namespace": m["namespace"],
            "uid": m["uid"], "resourceVersion": m.get("resourceVersion", "")}


def jobs_to_prune(jobs: list[Obj], successful_limit: int | None, failed_limit: int | None) -> list[Obj]:
    """Finished jobs beyond the history limits, oldest (by start time) first."""
    out: list[Obj] = []
    for kind, limit in (("Complete", successful_limit), ("Failed", failed_limit)):
        if limit is None:
            continue
        done = [j for j in jobs if finished_condition(j) == kind]
        done.sort(key=lambda j: wl.status(j).get("startTime") or "")
        out += done[:max(len(done) - limit, 0)]
    return out


class CronJobController(QueueController):
    name: ClassVar[str] = "cronjob"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.cronjobs = self.factory.lister(CRONJOBS)
        self.jobs = self.factory.lister(JOBS)
        self.factory.informer(CRONJOBS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))
        self.factory.informer(JOBS).add_event_handler(self._job_changed, lambda old, new: self._job_changed(new),
                                                      self._job_changed)

    def _job_changed(self, obj: Any) -> None:
        key = wl.controller_key(final_state(obj), KIND)
        if key is not None:
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        cj = self.cronjobs.get(ns, name)
        if cj is None:
            return
        now = self.clock.now()
        children = [j for j in self.jobs.by_index(OWNER_INDEX, wl.meta(cj)["uid"])
                    if controllerref.is_controlled_by(j, cj)]
        st = dict(wl.status(cj))
        active = [dict(r) for r in st.get("active") or []]
        last_success = st.get("lastSuccessfulTime")
        by_uid = {wl.meta(j)["uid"]: j for j in children}
        for job in children:
            uid = wl.meta(job)["uid"]
            found = any(r.get("uid") == uid for r in active)
            done = finished_condition(job)
            if not found and not done:
                self.recorder.event(cj, WARNING, "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {wl.meta(job)['name']}")
            elif found and done:
                active = [r for r in active if r.get("uid") != uid]
                self.recorder.event(cj, NORMAL, "SawCompletedJob",
                                    f"Saw completed job: {wl.meta(job)['name']}, condition: {done}")
            if done == "Complete":
                completed_at = wl.parse_time(wl.status(job).get("completionTime"))
                previous = wl.parse_time(last_success)
                if completed_at is not None and (previous is None or completed_at > previous):
                    last_success = wl.status(job)["completionTime"]
        for ref in list(active):
            if ref.get("uid") in by_uid:
                continue
            try:
                await self.client.get(JOBS, ref["name"], ns)
            except Exception as e:
                if not is_not_found(e):
                    raise
                active = [r for r in active if r.get("uid") != ref.get("uid")]
        await self._prune(cj, children)
        st["active"] = active
        st["lastSuccessfulTime"] = last_success
        try:
            await self._schedule(key, cj, st, now)
        finally:
            await self._write_status(cj, st)

    async def _schedule(self, key: str, cj: Obj, st: dict[str, Any], now: datetime) -> None:
        cspec = wl.spec(cj)
        cmeta = wl.meta(cj)
        if wl.is_terminating(cj):
            return
        try:
            expr, tz = parse_schedule(str(cspec.get("schedule") or ""), cspec.get("timeZone"))
        except ScheduleError as e:
            reason = "UnknownTimeZone" if "timeZone" in str(e) else "UnparseableSchedule"
            self.recorder.event(cj, WARNING, reason, str(e))
            return
        if cspec.get("suspend"):
            return
        earliest = wl.parse_time(st.get("lastScheduleTime")) or wl.parse_time(cmeta.get("creationTimestamp")) or now
        deadline = cspec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - timedelta(seconds=int(deadline)))
        scheduled, missed = most_recent_time(expr, tz, earliest, now)
        self.queue.add_after(key, (next_time(expr, tz, now) - now).total_seconds() + NEXT_SCHEDULE_DELTA)
        if scheduled is None:
            return
        if missed > MAX_MISSED:
            self.recorder.event(cj, WARNING, "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            self.recorder.event(cj, WARNING, "MissSchedule",
                                f"Missed scheduled time to start a job: {scheduled.isoformat()}")
            return
        name = job_name(cmeta["name"], scheduled)
        if any(r.get("name") == name for r in st["active"]) or \
                wl.parse_time(st.get("lastScheduleTime")) == scheduled:
            return
        policy = cspec.get("concurrencyPolicy", "Allow")
        if policy == "Forbid" and st["active"]:
            self.recorder.event(cj, NORMAL, "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return
        if policy == "Replace":
            for ref in list(st["active"]):
                try:
                    await self.client.delete(JOBS, ref["name"], cmeta["namespace"], propagation_policy="Background")
                except Exception as e:
                    if not is_not_found(e):
                        self.recorder.event(cj, WARNING, "FailedDelete", f"Deleted job: {e}")
                        raise
                st["active"] = [r for r in st["active"] if r.get("uid") != ref.get("uid")]
                self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {ref['name']}")
        try:
            job = await self.client.create(JOBS, new_job(cj, scheduled, tz), cmeta["namespace"])
        except Exception as e:
            if not is_already_exists(e):
                self.recorder.event(cj, WARNING, "FailedCreate", f"Error creating job: {e}")
                raise
            job = await self.client.get(JOBS, name, cmeta["namespace"])
            if not controllerref.is_controlled_by(job, cj) or finished_condition(job):
                # Someone else's job holds the name, or this run already finished: do not run it again.
                st["lastScheduleTime"] = wl.timestamp(scheduled)
                return
        else:
            self.log.info("created job %s/%s for %s", cmeta["namespace"], name, scheduled.isoformat())
            self.recorder.event(cj, NORMAL, "SuccessfulCreate", f"Created job {name}")
        if not any(r.get("uid") == wl.meta(job)["uid"] for r in st["active"]):
            st["active"].append(job_ref(job))
        st["lastScheduleTime"] = wl.timestamp(scheduled)

    async def _prune(self, cj: Obj, children: list[Obj]) -> None:
        cspec = wl.spec(cj)
        for job in jobs_to_prune(children, cspec.get("successfulJobsHistoryLimit"), cspec.get("failedJobsHistoryLimit")):
            try:
                await self.client.delete(JOBS, wl.meta(job)["name"], wl.meta(job)["namespace"],
                                         propagation_policy="Background")
            except Exception as e:
                if not is_not_found(e):
                    raise
                continue
            self.recorder.event(cj, NORMAL, "SuccessfulDelete", f"Deleted job {wl.meta(job)['name']}")

    async def _write_status(self, cj: Obj, st: dict[str, Any]) -> None:
        old = wl.status(cj)
        patch = {k: st.get(k) for k in ("active", "lastScheduleTime", "lastSuccessfulTime")}
        if not patch["active"]:
            patch["active"] = None
        if all(old.get(k) == v for k, v in patch.items()):
            return
        try:
            await self.client.patch(CRONJOBS, wl.meta(cj)["name"], {"status": patch}, "merge",
                                    wl.meta(cj)["namespace"], "status")
        except Exception as e:
            if not is_not_found(e):
                raise

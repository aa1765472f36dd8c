"""The Job controller: run pods until enough succeed, or give up.

Behaviour follows upstream's ``pkg/controller/job`` (1.33):
- pods carry the ``batch.kubernetes.io/job-tracking`` finalizer; a finished pod is first recorded in
  ``status.uncountedTerminatedPods`` (Indexed successes go straight to ``completedIndexes``), then its
  finalizer is removed, then it is moved into ``succeeded``/``failed``. A crash between any two steps
  neither loses nor double-counts a pod; a deleted unfinished pod counts as failed;
- ``parallelism``/``completions`` bound the active pods; NonIndexed counts successes, Indexed tracks
  which indexes succeeded (pods labelled and annotated ``batch.kubernetes.io/job-completion-index``);
- failures beyond ``backoffLimit`` or a run beyond ``activeDeadlineSeconds`` add ``FailureTarget``;
  enough successes add ``SuccessCriteriaMet``; remaining pods are removed, and once none is left the
  terminal ``Failed``/``Complete`` condition follows;
- after a failure, re-creation waits 10 s doubling per consecutive failure, capped at 6 minutes;
- ``suspend`` deletes active pods and sets the ``Suspended`` condition; resuming resets ``startTime``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from navarch.client.errors import is_conflict, is_invalid, is_not_found
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery import controllerref
from navarch.machinery.cache import final_state, split_key
from navarch.machinery.events import NORMAL, WARNING
from navarch.machinery.expectations import (
    ControllerExpectations,
    UIDTrackingExpectations,
)
from navarch.machinery.indexer import OWNER_INDEX

KIND, API_VERSION = "Job", "batch/v1"
JOBS, PODS = "batch/v1/jobs", "v1/pods"
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE, BACKOFF_MAX = 10.0, 360.0
# Pods created per sync grow 1, 2, 4, ... (upstream slow start), so a broken template fails cheaply.
SLOW_START_INITIAL = 1
MAX_BATCH = 500
# How long a sync waits for the cache to show the controller's own status write before trusting it.
CACHE_WAIT = 30.0

COMPLETE, FAILED, SUCCESS_CRITERIA_MET, FAILURE_TARGET, SUSPENDED = \
    "Complete", "Failed", "SuccessCriteriaMet", "FailureTarget", "Suspended"
BACKOFF_LIMIT_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")

Obj = Mapping[str, Any]


# ---- pure helpers -----------------------------------------------------------------------------

def backoff_delay(failures: int) -> float:
    """Seconds to wait before re-creating pods after ``failures`` consecutive failures."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)


def parse_indexes(text: str | None) -> set[int]:
    """``"1,3-5"`` into ``{1, 3, 4, 5}`` (the completedIndexes format)."""
    out: set[int] = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        out.update(range(int(lo), int(hi) + 1) if sep else (int(lo),))
    return out


def format_indexes(indexes: set[int]) -> str:
    """Sorted, with runs of two or more consecutive indexes written as ranges."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def is_finished(job: Obj) -> bool:
    return wl.has_true_condition(job, COMPLETE) or wl.has_true_condition(job, FAILED)


def pod_failed(pod: Obj) -> bool:
    """Failed, or deleted before finishing (orphans never get to report Failed), as upstream counts."""
    if wl.phase(pod) == wl.FAILED:
        return True
    return wl.is_terminating(pod) and wl.phase(pod) != wl.SUCCEEDED


def pod_index(pod: Obj) -> int | None:
    m = wl.meta(pod)
    raw = (m.get("annotations") or {}).get(COMPLETION_INDEX) or (m.get("labels") or {}).get(COMPLETION_INDEX)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def has_tracking_finalizer(pod: Obj) -> bool:
    return TRACKING_FINALIZER in (wl.meta(pod).get("finalizers") or [])


def want_active(job: Obj, succeeded: int) -> int:
    """How many pods should be running now (NonIndexed)."""
    jspec = wl.spec(job)
    parallelism = int(jspec.get("parallelism", 1))
    completions = jspec.get("completions")
    if completions is None:
        # A work queue: once one pod succeeded, no new ones start.
        return 0 if succeeded > 0 else parallelism
    return max(min(int(completions) - succeeded, parallelism), 0)


def pending_indexes(completions: int, completed: set[int], active: set[int]) -> list[int]:
    return [i for i in range(completions) if i not in completed and i not in active]


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Pods to delete first: unscheduled, then pending, then not ready, then the newest
    (upstream's ActivePods ordering, reversed for deletion)."""
    def rank(p: Obj) -> tuple[Any, ...]:
        created = wl.meta(p).get("creationTimestamp") or ""
        return (bool(wl.spec(p).get("nodeName")), wl.phase(p) == wl.RUNNING, wl.is_pod_ready(p),
                _neg(created))
    return sorted(pods, key=rank)


def _older(rv: str, than: str) -> bool:
    """Whether resourceVersion ``rv`` predates ``than``. navarch's (like etcd's) are revisions;
    anything else is compared for equality only."""
    if rv.isdigit() and than.isdigit():
        return int(rv) < int(than)
    return rv != than


def _neg(ts: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in ts)


@dataclass
class Verdict:
    """What the conditions say next: the interim condition to add and whether to finish now."""

    condition: str | None = None   # FailureTarget or SuccessCriteriaMet
    reason: str = ""
    message: str = ""


def judge(job: Obj, succeeded: int, failed: int, completed: set[int], active: int, now: datetime) -> Verdict:
    """Whether the job has failed or succeeded (upstream's order: failure first)."""
    for kind, (reason, message) in ((FAILURE_TARGET, BACKOFF_LIMIT_EXCEEDED), (FAILURE_TARGET, DEADLINE_EXCEEDED),
                                    (SUCCESS_CRITERIA_MET, COMPLETIONS_REACHED)):
        c = wl.condition(job, kind)
        if c is not None and c.get("status") == "True":
            return Verdict(kind, str(c.get("reason") or reason), str(c.get("message") or message))
    jspec = wl.spec(job)
    if failed > int(jspec.get("backoffLimit", 6)):
        return Verdict(FAILURE_TARGET, *BACKOFF_LIMIT_EXCEEDED)
    deadline = jspec.get("activeDeadlineSeconds")
    start = wl.parse_time(wl.status(job).get("startTime"))
    if deadline is not None and start is not None and not jspec.get("suspend") \
            and (now - start).total_seconds() >= int(deadline):
        return Verdict(FAILURE_TARGET, *DEADLINE_EXCEEDED)
    completions = jspec.get("completions")
    if jspec.get("completionMode") == "Indexed":
        if completions is not None and len(completed) >= int(completions):
            return Verdict(SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
    elif completions is not None:
        if succeeded >= int(completions):
            return Verdict(SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
    elif succeeded > 0 and active == 0:
        return Verdict(SUCCESS_CRITERIA_MET, *COMPLETIONS_REACHED)
    return Verdict()


def new_job_pod(job: Obj, index: int | None = None) -> dict[str, Any]:
    jmeta = wl.meta(job)
    template = copy.deepcopy(dict(wl.spec(job).get("template") or {}))
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    generate = f"{jmeta['name']}-"
    if index is not None:
        labels[COMPLETION_INDEX] = annotations[COMPLETION_INDEX] = str(index)
        generate = f"{jmeta['name']}-{index}-"
    pod = wl.pod_from_template(template, jmeta["namespace"], controllerref.new_controller_ref(job, KIND, API_VERSION),
                               generate_name=generate, extra_labels=labels, extra_annotations=annotations,
                               finalizers=[TRACKING_FINALIZER])
    if index is not None:
        pspec = pod["spec"]
        if not pspec.get("hostname"):
            pspec["hostname"] = f"{jmeta['name']}-{index}"
        env = {"name": COMPLETION_INDEX_ENV, "valueFrom": {"fieldRef": {
            "fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}
        for group in ("containers", "initContainers"):
            for c in pspec.get(group) or []:
                if not any(e.get("name") == COMPLETION_INDEX_ENV for e in c.get("env") or []):
                    c["env"] = list(c.get("env") or []) + [dict(env)]
    return pod


# ---- the controller ---------------------------------------------------------------------------

@dataclass
class _Backoff:
    failures: int = 0
    last_failure: float = 0.0  # monotonic


class JobController(QueueController):
    name: ClassVar[str] = "job"
    workers: ClassVar[int] = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.factory.lister(JOBS)
        self.pods = self.factory.lister(PODS)
        self.expectations = UIDTrackingExpectations(ControllerExpectations(self.clock))
        # Pods whose finalizer this controller removed but whose update the cache has not shown yet:
        # they are counted already and must not be counted twice (upstream finalizerExpectations).
        self._finalizers_removed: dict[str, set[str]] = {}
        self._backoff: dict[str, _Backoff] = {}
        # Job key -> (resourceVersion of our last status write, when): until the cache shows that
        # write, its counters are stale and a sync would count (and create) from old numbers.
        self._written: dict[str, tuple[str, float]] = {}
        self.factory.informer(JOBS).add_event_handler(self._job_seen, lambda old, new: self._job_seen(new),
                                                      self._job_deleted)
        self.factory.informer(PODS).add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # ---- handlers ----

    def _job_seen(self, job: Obj) -> None:
        key = f"{wl.meta(job).get('namespace')}/{wl.meta(job).get('name')}"
        written = self._written.get(key)
        if written is not None and not _older(str(wl.meta(job).get("resourceVersion") or ""), written[0]):
            del self._written[key]
        self.queue.add(key)

    def _cache_caught_up(self, key: str, job: Obj) -> bool:
        written = self._written.get(key)
        if written is None:
            return True
        if self.clock.monotonic() - written[1] > CACHE_WAIT:
            del self._written[key]  # an event was lost (relist folded it): trust the cache again
            return True
        return not _older(str(wl.meta(job).get("resourceVersion") or ""), written[0])

    def _job_deleted(self, obj: Any) -> None:
        job = final_state(obj)
        key = f"{wl.meta(job).get('namespace')}/{wl.meta(job).get('name')}"
        self.expectations.delete_expectations(key)
        self._finalizers_removed.pop(key, None)
        self._backoff.pop(key, None)
        self._written.pop(key, None)

    def _pod_added(self, pod: Obj) -> None:
        key = wl.observe_added_pod(self.expectations, pod, KIND)
        if key is None:
            return
        self._seen_finalizer_state(key, pod)
        self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = wl.controller_key(new, KIND)
        if key is None:
            return
        if wl.is_terminating(new):
            self.expectations.deletion_observed(key, wl.meta(new).get("uid", ""))
        self._seen_finalizer_state(key, new)
        self.queue.add(key)

    def _pod_deleted(self, obj: Any) -> None:
        pod = final_state(obj)
        key = wl.controller_key(pod, KIND)
        if key is None:
            return
        uid = wl.meta(pod).get("uid", "")
        self.expectations.deletion_observed(key, uid)
        self._finalizers_removed.get(key, set()).discard(uid)
        self.queue.add(key)

    def _seen_finalizer_state(self, key: str, pod: Obj) -> None:
        if not has_tracking_finalizer(pod):
            self._finalizers_removed.get(key, set()).discard(wl.meta(pod).get("uid", ""))

    # ---- sync ----

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        job = self.jobs.get(ns, name)
        if job is None:
            return
        if not self._cache_caught_up(key, job):
            return  # the informer event for our own write re-queues the key
        pods = [p for p in self.pods.by_index(OWNER_INDEX, wl.meta(job)["uid"]) if controllerref.is_controlled_by(p, job)]
        if is_finished(job):
            await self._remove_finalizers(key, [p for p in pods if has_tracking_finalizer(p)])
            return
        now = self.clock.now()
        job = await self._account(key, job, pods)
        st = wl.status(job)
        uncounted = st.get("uncountedTerminatedPods") or {}
        indexed = wl.spec(job).get("completionMode") == "Indexed"
        completed = parse_indexes(st.get("completedIndexes")) if indexed else set()
        succeeded = int(st.get("succeeded") or 0) + len(uncounted.get("succeeded") or [])
        failed = int(st.get("failed") or 0) + len(uncounted.get("failed") or [])
        counted = self._finalizers_removed.get(key, set())
        active = [p for p in pods if wl.is_active(p) and wl.meta(p)["uid"] not in counted]
        terminating = [p for p in pods if wl.is_terminating(p) and not wl.is_terminal(p)]
        conditions = [dict(c) for c in st.get("conditions") or []]
        new_status: dict[str, Any] = {}
        suspended = bool(wl.spec(job).get("suspend"))
        verdict = judge(job, succeeded, failed, completed, len(active), now)
        if verdict.condition is not None:
            conditions = wl.set_condition(conditions, verdict.condition, "True", verdict.reason, verdict.message, now)
            if active:
                await self._delete_pods(key, job, active)
                active = []
            elif not (uncounted.get("succeeded") or uncounted.get("failed")) and \
                    not any(has_tracking_finalizer(p) and wl.meta(p)["uid"] not in counted for p in pods):
                final = FAILED if verdict.condition == FAILURE_TARGET else COMPLETE
                conditions = wl.set_condition(conditions, final, "True", verdict.reason, verdict.message, now)
                if final == COMPLETE:
                    new_status["completionTime"] = wl.timestamp(now)
                    self.recorder.event(job, NORMAL, "Completed", "Job completed")
                else:
                    self.recorder.event(job, WARNING, verdict.reason, verdict.message)
                self.log.info("job %s finished: %s (%s)", key, final, verdict.reason)
        elif suspended:
            if active:
                await self._delete_pods(key, job, active)
                active = []
            if not wl.has_true_condition(job, SUSPENDED):
                conditions = wl.set_condition(conditions, SUSPENDED, "True", "JobSuspended", "Job suspended", now)
                self.recorder.event(job, NORMAL, "Suspended", "Job suspended")
            new_status["startTime"] = None
        else:
            if wl.has_true_condition(job, SUSPENDED):
                conditions = wl.set_condition(conditions, SUSPENDED, "False", "JobResumed", "Job resumed", now)
                self.recorder.event(job, NORMAL, "Resumed", "Job resumed")
                new_status["startTime"] = wl.timestamp(now)
            elif not st.get("startTime"):
                new_status["startTime"] = wl.timestamp(now)
            if self.expectations.satisfied(key):
                busy = terminating if wl.spec(job).get("podReplacementPolicy") == "Failed" else []
                active = await self._manage(key, job, active, busy, succeeded, completed)
            deadline = wl.spec(job).get("activeDeadlineSeconds")
            start = wl.parse_time(new_status.get("startTime") or st.get("startTime"))
            if deadline is not None and start is not None:
                left = int(deadline) - (now - start).total_seconds()
                self.queue.add_after(key, max(left, 0.0) + 0.1)
        status = {**dict(st), **new_status, "active": len(active),
                  "ready": sum(1 for p in active if wl.is_pod_ready(p)),
                  "terminating": len(terminating), "succeeded": int(st.get("succeeded") or 0),
                  "failed": int(st.get("failed") or 0), "conditions": conditions or None}
        await self._write_status(job, status)

    async def _account(self, key: str, job: Obj, pods: list[Obj]) -> Obj:
        """Count finished pods exactly once: record them as uncounted, remove their finalizers,
        then move them into the counters. Returns the job as last written."""
        st = wl.status(job)
        uncounted = st.get("uncountedTerminatedPods") or {}
        unc_succ = list(uncounted.get("succeeded") or [])
        unc_fail = list(uncounted.get("failed") or [])
        indexed = wl.spec(job).get("completionMode") == "Indexed"
        completions = wl.spec(job).get("completions")
        completed = parse_indexes(st.get("completedIndexes"))
        counted = self._finalizers_removed.setdefault(key, set())
        finished: list[Obj] = []
        new_fail = 0
        changed = False
        for pod in pods:
            uid = wl.meta(pod)["uid"]
            if not has_tracking_finalizer(pod) or uid in counted:
                continue
            if wl.phase(pod) == wl.SUCCEEDED:
                finished.append(pod)
                if indexed:
                    idx = pod_index(pod)
                    if idx is not None and idx not in completed and (completions is None or idx < int(completions)):
                        completed.add(idx)
                        changed = True
                elif uid not in unc_succ:
                    unc_succ.append(uid)
                    changed = True
            elif pod_failed(pod):
                finished.append(pod)
                if uid not in unc_fail:
                    unc_fail.append(uid)
                    new_fail += 1
                    changed = True
        record = self._backoff.setdefault(key, _Backoff())
        if new_fail:
            record.failures += new_fail
            record.last_failure = self.clock.monotonic()
        elif any(wl.phase(p) == wl.SUCCEEDED for p in finished):
            record.failures = 0
        base = {**dict(st), "uncountedTerminatedPods": {"succeeded": unc_succ, "failed": unc_fail}}
        if indexed:
            base["completedIndexes"] = format_indexes(completed)
            base["succeeded"] = len(completed)
        if changed:
            job = await self._write_status(job, base)
        removed = await self._remove_finalizers(key, finished)
        # Every recorded pod whose finalizer is gone (now, earlier, or with the pod) is counted.
        live = {wl.meta(p)["uid"]: p for p in pods}
        done = lambda uid: uid in removed or uid not in live or not has_tracking_finalizer(live[uid])
        move_succ = [u for u in unc_succ if done(u)]
        move_fail = [u for u in unc_fail if done(u)]
        if move_succ or move_fail:
            st = wl.status(job)
            final = {**dict(st),
                     "succeeded": int(st.get("succeeded") or 0) + (0 if indexed else len(move_succ)),
                     "failed": int(st.get("failed") or 0) + len(move_fail),
                     "uncountedTerminatedPods": {"succeeded": [u for u in unc_succ if u not in move_succ],
                                                 "failed": [u for u in unc_fail if u not in move_fail]}}
            job = await self._write_status(job, final)
        return job

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        removed: set[str] = set()
        counted = self._finalizers_removed.setdefault(key, set())
        for pod in pods:
            pmeta = wl.meta(pod)
            fins = list(pmeta.get("finalizers") or [])
            if TRACKING_FINALIZER not in fins:
                continue
            i = fins.index(TRACKING_FINALIZER)
            patch = [{"op": "test", "path": f"/metadata/finalizers/{i}", "value": TRACKING_FINALIZER},
                     {"op": "remove", "path": f"/metadata/finalizers/{i}"}]
            try:
                await self.client.patch(PODS, pmeta["name"], patch, "json", pmeta["namespace"])
            except Exception as e:
                if is_invalid(e):
                    # The test op failed: our cached pod is stale. Look again, then retry the sync.
                    fresh = await self._fresh_pod(pmeta["namespace"], pmeta["name"], pmeta["uid"])
                    if fresh is not None and has_tracking_finalizer(fresh):
                        raise
                elif not is_not_found(e):
                    raise
            removed.add(pmeta["uid"])
            counted.add(pmeta["uid"])
        return removed

    async def _fresh_pod(self, namespace: str, name: str, uid: str) -> Obj | None:
        try:
            pod = await self.client.get(PODS, name, namespace)
        except Exception as e:
            if is_not_found(e):
                return None
            raise
        return pod if wl.meta(pod).get("uid") == uid else None

    async def _manage(self, key: str, job: Obj, active: list[Obj], busy: list[Obj], succeeded: int,
                      completed: set[int]) -> list[Obj]:
        """Create or delete pods so the active count is what parallelism and completions ask."""
        jspec = wl.spec(job)
        parallelism = int(jspec.get("parallelism", 1))
        indexed = jspec.get("completionMode") == "Indexed"
        to_delete: list[Obj] = []
        to_create: list[int | None] = []
        if indexed:
            completions = int(jspec.get("completions") or 0)
            seen: set[int] = set()
            keep: list[Obj] = []
            for pod in sorted(active, key=lambda p: wl.meta(p).get("creationTimestamp") or ""):
                idx = pod_index(pod)
                if idx is None or idx >= completions or idx in completed or idx in seen:
                    to_delete.append(pod)
                else:
                    seen.add(idx)
                    keep.append(pod)
            excess = len(keep) - parallelism
            if excess > 0:
                to_delete += deletion_order(keep)[:excess]
            room = parallelism - len(keep) - len(busy)
            if room > 0:
                to_create = list[int | None](pending_indexes(completions, completed, seen | {
                    i for i in (pod_index(p) for p in busy) if i is not None}))[:room]
        else:
            want = want_active(job, succeeded)
            diff = len(active) + len(busy) - want
            if diff > 0:
                to_delete = deletion_order(active)[:min(diff, len(active))]
            elif diff < 0:
                to_create = [None] * (-diff)
        if to_delete:
            await self._delete_pods(key, job, to_delete)
            gone = {wl.meta(p)["uid"] for p in to_delete}
            active = [p for p in active if wl.meta(p)["uid"] not in gone]
        if to_create:
            record = self._backoff.get(key)
            wait = 0.0
            if record is not None and record.failures:
                wait = backoff_delay(record.failures) - (self.clock.monotonic() - record.last_failure)
            if wait > 0:
                self.queue.add_after(key, wait)
                return active
            await self._create_pods(key, job, to_create)
        return active

    async def _create_pods(self, key: str, job: Obj, indexes: list[int | None]) -> None:
        jmeta = wl.meta(job)
        indexes = indexes[:MAX_BATCH]
        self.expectations.expectations.raise_expectations(key, adds=len(indexes))
        batch = SLOW_START_INITIAL
        pos = 0
        while pos < len(indexes):
            chunk = indexes[pos:pos + batch]
            pos += len(chunk)
            for n, index in enumerate(chunk):
                pod = new_job_pod(job, index)
                try:
                    created = await self.client.create(PODS, pod, jmeta["namespace"])
                except Exception as e:
                    # The rest of this batch and the batches after it are not attempted.
                    self.expectations.lower_expectations(key, adds=len(indexes) - (pos - len(chunk) + n))
                    self.recorder.event(job, WARNING, "FailedCreate", f"Error creating: {e}")
                    raise
                self.recorder.event(job, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
            batch *= 2

    async def _delete_pods(self, key: str, job: Obj, pods: list[Obj]) -> None:
        self.expectations.expect_deletions(key, [wl.meta(p)["uid"] for p in pods])
        for pod in pods:
            pmeta = wl.meta(pod)
            try:
                await self.client.delete(PODS, pmeta["name"], pmeta["namespace"], preconditions={"uid": pmeta["uid"]})
            except Exception as e:
                self.expectations.deletion_observed(key, pmeta["uid"])
                if is_not_found(e):
                    continue
                self.recorder.event(job, WARNING, "FailedDelete", f"Error deleting: {e}")
                raise
            self.recorder.event(job, NORMAL, "SuccessfulDelete", f"Deleted pod: {pmeta['name']}")

    async def _write_status(self, job: Obj, status: Mapping[str, Any]) -> Obj:
        """PUT the status against the job's resourceVersion: a stale cache answers 409 and the sync
        is retried, which keeps the counters exact."""
        clean = {k: v for k, v in status.items() if v is not None and v != ""}
        if clean == {k: v for k, v in wl.status(job).items() if v is not None and v != ""}:
            return job
        body = {**dict(job), "status": clean}
        try:
            written = await self.client.update_status(JOBS, body)
            key = f"{wl.meta(job).get('namespace')}/{wl.meta(job).get('name')}"
            self._written[key] = (str(wl.meta(written).get("resourceVersion") or ""), self.clock.monotonic())
            return written
        except Exception as e:
            if is_conflict(e):
                self.log.info("job %s changed while syncing; retrying", wl.meta(job).get("name"))
            raise

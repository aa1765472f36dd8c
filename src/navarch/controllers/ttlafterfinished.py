"""The TTL-after-finished controller: delete finished Jobs ``ttlSecondsAfterFinished`` after they end.

As upstream's ``pkg/controller/ttlafterfinished``: the finish time is the lastTransitionTime of the
Job's Complete or Failed condition; a Job not yet due is re-queued for exactly when it is; before
deleting, the Job is read fresh from the API server (its TTL may have been changed or removed since
the cache saw it) and deleted in the foreground with a uid precondition, so its pods go first and a
re-created Job of the same name is never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from navarch.client.errors import is_not_found
from navarch.controllers import workload as wl
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import split_key

JOBS = "batch/v1/jobs"

Obj = Mapping[str, Any]


def finish_time(job: Obj) -> datetime | None:
    for c in wl.status(job).get("conditions") or []:
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return wl.parse_time(c.get("lastTransitionTime"))
    return None


def time_left(job: Obj, now: datetime) -> float | None:
    """Seconds until the job expires (<= 0: due now), or None when it has no TTL or is not finished."""
    ttl = wl.spec(job).get("ttlSecondsAfterFinished")
    finished = finish_time(job)
    if ttl is None or finished is None or wl.is_terminating(job):
        return None
    return int(ttl) - (now - finished).total_seconds()


class TTLAfterFinishedController(QueueController):
    name: ClassVar[str] = "ttl-after-finished"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.jobs = self.factory.lister(JOBS)
        self.factory.informer(JOBS).add_event_handler(self._changed, lambda old, new: self._changed(new))

    def _changed(self, job: Obj) -> None:
        if wl.spec(job).get("ttlSecondsAfterFinished") is not None and finish_time(job) is not None:
            self.enqueue(job)

    async def sync(self, key: str) -> None:
        ns, name = split_key(key)
        job = self.jobs.get(ns, name)
        if job is None:
            return
        left = time_left(job, self.clock.now())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        try:
            fresh = await self.client.get(JOBS, name, ns)
        except Exception as e:
            if is_not_found(e):
                return
            raise
        left = time_left(fresh, self.clock.now())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        self.log.info("cleaning up job %s: finished more than %ss ago", key,
                      wl.spec(fresh).get("ttlSecondsAfterFinished"))
        try:
            await self.client.delete(JOBS, name, ns, propagation_policy="Foreground",
                                     preconditions={"uid": wl.meta(fresh)["uid"]})
        except Exception as e:
            if not is_not_found(e):
                raise

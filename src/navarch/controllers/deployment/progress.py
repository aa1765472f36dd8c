"""The Progressing condition: progress, completion, the progress deadline and pause (upstream progress.go).

A rollout that makes no progress for ``progressDeadlineSeconds`` gets ``Progressing=False`` with reason
``ProgressDeadlineExceeded``; nothing else changes (the controller keeps trying), but ``kubectl rollout
status`` stops waiting. Because no event may arrive when nothing progresses, a sync that sees no
progress re-queues itself for when the deadline would pass.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from navarch.controllers import workload
from navarch.controllers.deployment import util
from navarch.controllers.deployment.sync import calculate_status, same_status

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


def replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[dict[str, Any]]:
    """ReplicaFailure conditions of the ReplicaSets, the new one's first, as Deployment conditions."""
    for group in ([new_rs], all_rss):
        found = [util.rs_condition_to_deployment(c) for rs in util.present(group)
                 for c in workload.status(rs).get("conditions") or [] if c.get("type") == util.REPLICA_FAILURE]
        if found:
            return found
    return []


def rollout_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None, now: Any) -> dict[str, Any]:
    """The status a rollout sync writes (upstream syncRolloutStatus, without the write)."""
    new_status = calculate_status(all_rss, new_rs, d, now)
    if not util.has_progress_deadline(d):
        util.remove_condition(new_status, util.PROGRESSING)
    current = util.get_condition(workload.status(d), util.PROGRESSING)
    complete_before = (new_status["replicas"] == new_status["updatedReplicas"] and current is not None
                       and current.get("reason") == util.NEW_RS_AVAILABLE)
    if util.has_progress_deadline(d) and not complete_before:
        subject = f'ReplicaSet "{util.name(new_rs)}"' if new_rs is not None else f'Deployment "{util.name(d)}"'
        if util.deployment_complete(d, new_status):
            util.set_condition(new_status, util.new_condition(
                util.PROGRESSING, "True", util.NEW_RS_AVAILABLE, f"{subject} has successfully progressed.", now))
        elif util.deployment_progressing(d, new_status):
            cond = util.new_condition(util.PROGRESSING, "True", util.RS_UPDATED, f"{subject} is progressing.", now)
            # Unlike other conditions, progress refreshes lastUpdateTime even with the same reason:
            # the deadline counts from the last sign of progress.
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                util.remove_condition(new_status, util.PROGRESSING)
            util.set_condition(new_status, cond)
        elif util.deployment_timed_out(d, new_status, now):
            util.set_condition(new_status, util.new_condition(
                util.PROGRESSING, "False", util.TIMED_OUT, f"{subject} has timed out progressing.", now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        util.set_condition(new_status, failures[0])
    else:
        util.remove_condition(new_status, util.REPLICA_FAILURE)
    return new_status


async def sync_rollout_status(dc: "DeploymentController", all_rss: list[Obj | None], new_rs: Obj | None,
                              d: dict[str, Any]) -> None:
    new_status = rollout_status(d, all_rss, new_rs, dc.clock.now())
    if same_status(workload.status(d), new_status):
        requeue_stuck_deployment(dc, d, new_status)
        return
    d["status"] = new_status
    await dc.update_status(d)


def stuck_requeue_delay(d: Obj, new_status: Mapping[str, Any], now: Any) -> float | None:
    """Seconds until the deadline would pass for a rollout showing no progress; 0 for "check now";
    None when there is nothing to watch for (no deadline, complete, or already timed out)."""
    current = util.get_condition(workload.status(d), util.PROGRESSING)
    if not util.has_progress_deadline(d) or current is None:
        return None
    if util.deployment_complete(d, new_status) or current.get("reason") == util.TIMED_OUT:
        return None
    since = workload.parse_time(current.get("lastUpdateTime"))
    if since is None:
        return None
    after = (since - now).total_seconds() + int(workload.spec(d)["progressDeadlineSeconds"])
    return 0.0 if after < 1.0 else after


def requeue_stuck_deployment(dc: "DeploymentController", d: Obj, new_status: Mapping[str, Any]) -> None:
    delay = stuck_requeue_delay(d, new_status, dc.clock.now())
    if delay is None:
        return
    if delay == 0.0:
        dc.enqueue_rate_limited(d)
    else:
        dc.enqueue_after(d, delay + 1.0)


async def check_paused_conditions(dc: "DeploymentController", d: dict[str, Any]) -> None:
    """Record pause and resume in the Progressing condition (status Unknown), except over a timeout."""
    if not util.has_progress_deadline(d):
        return
    status = d.setdefault("status", {})
    cond = util.get_condition(status, util.PROGRESSING)
    if cond is not None and cond.get("reason") == util.TIMED_OUT:
        return
    paused_recorded = cond is not None and cond.get("reason") == util.PAUSED
    now = dc.clock.now()
    if workload.spec(d).get("paused") and not paused_recorded:
        util.set_condition(status, util.new_condition(util.PROGRESSING, "Unknown", util.PAUSED,
                                                      "Deployment is paused", now))
    elif not workload.spec(d).get("paused") and paused_recorded:
        util.set_condition(status, util.new_condition(util.PROGRESSING, "Unknown", util.RESUMED,
                                                      "Deployment is resumed", now))
    else:
        return
    await dc.update_status(d)

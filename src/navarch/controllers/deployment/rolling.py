"""RollingUpdate: grow the new ReplicaSet within maxSurge, shrink old ones within maxUnavailable.

Upstream rolling.go: one step per sync (scale up if possible, else scale down), each bounded so that
at most ``replicas + maxSurge`` pods exist and at least ``replicas - maxUnavailable`` stay available;
old ReplicaSets' unhealthy pods go first so they cannot block the rollout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from navarch.controllers.deployment import history, progress, util
from navarch.controllers.deployment.sync import get_all_replicasets_and_sync_revision, scale_replicaset_and_record_event

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


async def rollout_rolling(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj]) -> None:
    new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, True)
    assert new_rs is not None
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    scaled_up, new_rs = await reconcile_new_replicaset(dc, all_rss, new_rs, d)
    if scaled_up:
        await progress.sync_rollout_status(dc, [*old_rss, new_rs], new_rs, d)
        return
    scaled_down = await reconcile_old_replicasets(dc, [*old_rss, new_rs], util.active(old_rss), new_rs, d)
    if scaled_down:
        await progress.sync_rollout_status(dc, [*old_rss, new_rs], new_rs, d)
        return
    if util.deployment_complete(d, d.get("status") or {}):
        await history.cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, [*old_rss, new_rs], new_rs, d)


async def reconcile_new_replicaset(dc: "DeploymentController", all_rss: list[Obj | None], new_rs: Obj,
                                   d: Obj) -> tuple[bool, Obj]:
    want = util.replicas(d)
    if util.replicas(new_rs) == want:
        return False, new_rs
    if util.replicas(new_rs) > want:
        return await scale_replicaset_and_record_event(dc, new_rs, want, d)
    return await scale_replicaset_and_record_event(dc, new_rs, util.new_rs_new_replicas(d, all_rss, new_rs), d)


def max_scaled_down(all_rss: list[Obj | None], new_rs: Obj, d: Obj) -> int:
    """How many old pods may go now without availability dropping below replicas - maxUnavailable,
    counting the new ReplicaSet's not-yet-available pods as unavailable."""
    min_available = util.replicas(d) - util.max_unavailable(d)
    new_unavailable = util.replicas(new_rs) - util.status_count(new_rs, "availableReplicas")
    return util.spec_replica_count(all_rss) - min_available - new_unavailable


async def reconcile_old_replicasets(dc: "DeploymentController", all_rss: list[Obj | None], old_rss: list[Obj],
                                    new_rs: Obj, d: Obj) -> bool:
    if util.spec_replica_count(old_rss) == 0:
        return False
    limit = max_scaled_down(all_rss, new_rs, d)
    if limit <= 0:
        return False
    old_rss, cleaned = await cleanup_unhealthy_replicas(dc, old_rss, d, limit)
    scaled = await scale_down_old_replicasets(dc, [*old_rss, new_rs], old_rss, d)
    return cleaned + scaled > 0


async def cleanup_unhealthy_replicas(dc: "DeploymentController", old_rss: list[Obj], d: Obj,
                                     max_cleanup: int) -> tuple[list[Obj], int]:
    """Remove old ReplicaSets' unavailable pods first (oldest ReplicaSet first), up to ``max_cleanup``."""
    out = util.by_creation(old_rss)
    total = 0
    for i, rs in enumerate(out):
        if total >= max_cleanup:
            break
        size = util.replicas(rs)
        unhealthy = size - util.status_count(rs, "availableReplicas")
        if size == 0 or unhealthy <= 0:
            continue
        count = min(max_cleanup - total, unhealthy)
        _, out[i] = await scale_replicaset_and_record_event(dc, rs, size - count, d)
        total += count
    return out, total


def scale_down_budget(all_rss: list[Obj | None], d: Obj) -> int:
    """Available pods beyond replicas - maxUnavailable: how many old pods may be removed now.

    A ReplicaSet this controller just scaled down still reports its old availableReplicas until
    the ReplicaSet controller catches up; counting more available pods than its spec keeps would
    let the next sync (triggered by that very scale) remove the same surplus twice and dip below
    the minimum. So each counts at most its spec."""
    available = sum(min(util.status_count(rs, "availableReplicas"), util.replicas(rs)) for rs in util.present(all_rss))
    return available - (util.replicas(d) - util.max_unavailable(d))


async def scale_down_old_replicasets(dc: "DeploymentController", all_rss: list[Obj | None], old_rss: list[Obj],
                                     d: Obj) -> int:
    budget = scale_down_budget(all_rss, d)
    if budget <= 0:
        return 0
    total = 0
    for rs in util.by_creation(old_rss):
        if total >= budget:
            break
        if util.replicas(rs) == 0:
            continue
        count = min(util.replicas(rs), budget - total)
        await scale_replicaset_and_record_event(dc, rs, util.replicas(rs) - count, d)
        total += count
    return total

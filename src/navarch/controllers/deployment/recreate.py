"""Recreate: scale every old ReplicaSet to zero, wait until none of their pods runs, then start the new
one at full size (upstream recreate.go). The new ReplicaSet is not even created before the old pods are
gone, so the two templates never run side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from navarch.controllers import workload
from navarch.controllers.deployment import history, progress, util
from navarch.controllers.deployment.sync import get_all_replicasets_and_sync_revision, scale_replicaset_and_record_event

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pod_map: Mapping[str, list[Obj]]) -> bool:
    if util.actual_replica_count(old_rss) > 0:
        return True
    new_uid = util.uid(new_rs) if new_rs is not None else None
    for rs_uid, pods in pod_map.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            # Unknown may still be running; only finished pods are harmless.
            if workload.phase(pod) not in ("Failed", "Succeeded"):
                return True
    return False


async def rollout_recreate(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj],
                           pod_map: Mapping[str, list[Obj]]) -> None:
    new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, False)
    all_rss: list[Obj | None] = [*old_rss, new_rs]
    scaled_down = False
    for rs in util.active(old_rss):
        scaled, _ = await scale_replicaset_and_record_event(dc, rs, 0, d)
        scaled_down = scaled_down or scaled
    if scaled_down:
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if old_pods_running(new_rs, old_rss, pod_map):
        await progress.sync_rollout_status(dc, all_rss, new_rs, d)
        return
    if new_rs is None:
        new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, True)
        all_rss = [*old_rss, new_rs]
    assert new_rs is not None
    _, new_rs = await scale_replicaset_and_record_event(dc, new_rs, util.replicas(d), d)
    all_rss = [*old_rss, new_rs]
    if util.deployment_complete(d, d.get("status") or {}):
        await history.cleanup_deployment(dc, old_rss, d)
    await progress.sync_rollout_status(dc, all_rss, new_rs, d)

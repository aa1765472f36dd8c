"""Revision history: old ReplicaSets kept for ``rollout undo``, pruned to ``revisionHistoryLimit``.

A Deployment's revisions are its ReplicaSets' ``deployment.kubernetes.io/revision`` annotations (see
``util``); this module removes the oldest surplus ones, never one that still has pods or whose latest
spec its own controller has not yet acted on (upstream cleanupDeployment).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from navarch.client.errors import ApiError, is_not_found
from navarch.controllers import workload
from navarch.controllers.deployment import util

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


def replicasets_to_clean(old_rss: list[Obj], d: Obj) -> list[Obj]:
    """The old ReplicaSets beyond the history limit, lowest revision first, that are safe to delete."""
    limit = workload.spec(d).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not workload.is_terminating(rs)]
    diff = len(alive) - int(limit)
    if diff <= 0:
        return []
    out = []
    for rs in util.by_revision(alive)[:diff]:
        if (util.status_count(rs, "replicas") != 0 or util.replicas(rs) != 0
                or int(workload.meta(rs).get("generation") or 0) > util.status_count(rs, "observedGeneration")):
            continue  # still has (or may still get) pods
        out.append(rs)
    return out


async def cleanup_deployment(dc: "DeploymentController", old_rss: list[Obj], d: Obj) -> None:
    for rs in replicasets_to_clean(old_rss, d):
        meta = workload.meta(rs)
        dc.log.info("deleting old replica set %s/%s of deployment %s", meta.get("namespace"), meta["name"], util.name(d))
        try:
            await dc.client.delete("apps/v1/replicasets", meta["name"], meta.get("namespace"),
                                   preconditions={"uid": str(meta.get("uid"))})
        except ApiError as e:
            if not is_not_found(e):
                raise

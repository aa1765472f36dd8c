"""Finding (or creating) the new ReplicaSet, scaling, and the Deployment's status (upstream sync.go).

Every function receives a private deep copy ``d`` of the Deployment (status and annotations change in
place, as upstream mutates its copy) and the claimed ReplicaSets as cached (read-only: changes go
through the API and the returned objects replace the cached ones in the caller's lists).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from navarch.client.errors import ApiError, is_already_exists
from navarch.controllers import workload
from navarch.controllers.deployment import history, util
from navarch.controllers.replicaset import NAMESPACE_TERMINATING_CAUSE, error_message, has_status_cause
from navarch.machinery import controllerref
from navarch.machinery.events import NORMAL, WARNING

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


async def sync(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj]) -> None:
    """Scale without rolling out: a paused Deployment, or one whose ``replicas`` changed."""
    new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, False)
    await scale(dc, d, new_rs, old_rss)
    if workload.spec(d).get("paused") and util.annotations_of(d).get(util.ROLLBACK_TO) is None:
        await history.cleanup_deployment(dc, old_rss, d)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def sync_status_only(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj]) -> None:
    new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, False)
    await sync_deployment_status(dc, [*old_rss, new_rs], new_rs, d)


async def is_scaling_event(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj]) -> bool:
    """``spec.replicas`` differs from what an active ReplicaSet was last sized for (its
    desired-replicas annotation): a scale, to be spread proportionally, not a new rollout."""
    new_rs, old_rss = await get_all_replicasets_and_sync_revision(dc, d, rss, False)
    for rs in util.active([*old_rss, new_rs]):
        desired = util.desired_replicas_annotation(rs)
        if desired is not None and desired != util.replicas(d):
            return True
    return False


async def get_all_replicasets_and_sync_revision(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj],
                                                create: bool) -> tuple[Obj | None, list[Obj]]:
    """(the new ReplicaSet or None, every old one), bringing the revision annotations up to date."""
    _, all_old = util.find_old_replicasets(d, rss)
    new_rs = await get_new_replicaset(dc, d, rss, all_old, create)
    return new_rs, all_old


async def get_new_replicaset(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj], old_rss: list[Obj],
                             create: bool) -> Obj | None:
    existing = util.find_new_replicaset(d, rss)
    new_revision = str(util.max_revision(old_rss) + 1)
    now = dc.clock.now()
    if existing is not None:
        rs_copy: dict[str, Any] = copy.deepcopy(dict(existing))
        # An old template coming back (``rollout undo``) moves its ReplicaSet to the newest revision.
        annotations_updated = util.set_new_replicaset_annotations(d, rs_copy, new_revision, True)
        min_ready_changed = util.min_ready_seconds(rs_copy) != util.min_ready_seconds(d)
        if annotations_updated or min_ready_changed:
            rs_copy["spec"]["minReadySeconds"] = util.min_ready_seconds(d)
            return await dc.update_replicaset(rs_copy)
        needs_update = util.set_deployment_revision(d, util.annotations_of(rs_copy).get(util.REVISION, ""))
        status = d.setdefault("status", {})
        if util.has_progress_deadline(d) and util.get_condition(status, util.PROGRESSING) is None:
            util.set_condition(status, util.new_condition(
                util.PROGRESSING, "True", util.FOUND_NEW_RS, f'Found new replica set "{util.name(rs_copy)}"', now))
            needs_update = True
        if needs_update:
            await dc.update_status(d)
        return rs_copy
    if not create:
        return None

    meta = workload.meta(d)
    spec = workload.spec(d)
    status = d.setdefault("status", {})
    template = copy.deepcopy(dict(spec.get("template") or {}))
    pod_hash = util.compute_hash(spec.get("template") or {}, status.get("collisionCount"))
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = util.with_label(template_meta.get("labels"), util.HASH_LABEL, pod_hash)
    new_rs: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{pod_hash}", "namespace": meta.get("namespace"),
            "ownerReferences": [controllerref.new_controller_ref(d, "Deployment", "apps/v1")],
            "labels": dict(template_meta["labels"]),
        },
        "spec": {"replicas": 0, "minReadySeconds": util.min_ready_seconds(d),
                 "selector": util.selector_with_label(spec.get("selector"), util.HASH_LABEL, pod_hash),
                 "template": template},
    }
    new_replicas = util.new_rs_new_replicas(d, [*old_rss, new_rs], new_rs)
    new_rs["spec"]["replicas"] = new_replicas
    util.set_new_replicaset_annotations(d, new_rs, new_revision, False)

    already_exists = False
    try:
        created: Obj = await dc.client.create("apps/v1/replicasets", new_rs, meta.get("namespace"))
    except ApiError as e:
        if is_already_exists(e):
            already_exists = True
            found = dc.replicasets.get(meta.get("namespace"), new_rs["metadata"]["name"])
            if found is None:
                raise  # not in the cache yet: retry once it is
            if controllerref.is_controlled_by(found, d) and util.equal_ignore_hash(
                    workload.spec(found).get("template"), spec.get("template")):
                created = found
            else:
                # A different template hashed to the same name: bump collisionCount so the next
                # sync computes another name.
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                await dc.update_status(d)
                dc.log.info("hash collision for deployment %s/%s, collisionCount now %d", meta.get("namespace"),
                            meta["name"], status["collisionCount"])
                raise
        elif has_status_cause(e, NAMESPACE_TERMINATING_CAUSE):
            raise
        else:
            msg = f'Failed to create new replica set "{new_rs["metadata"]["name"]}": {error_message(e)}'
            if util.has_progress_deadline(d):
                util.set_condition(status, util.new_condition(util.PROGRESSING, "False", util.FAILED_RS_CREATE, msg, now))
                await dc.update_status(d)
            dc.recorder.event(d, WARNING, util.FAILED_RS_CREATE, msg)
            raise
    if not already_exists and new_replicas > 0:
        dc.recorder.event(d, NORMAL, "ScalingReplicaSet",
                          f"Scaled up replica set {util.name(created)} from 0 to {new_replicas}")
    needs_update = util.set_deployment_revision(d, new_revision)
    if not already_exists and util.has_progress_deadline(d):
        util.set_condition(status, util.new_condition(
            util.PROGRESSING, "True", util.NEW_RS_CREATED, f'Created new replica set "{util.name(created)}"', now))
        needs_update = True
    if needs_update:
        await dc.update_status(d)
    return created


async def scale(dc: "DeploymentController", d: dict[str, Any], new_rs: Obj | None, old_rss: list[Obj]) -> None:
    """Bring the ReplicaSets to ``spec.replicas``: all to the one active ReplicaSet; all old ones to
    zero once the new one is saturated; during a rolling update, proportionally to each one's share."""
    target = util.find_active_or_latest(new_rs, old_rss)
    if target is not None:
        if util.replicas(target) != util.replicas(d):
            await scale_replicaset_and_record_event(dc, target, util.replicas(d), d)
        return
    if util.is_saturated(d, new_rs):
        for old in util.active(old_rss):
            await scale_replicaset_and_record_event(dc, old, 0, d)
        return
    if util.is_rolling_update(d):
        live = util.active([*old_rss, new_rs])
        sizes, operation = util.proportional_sizes(d, live)
        for rs in live:
            await scale_replicaset(dc, rs, sizes[util.name(rs)], d, operation)


async def scale_replicaset_and_record_event(dc: "DeploymentController", rs: Obj, new_scale: int,
                                            d: Obj) -> tuple[bool, Obj]:
    if util.replicas(rs) == new_scale:
        return False, rs
    operation = "up" if util.replicas(rs) < new_scale else "down"
    return await scale_replicaset(dc, rs, new_scale, d, operation)


async def scale_replicaset(dc: "DeploymentController", rs: Obj, new_scale: int, d: Obj,
                           operation: str) -> tuple[bool, Obj]:
    """Resize ``rs`` and refresh its desired/max-replicas annotations (they record the Deployment
    size it was last scaled for, which proportional scaling and scale detection read)."""
    size_changed = util.replicas(rs) != new_scale
    max_replicas = util.replicas(d) + util.max_surge(d)
    if not size_changed and not util.replicas_annotations_need_update(rs, util.replicas(d), max_replicas):
        return False, rs
    old_scale = util.replicas(rs)
    rs_copy: dict[str, Any] = copy.deepcopy(dict(rs))
    rs_copy["spec"]["replicas"] = new_scale
    util.set_replicas_annotations(rs_copy, util.replicas(d), max_replicas)
    updated = await dc.update_replicaset(rs_copy)
    if size_changed:
        dc.recorder.event(d, NORMAL, "ScalingReplicaSet",
                          f"Scaled {operation} replica set {util.name(rs)} from {old_scale} to {new_scale}")
    return size_changed, updated


def calculate_status(all_rss: Sequence[Obj | None], new_rs: Obj | None, d: Obj, now: Any) -> dict[str, Any]:
    """The Deployment's status from its ReplicaSets, with the Available condition (upstream
    calculateStatus); other conditions are carried over for the caller to adjust."""
    available = util.available_replica_count(all_rss)
    total = util.spec_replica_count(all_rss)
    old = workload.status(d)
    status: dict[str, Any] = {
        "observedGeneration": int(workload.meta(d).get("generation") or 0),
        "replicas": util.actual_replica_count(all_rss),
        "updatedReplicas": util.actual_replica_count([new_rs]),
        "readyReplicas": util.ready_replica_count(all_rss),
        "availableReplicas": available,
        "unavailableReplicas": max(total - available, 0),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= util.replicas(d) - util.max_unavailable(d):
        cond = util.new_condition(util.AVAILABLE, "True", util.MIN_AVAILABLE, "Deployment has minimum availability.", now)
    else:
        cond = util.new_condition(util.AVAILABLE, "False", util.MIN_UNAVAILABLE,
                                  "Deployment does not have minimum availability.", now)
    util.set_condition(status, cond)
    return status


def same_status(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as upstream's typed structs would be: absent counters are zeros."""
    def norm(s: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in s.items() if v not in (0, None, [], {})}
    return norm(a) == norm(b)


async def sync_deployment_status(dc: "DeploymentController", all_rss: Sequence[Obj | None], new_rs: Obj | None,
                                 d: dict[str, Any]) -> None:
    new_status = calculate_status(all_rss, new_rs, d, dc.clock.now())
    if same_status(workload.status(d), new_status):
        return
    d["status"] = new_status
    await dc.update_status(d)

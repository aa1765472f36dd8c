"""Server-driven rollback through the deprecated ``deprecated.deployment.rollback.to`` annotation.

``kubectl rollout undo`` does not use this: it patches the old template back itself, and the
controller then finds that template's ReplicaSet and moves it to the newest revision (``sync.py``).
Clients of the removed ``extensions/v1beta1`` rollback subresource set this annotation instead; it
is honoured as upstream's rollback.go does, then cleared.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping

from navarch.controllers import workload
from navarch.controllers.deployment import util
from navarch.controllers.deployment.sync import get_all_replicasets_and_sync_revision
from navarch.machinery.events import NORMAL, WARNING

if TYPE_CHECKING:
    from navarch.controllers.deployment.controller import DeploymentController

Obj = Mapping[str, Any]


def rollback_to(d: Obj) -> int | None:
    """The revision asked for (0: the previous one), or None without a (valid) request."""
    raw = util.annotations_of(d).get(util.ROLLBACK_TO)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None


async def rollback(dc: "DeploymentController", d: dict[str, Any], rss: list[Obj]) -> None:
    new_rs, all_old = await get_all_replicasets_and_sync_revision(dc, d, rss, True)
    all_rss = util.present([new_rs, *all_old])
    target = rollback_to(d) or 0
    if target == 0:
        target = util.last_revision(all_rss)
        if target == 0:
            dc.recorder.event(d, WARNING, "DeploymentRollbackRevisionNotFound", "Unable to find last revision.")
            await _clear_rollback_to(dc, d)
            return
    for rs in all_rss:
        if util.revision_or_zero(rs) != target:
            continue
        template = workload.spec(rs).get("template") or {}
        if util.equal_ignore_hash(workload.spec(d).get("template"), template):
            dc.recorder.event(d, WARNING, "DeploymentRollbackTemplateUnchanged",
                              f'The rollback revision contains the same template as current deployment "{util.name(d)}"')
            await _clear_rollback_to(dc, d)
            return
        restored = copy.deepcopy(dict(template))
        labels = (restored.get("metadata") or {}).get("labels")
        if labels:
            labels.pop(util.HASH_LABEL, None)
        d["spec"]["template"] = restored
        util.set_annotations_from_rollback(d, rs)
        await _clear_rollback_to(dc, d)
        dc.recorder.event(d, NORMAL, "DeploymentRollback", f'Rolled back deployment "{util.name(d)}" to revision {target}')
        return
    dc.recorder.event(d, WARNING, "DeploymentRollbackRevisionNotFound", "Unable to find the revision to rollback to.")
    await _clear_rollback_to(dc, d)


async def _clear_rollback_to(dc: "DeploymentController", d: dict[str, Any]) -> None:
    d["metadata"].get("annotations", {}).pop(util.ROLLBACK_TO, None)
    await dc.update_deployment(d)

"""The ClusterRole aggregation controller: a ClusterRole with an ``aggregationRule`` holds the rules
of every ClusterRole its selectors match, as upstream's ``pkg/controller/clusterroleaggregation``.

That is how ``admin``, ``edit`` and ``view`` grow when a CRD's installer adds a role labelled
``rbac.authorization.k8s.io/aggregate-to-view: "true"``. Any ClusterRole change may change what any
aggregated role gathers (labels move, rules change), so every change re-queues every aggregated
role, as upstream does; a sync that computes the rules the role already has writes nothing.
Writing rules one does not hold needs ``escalate`` on clusterroles, which the controller manager's
role grants.
"""

from __future__ import annotations

from typing import Any, ClassVar

from navarch.api.selectors import label_selector_from_object
from navarch.client.errors import is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state

CLUSTER_ROLES = "rbac.authorization.k8s.io/v1/clusterroles"


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def aggregated_rules(role: Obj, all_roles: list[Obj]) -> list[dict[str, Any]] | None:
    """The rules ``role`` should hold: each matching role's rules, roles in name order, each rule
    once; None when the role does not aggregate."""
    rule = role.get("aggregationRule")
    if rule is None:
        return None
    selectors = [label_selector_from_object(s) for s in (rule.get("clusterRoleSelectors") or [])]
    me = _name(role)
    out: list[dict[str, Any]] = []
    for other in sorted(all_roles, key=_name):
        if _name(other) == me:
            continue
        labels = (other.get("metadata") or {}).get("labels") or {}
        if not any(s.matches(labels) for s in selectors):
            continue
        for r in other.get("rules") or ():
            if r not in out:
                out.append(dict(r))
    return out


class ClusterRoleAggregationController(QueueController):
    name: ClassVar[str] = "clusterrole-aggregation"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.roles = self.factory.lister(CLUSTER_ROLES)
        self.factory.informer(CLUSTER_ROLES).add_event_handler(
            on_add=self._changed, on_update=lambda _old, new: self._changed(new),
            on_delete=lambda obj: self._changed(final_state(obj)))

    def _changed(self, _obj: Any) -> None:
        for role in self.roles.list():
            if role.get("aggregationRule") is not None:
                self.enqueue(role)

    async def sync(self, key: str) -> None:
        role = self.roles.get(None, key)
        if role is None:
            return
        wanted = aggregated_rules(role, self.roles.list())
        if wanted is None or wanted == list(role.get("rules") or []):
            return
        body = {**role, "rules": wanted}
        try:
            await self.client.update(CLUSTER_ROLES, body)
        except Exception as e:
            if is_not_found(e):
                return
            if is_conflict(e):
                self.queue.add_rate_limited(key)  # the cache will bring the newer version
                return
            raise
        self.log.info("aggregated %d rules into clusterrole %s", len(wanted), key)

"""The clusterrole-aggregation controller gathers the rules of the roles its selectors match."""

import copy
from datetime import UTC, datetime
from typing import Any

from navarch.controllers.base import ControllerContext
from navarch.controllers.clusterroleaggregation import (
    CLUSTER_ROLES,
    ClusterRoleAggregationController,
    aggregated_rules,
)
from navarch.machinery.clock import FakeClock
from navarch.machinery.factory import SharedInformerFactory
from tests.unit.controllers.workload_fakes import RecordingClient, RecordingEvents


class UpdatingClient(RecordingClient):
    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []

    async def update(self, res: Any, body: Any, namespace: Any = None, **kw: Any) -> dict[str, Any]:
        self.updates.append(copy.deepcopy(dict(body)))
        return dict(body)

AGG = "rbac.authorization.k8s.io/aggregate-to-view"


def role(name: str, rules: list[dict[str, Any]], labels: dict[str, str] | None = None,
         aggregate: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                           "metadata": {"name": name, "labels": labels or {}, "resourceVersion": "1"}, "rules": rules}
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGG: "true"}}]}
    return obj


PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
CRDS = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}


def test_aggregated_rules_in_name_order_without_duplicates():
    view = role("view", [], aggregate=True)
    roles = [view, role("b", [CRDS, PODS], {AGG: "true"}), role("a", [PODS], {AGG: "true"}), role("c", [CRDS])]
    assert aggregated_rules(view, roles) == [PODS, CRDS]
    assert aggregated_rules(role("plain", [PODS]), roles) is None


async def test_sync_writes_only_when_rules_differ():
    clock = FakeClock(datetime(2025, 1, 1, tzinfo=UTC))
    client = UpdatingClient()
    ctx = ControllerContext(client=client, factory=SharedInformerFactory(client, clock=clock),  # type: ignore[arg-type]
                            recorder=RecordingEvents(), clock=clock)  # type: ignore[arg-type]
    updates = client.updates
    ctrl = ClusterRoleAggregationController(ctx)
    indexer = ctx.factory.informer(CLUSTER_ROLES).indexer
    for obj in (role("view", [], aggregate=True), role("widgets-view", [CRDS], {AGG: "true"})):
        indexer.add(obj)
    await ctrl.sync("view")
    assert [u["rules"] for u in updates] == [[CRDS]]
    indexer.update(role("view", [CRDS], aggregate=True))
    await ctrl.sync("view")
    assert len(updates) == 1
    await ctrl.sync("widgets-view")  # not aggregated: nothing to do
    assert len(updates) == 1

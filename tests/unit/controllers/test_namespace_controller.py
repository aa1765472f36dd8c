"""Namespace deletion: content first, conditions on the way, then the ``kubernetes`` finalizer."""

from __future__ import annotations

from typing import Any

from navarch.controllers import namespace as nsc
from navarch.controllers.serviceaccount import ServiceAccountController
from navarch.machinery.clock import FakeClock
from tests.unit.controllers.hygiene_fakes import fill, make_ctx


def namespace(name: str = "doomed", deleting: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "uid": "ns-uid"}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta, "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating" if deleting else "Active"}}


def cm(name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "doomed", "uid": f"u-{name}"}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def test_conditions_report_remaining_content_and_finalizers() -> None:
    totals = nsc.ContentTotals(remaining={"pods.": 2, "configmaps.": 1}, finalizers={"example.com/x": 1})
    wanted = nsc.new_conditions(totals)
    assert wanted[nsc.CONTENT_REMAINING] == (
        "True", "SomeResourcesRemain", ("Some resources are remaining: configmaps. has 1 resource instances, "
        "pods. has 2 resource instances"))
    assert wanted[nsc.FINALIZERS_REMAINING] == (
        "True", "SomeFinalizersRemain",
        "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances")
    assert wanted[nsc.DISCOVERY_FAILURE] == ("False", "ResourcesDiscovered", "All resources successfully discovered")


def test_transition_time_moves_only_when_status_flips() -> None:
    clock = FakeClock()
    status: dict[str, Any] = {}
    assert nsc.update_conditions(status, nsc.new_conditions(nsc.ContentTotals(remaining={"pods.": 1})), clock)
    before = {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}
    clock.advance(60)
    assert not nsc.update_conditions(status, nsc.new_conditions(nsc.ContentTotals(remaining={"pods.": 1})), clock)
    assert nsc.update_conditions(status, nsc.new_conditions(nsc.ContentTotals(remaining={"pods.": 2})), clock)
    assert {c["type"]: c["lastTransitionTime"] for c in status["conditions"]} == before
    nsc.update_conditions(status, nsc.new_conditions(nsc.ContentTotals()), clock)
    remaining = next(c for c in status["conditions"] if c["type"] == nsc.CONTENT_REMAINING)
    assert remaining["status"] == "False" and remaining["lastTransitionTime"] != before[nsc.CONTENT_REMAINING]


async def test_content_is_deleted_then_the_namespace_finalized() -> None:
    ctx, api, _events = make_ctx()
    ctrl = nsc.NamespaceController(ctx)
    ns = api.put("namespaces", namespace())
    fill(ctx, "namespaces", ns)
    api.put("configmaps", cm("a"))
    api.put("configmaps", cm("held", ["example.com/x"]))
    await ctrl.sync("doomed")
    assert ("configmaps", "doomed", "a") not in api.objects
    assert not any(v == "update/finalize" for v, _, _ in api.verbs())  # "held" still there
    status = api.objects[("namespaces", "", "doomed")]["status"]
    conds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conds[nsc.CONTENT_REMAINING] == ("True", "SomeResourcesRemain")
    assert conds[nsc.FINALIZERS_REMAINING] == ("True", "SomeFinalizersRemain")
    del api.objects[("configmaps", "doomed", "held")]  # its finalizer's owner let go
    await ctrl.sync("doomed")
    finalize = [w for w in api.writes if w[0] == "update/finalize"]
    assert len(finalize) == 1 and finalize[0][3]["spec"]["finalizers"] == []


async def test_active_namespace_is_left_alone() -> None:
    ctx, api, _events = make_ctx()
    ctrl = nsc.NamespaceController(ctx)
    fill(ctx, "namespaces", api.put("namespaces", namespace(deleting=False)))
    api.put("configmaps", cm("a"))
    await ctrl.sync("doomed")
    assert api.writes == []


async def test_default_service_account_is_created_once() -> None:
    ctx, api, _events = make_ctx()
    ctrl = ServiceAccountController(ctx)
    fill(ctx, "namespaces", namespace("fresh", deleting=False), namespace("doomed"))
    await ctrl.sync("fresh")
    await ctrl.sync("doomed")
    assert api.verbs() == [("create", "serviceaccounts", "fresh/default")]
    fill(ctx, "serviceaccounts", api.objects[("serviceaccounts", "fresh", "default")])
    await ctrl.sync("fresh")
    assert len(api.writes) == 1

"""The garbage collector: the dependency graph alone, then decisions against an in-memory API."""

from __future__ import annotations

from typing import Any

import pytest

from navarch.controllers.garbagecollector import (
    FOREGROUND,
    ORPHAN,
    DependencyGraph,
    GarbageCollector,
    deletable_resources,
)
from tests.unit.controllers.hygiene_fakes import FakeApi, make_ctx


def rs(name: str, uid: str, *, deleting: bool = False, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta, "spec": {"replicas": 1}}


def pod(name: str, uid: str, *owners: tuple[str, str], block: bool = True, ns: str = "ns") -> dict[str, Any]:
    refs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": n, "uid": u, "controller": True,
             "blockOwnerDeletion": block} for n, u in owners]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "uid": uid,
                                                           "ownerReferences": refs}}


# ---- the graph --------------------------------------------------------------------------------


def test_unknown_owner_becomes_a_virtual_node_to_verify() -> None:
    g = DependencyGraph()
    work = g.observe(pod("p", "p1", ("r", "r1")))
    owner = g.get("r1")
    assert owner is not None and owner.virtual and owner.dependents == {"p1"}
    assert work.delete == {"r1"}
    g.observe(rs("r", "r1"))
    assert not g.get("r1").virtual  # type: ignore[union-attr]


def test_owner_removal_revisits_dependents() -> None:
    g = DependencyGraph()
    g.observe(rs("r", "r1"))
    g.observe(pod("p", "p1", ("r", "r1")))
    g.observe(pod("q", "q1", ("r", "r1")))
    assert g.remove("r1").delete == {"p1", "q1"}
    g.remove("p1")
    g.remove("q1")
    assert "r1" not in g  # the stand-in goes with the last dependent


def test_dropping_an_owner_reference_unlinks() -> None:
    g = DependencyGraph()
    g.observe(rs("r", "r1"))
    g.observe(pod("p", "p1", ("r", "r1")))
    g.observe(pod("p", "p1"))
    assert g.get("r1").dependents == set()  # type: ignore[union-attr]


def test_foreground_owner_queues_itself_and_dependents() -> None:
    g = DependencyGraph()
    g.observe(pod("p", "p1", ("r", "r1")))
    g.observe(pod("q", "q1", ("r", "r1"), block=False))
    work = g.observe(rs("r", "r1", deleting=True, finalizers=[FOREGROUND]))
    assert g.get("r1").deleting_dependents  # type: ignore[union-attr]
    assert work.delete == {"r1", "p1", "q1"}
    assert [n.uid for n in g.blocking_dependents("r1")] == ["p1"]
    # The blocking dependent disappears: the owner is revisited to drop its finalizer.
    assert g.remove("p1").delete == {"r1"}


def test_orphan_finalizer_queues_orphaning() -> None:
    g = DependencyGraph()
    assert g.observe(rs("r", "r1", deleting=True, finalizers=[ORPHAN])).orphan == {"r1"}
    assert g.observe(rs("s", "s1")).orphan == set()


def test_deletable_resources_skip_events_and_reviews() -> None:
    names = {r.qualified for r in deletable_resources()}
    assert "pods" in names and "replicasets.apps" in names
    assert "events" not in names and "events.events.k8s.io" not in names
    assert "tokenreviews.authentication.k8s.io" not in names


# ---- decisions --------------------------------------------------------------------------------


def gc_with(*objs: tuple[str, dict[str, Any]]) -> tuple[GarbageCollector, FakeApi]:
    api = FakeApi()
    ctx, api, _events = make_ctx(api)
    gc = GarbageCollector(ctx, resources=[])
    for plural, o in objs:
        api.put(plural, o)
        gc._schedule(gc.graph.observe(o))  # as the informer handler does
    return gc, api


async def drain(gc: GarbageCollector, limit: int = 50) -> None:
    """Run queued work until the queue is empty (everything is synchronous against the fake)."""
    for _ in range(limit):
        if not len(gc.queue):
            return
        key = await gc.queue.get()
        try:
            await gc.sync(key)
        finally:
            gc.queue.done(key)


async def test_background_dependents_of_a_vanished_owner_are_deleted() -> None:
    gc, api = gc_with(("pods", pod("p", "p1", ("r", "r1"))))
    await drain(gc)  # verifies the virtual owner r1, finds it absent, revisits p
    assert ("delete", "pods", "ns/p") in api.verbs()
    assert api.writes[-1][3] == "Background"


async def test_an_owner_that_exists_keeps_its_dependent() -> None:
    gc, api = gc_with(("replicasets", rs("r", "r1")), ("pods", pod("p", "p1", ("r", "r1"))))
    await gc.attempt_to_delete(gc.graph.get("p1"))  # type: ignore[arg-type]
    await drain(gc)
    assert api.writes == []


async def test_a_namesake_with_another_uid_is_not_the_owner() -> None:
    gc, api = gc_with(("replicasets", rs("r", "r2")), ("pods", pod("p", "p1", ("r", "r1"))))
    await gc.attempt_to_delete(gc.graph.get("p1"))  # type: ignore[arg-type]
    assert api.verbs() == [("delete", "pods", "ns/p")]


async def test_solid_owner_plus_dangling_reference_drops_the_dangling_one() -> None:
    gc, api = gc_with(("replicasets", rs("r", "r1")), ("pods", pod("p", "p1", ("r", "r1"), ("gone", "g1"))))
    await gc.attempt_to_delete(gc.graph.get("p1"))  # type: ignore[arg-type]
    assert api.verbs() == [("patch", "pods", "ns/p")]
    refs = api.objects[("pods", "ns", "p")]["metadata"]["ownerReferences"]
    assert [r["uid"] for r in refs] == ["r1"]


async def test_foreground_deletes_blocking_dependents_then_the_finalizer() -> None:
    owner = rs("r", "r1", deleting=True, finalizers=[FOREGROUND])
    gc, api = gc_with(("pods", pod("p", "p1", ("r", "r1"))), ("pods", pod("q", "q1", ("r", "r1"), block=False)),
                      ("replicasets", owner))
    await drain(gc)
    assert ("replicasets", "ns", "r") in api.objects
    for uid in ("p1", "q1"):  # the informer reports the deletions
        gc._schedule(gc.graph.remove(uid))
    await drain(gc)
    # Every dependent goes; the finalizer is removed only after the blocking one is gone.
    verbs = api.verbs()
    assert ("delete", "pods", "ns/q") in verbs
    assert verbs.index(("delete", "pods", "ns/p")) < verbs.index(("patch", "replicasets", "ns/r"))
    assert ("replicasets", "ns", "r") not in api.objects


async def test_orphan_strips_references_then_the_finalizer() -> None:
    owner = rs("r", "r1", deleting=True, finalizers=[ORPHAN])
    gc, api = gc_with(("pods", pod("p", "p1", ("r", "r1"))), ("pods", pod("q", "q1", ("r", "r1"), ("o", "o1"))),
                      ("replicasets", owner), ("replicasets", rs("o", "o1")))
    await drain(gc)
    assert "ownerReferences" not in api.objects[("pods", "ns", "p")]["metadata"]
    assert [r["uid"] for r in api.objects[("pods", "ns", "q")]["metadata"]["ownerReferences"]] == ["o1"]
    assert ("replicasets", "ns", "r") not in api.objects  # finalizer removed → deleted
    assert not any(v == "delete" for v, _, _ in api.verbs())


@pytest.mark.parametrize("policy_finalizer, expected", [(ORPHAN, "Orphan"), (FOREGROUND, "Foreground"), (None, "Background")],
                         ids=["orphan", "foreground", "background"])
async def test_garbage_is_deleted_honouring_its_own_finalizers(policy_finalizer: str | None, expected: str) -> None:
    p = pod("p", "p1", ("r", "r1"))
    if policy_finalizer:
        p["metadata"]["finalizers"] = [policy_finalizer]
    gc, api = gc_with(("pods", p))
    await gc.attempt_to_delete(gc.graph.get("p1"))  # type: ignore[arg-type]
    assert api.writes[-1][3] == expected


async def test_cluster_scoped_dependent_of_namespaced_owner_is_reported() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "uid": "n1", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "r", "uid": "r1"}]}}
    api = FakeApi()
    ctx, api, events = make_ctx(api)
    gc = GarbageCollector(ctx, resources=[])
    api.put("nodes", node)
    gc.graph.observe(node)
    await gc.sync("delete:n1")
    assert events.reasons() == ["OwnerRefInvalidNamespace"]
    assert api.writes == []

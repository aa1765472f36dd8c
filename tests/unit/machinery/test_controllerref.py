import pytest

from navarch.api import selectors
from navarch.machinery import controllerref

OWNER = {"metadata": {"name": "rs", "namespace": "ns", "uid": "owner-uid"}}
SEL = selectors.label_selector_from_set({"app": "web"})


def child(labels=None, ref_uid=None, ns="ns", deleting=False, controller=True) -> dict:
    meta = {"name": "p", "namespace": ns, "uid": "child-uid", "labels": labels or {}}
    if ref_uid:
        meta["ownerReferences"] = [{"uid": "gc-only", "kind": "X", "name": "x"},
                                   {"uid": ref_uid, "kind": "ReplicaSet", "name": "rs", "controller": controller}]
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta}


def test_controller_of_picks_the_controller_reference():
    assert controllerref.controller_of(child(ref_uid="owner-uid"))["uid"] == "owner-uid"
    assert controllerref.controller_of(child(ref_uid="owner-uid", controller=False)) is None
    assert controllerref.is_controlled_by(child(ref_uid="owner-uid"), OWNER)
    assert not controllerref.is_controlled_by(child(ref_uid="someone"), OWNER)


def test_new_ref_and_patches():
    ref = controllerref.new_controller_ref(OWNER, "ReplicaSet", "apps/v1")
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "owner-uid",
                   "controller": True, "blockOwnerDeletion": True}
    adopt = controllerref.adopt_patch(OWNER, "ReplicaSet", "apps/v1", child())
    assert adopt == {"metadata": {"ownerReferences": [ref], "uid": "child-uid"}}
    release = controllerref.release_patch(OWNER, child())
    assert release == {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "owner-uid"}],
                                    "uid": "child-uid"}}


OWNER_DELETING = {"metadata": {**OWNER["metadata"], "deletionTimestamp": "2025-01-01T00:00:00Z"}}


@pytest.mark.parametrize("owner,obj,want", [
    (OWNER, child({"app": "web"}, "owner-uid"), "keep"),
    (OWNER, child({"app": "db"}, "owner-uid"), "release"),
    (OWNER_DELETING, child({"app": "db"}, "owner-uid"), "ignore"),
    (OWNER, child({"app": "web"}, "other-uid"), "ignore"),
    (OWNER, child({"app": "web"}), "adopt"),
    (OWNER, child({"app": "db"}), "ignore"),
    (OWNER_DELETING, child({"app": "web"}), "ignore"),
    (OWNER, child({"app": "web"}, deleting=True), "ignore"),
    (OWNER, child({"app": "web"}, ns="elsewhere"), "ignore"),
], ids=["ours-matching", "ours-not-matching", "ours-owner-deleting", "someone-elses", "orphan-matching",
        "orphan-not-matching", "orphan-owner-deleting", "orphan-being-deleted", "orphan-other-namespace"])
def test_claim(owner, obj, want):
    assert controllerref.claim(owner, SEL, obj) == want

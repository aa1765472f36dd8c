"""Owner references: who controls an object, and how a controller adopts or releases one.

Ownership is decided by uid, never by name alone: a ReplicaSet deleted and re-created with the same
name is a different owner, and must not inherit the old one's pods. Adoption and release are
strategic-merge patches that also carry the child's uid, so the patch fails (409) instead of
touching a different object that reused the name (upstream's ControllerRefManager does the same).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

from navarch.api import selectors

Obj = Mapping[str, Any]
Claim = Literal["adopt", "release", "keep", "ignore"]


def controller_of(obj: Obj) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``, if any (at most one is allowed)."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


def new_controller_ref(owner: Obj, kind: str, api_version: str) -> dict[str, Any]:
    """The reference a controller stamps on what it creates; ``blockOwnerDeletion`` makes foreground
    deletion of the owner wait for the child, as upstream controllers set it."""
    meta = owner.get("metadata") or {}
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def adopt_patch(owner: Obj, kind: str, api_version: str, child: Obj) -> dict[str, Any]:
    """Strategic-merge patch making ``owner`` the controller of ``child`` (ownerReferences merge by uid)."""
    return {"metadata": {"ownerReferences": [new_controller_ref(owner, kind, api_version)],
                         "uid": (child.get("metadata") or {})["uid"]}}


def release_patch(owner: Obj, child: Obj) -> dict[str, Any]:
    """Strategic-merge patch removing ``owner``'s reference from ``child``."""
    owner_uid = (owner.get("metadata") or {})["uid"]
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
                         "uid": (child.get("metadata") or {})["uid"]}}


def claim(owner: Obj, selector: selectors.LabelSelector, child: Obj) -> Claim:
    """What a controller should do about a candidate child (upstream ClaimObject's decision table).

    ``keep``: ours and still matching. ``release``: ours but no longer matching. ``adopt``: an
    orphan that matches, while neither side is being deleted. ``ignore``: anything else, including
    objects another controller owns.
    """
    owner_meta = owner.get("metadata") or {}
    child_meta = child.get("metadata") or {}
    matches = selector.matches(child_meta.get("labels"))
    ref = controller_of(child)
    if ref is not None:
        if ref.get("uid") != owner_meta.get("uid"):
            return "ignore"
        if matches:
            return "keep"
        return "ignore" if owner_meta.get("deletionTimestamp") else "release"
    if owner_meta.get("deletionTimestamp") or not matches:
        return "ignore"
    if child_meta.get("deletionTimestamp"):
        return "ignore"
    if child_meta.get("namespace") != owner_meta.get("namespace"):
        return "ignore"
    return "adopt"

"""ControllerRevisions: the snapshots of a pod template that StatefulSets and DaemonSets roll between.

As upstream's ``pkg/controller/history``: a revision is named ``<parent>-<hash>``, where the hash
covers the revision's data and the parent's ``collisionCount``; when a different revision already
holds that name, the parent's collisionCount is bumped and the hash changes. A revision equal to an
existing one reuses it (moving it to the newest revision number), so rolling back does not pile up
copies. Pods carry the revision in their ``controller-revision-hash`` label.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import orjson

from navarch.client.errors import is_already_exists
from navarch.client.rest import Client
from navarch.machinery.controllerref import new_controller_ref

Obj = Mapping[str, Any]

REVISION_HASH_LABEL = "controller-revision-hash"
# The alphabet upstream's rand.SafeEncodeString uses: no vowels (no words) and no confusable digits.
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in text)


def hash_revision(data: Any, collision_count: int | None) -> str:
    """A short, stable, label-safe hash of revision data (upstream HashControllerRevision)."""
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        raw += str(collision_count).encode()
    return safe_encode(str(fnv32a(raw)))


def template_patch(template: Obj) -> dict[str, Any]:
    """The data StatefulSet and DaemonSet revisions store: a strategic-merge patch replacing the
    template, so applying a revision restores the template exactly."""
    tpl = copy.deepcopy(dict(template))
    tpl["$patch"] = "replace"
    return {"spec": {"template": tpl}}


def revision_name(parent: Obj, hash_: str) -> str:
    prefix = (parent.get("metadata") or {})["name"]
    # Names are DNS subdomains; upstream trims the prefix so the hash always fits.
    return f"{prefix[:253 - 1 - len(hash_)]}-{hash_}"


def new_revision(parent: Obj, kind: str, api_version: str, data: Any, revision: int,
                 collision_count: int | None, labels: Mapping[str, str]) -> dict[str, Any]:
    hash_ = hash_revision(data, collision_count)
    pmeta = parent.get("metadata") or {}
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": revision_name(parent, hash_), "namespace": pmeta.get("namespace"),
                     "labels": {**labels, REVISION_HASH_LABEL: hash_},
                     "ownerReferences": [new_controller_ref(parent, kind, api_version)]},
        "data": data, "revision": revision,
    }


def revision_number(rev: Obj) -> int:
    return int(rev.get("revision") or 0)


def sort_revisions(revisions: list[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name (upstream's tie-breaks)."""
    return sorted(revisions, key=lambda r: (revision_number(r),
                                            (r.get("metadata") or {}).get("creationTimestamp") or "",
                                            (r.get("metadata") or {}).get("name") or ""))


def next_revision_number(revisions: list[Obj]) -> int:
    return max((revision_number(r) for r in revisions), default=0) + 1


def equal_revisions(revisions: list[Obj], candidate: Obj) -> list[Obj]:
    """Revisions holding exactly the candidate's data (compared after the hash label matches)."""
    want = ((candidate.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_LABEL)
    return [r for r in revisions
            if ((r.get("metadata") or {}).get("labels") or {}).get(REVISION_HASH_LABEL) == want
            and r.get("data") == candidate.get("data")]


async def create_revision(client: Client, parent: Obj, kind: str, api_version: str, data: Any,
                          revision: int, collision_count: int, labels: Mapping[str, str],
                          existing: list[Obj]) -> tuple[dict[str, Any], int]:
    """Store a new revision; returns it and the collision count that produced its name.

    A name held by a revision with other data is a hash collision: bump the count and try again.
    A name held by the same data (created by an earlier sync whose cache has not caught up) is ours.
    """
    known = {(r.get("metadata") or {}).get("name"): r for r in existing}
    for _ in range(100):
        body = new_revision(parent, kind, api_version, data, revision, collision_count, labels)
        name = body["metadata"]["name"]
        clash = known.get(name)
        if clash is not None:
            if clash.get("data") == data:
                return dict(clash), collision_count
            collision_count += 1
            continue
        try:
            return await client.create("apps/v1/controllerrevisions", body, body["metadata"]["namespace"]), \
                collision_count
        except Exception as e:
            if not is_already_exists(e):
                raise
            found = await client.get("apps/v1/controllerrevisions", name, body["metadata"]["namespace"])
            if found.get("data") == data:
                return found, collision_count
            known[name] = found
            collision_count += 1
    raise RuntimeError("could not find a free ControllerRevision name after 100 collisions")

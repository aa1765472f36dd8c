"""RFC 7386 JSON merge patch (``application/merge-patch+json``).

Follows evanphx/json-patch's ``MergePatch`` as the API server uses it: ``null`` deletes a key, objects
merge recursively, anything else replaces; nulls are pruned from objects that are added (but kept as
array elements); a patch that is ``null`` or a scalar is "Invalid JSON Patch" (400), and an array
replaces the whole document, which then fails to decode as an object (422).
"""

from __future__ import annotations

from typing import Any

from navarch.api import errors
from navarch.apiserver.patching import jsondoc


def merge_patch(doc: dict[str, Any], patch_bytes: bytes | str, *, owned: bool = False) -> dict[str, Any]:
    patch = jsondoc.decode(patch_bytes)
    if isinstance(patch, list):
        raise jsondoc.not_an_object(prune_nulls(patch))
    if not isinstance(patch, dict):
        raise errors.bad_request("Invalid JSON Patch")
    return merge_objects(doc if owned else jsondoc.copy(doc), patch)


def merge_objects(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge ``patch`` into ``target`` (which the caller owns and which is changed in place)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
            continue
        current = target.get(key)
        if isinstance(current, dict):
            # Upstream keeps a non-object patch value as sent here (no pruning).
            target[key] = merge_objects(current, value) if isinstance(value, dict) else value
        else:
            target[key] = prune_nulls(value)
    return target


def prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value

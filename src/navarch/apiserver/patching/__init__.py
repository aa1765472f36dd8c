"""Patch application: the three patch types a PATCH request can carry besides server-side apply.

Each function takes the current object as a plain JSON dict and the request body as bytes, returns a
new dict (the input is never changed) and raises ``StatusError`` for a bad patch with the code
upstream's handler (``pkg/endpoints/handlers/patch.go``) answers. Nothing here does I/O; this package
imports only ``navarch.api`` and its own modules.

Callers should, as upstream does, refuse ``application/strategic-merge-patch+json`` for custom resources
(415) before calling, and handle ``application/apply-patch+yaml`` (server-side apply) themselves.
"""

from __future__ import annotations

from typing import Any

from navarch.api import errors
from navarch.api.schema import Schema
from navarch.apiserver.patching.json_patch import json_patch
from navarch.apiserver.patching.merge_patch import merge_patch
from navarch.apiserver.patching.strategic import strategic_merge_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH_YAML = "application/apply-patch+yaml"

PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

__all__ = [
    "APPLY_PATCH_YAML", "JSON_PATCH", "MERGE_PATCH", "PATCH_TYPES", "STRATEGIC_MERGE_PATCH",
    "apply_patch", "json_patch", "media_type", "merge_patch", "strategic_merge_patch",
    "unsupported_patch_type",
]


def media_type(content_type: str) -> str:
    """The content type without parameters (``; charset=utf-8``), as upstream compares it."""
    return content_type.split(";", 1)[0].strip().lower()


def unsupported_patch_type(content_type: str, accepted: tuple[str, ...] = PATCH_TYPES) -> errors.StatusError:
    """415 with upstream's wording for PATCH (it lists the patch types, not the body formats)."""
    return errors.StatusError(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got \"{content_type}\")")


def apply_patch(content_type: str, doc: dict[str, Any], body: bytes | str, schema: Schema | None,
                definition: str | None, *, owned: bool = False) -> dict[str, Any]:
    """Apply a JSON, merge or strategic merge patch according to the request's Content-Type.

    ``doc`` is left untouched unless ``owned`` (the caller's private copy, which the merge patches
    may then change in place instead of copying it once more)."""
    kind = media_type(content_type)
    if kind == JSON_PATCH:
        return json_patch(doc, body)
    if kind == MERGE_PATCH:
        return merge_patch(doc, body, owned=owned)
    if kind == STRATEGIC_MERGE_PATCH:
        return strategic_merge_patch(doc, body, schema, definition, owned=owned)
    raise unsupported_patch_type(content_type)

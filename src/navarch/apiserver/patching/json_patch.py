"""RFC 6902 JSON patch (``application/json-patch+json``), as upstream's handler applies it.

The ``jsonpatch`` package does the work. Upstream's split of errors is kept: a body that is not a list of
operation objects is a 400, more than 10000 operations a 413, and any operation that fails (a ``test``
that does not match, a missing path, an unknown op) a 422.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer

from navarch.api import errors
from navarch.apiserver.patching import jsondoc

MAX_OPERATIONS = 10000


def json_patch(doc: dict[str, Any], patch_bytes: bytes | str) -> dict[str, Any]:
    ops = jsondoc.decode(patch_bytes)
    if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
        raise errors.bad_request(
            "error decoding patch: a JSON patch must be a JSON array of operation objects")
    if len(ops) > MAX_OPERATIONS:
        raise errors.StatusError(
            413, "RequestEntityTooLarge",
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}")
    try:
        patched = jsonpatch.JsonPatch(ops).apply(doc, in_place=False)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
        raise jsondoc.unprocessable(_upstream_message(doc, ops) or str(exc)) from None
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        # The library lets a few of these through for odd paths (e.g. into a string).
        raise jsondoc.unprocessable(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(patched, dict):
        raise jsondoc.not_an_object(patched)
    return patched


def _upstream_message(doc: dict[str, Any], ops: list[dict[str, Any]]) -> str | None:
    """The failing operation described in the words of the Go library upstream uses."""
    current: Any = doc
    for op in ops:
        try:
            current = jsonpatch.JsonPatch([op]).apply(current, in_place=False)
        except jsonpatch.JsonPatchTestFailed:
            return f"testing value {op.get('path')} failed: test failed"
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException):
            name = op.get("op", "")
            return f'{name} operation does not apply: doc is missing path: "{op.get("path")}": missing value'
        except Exception:
            return None
    return None

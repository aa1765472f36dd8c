"""JSON values as the patch code handles them: decoding a body, copying, comparing.

Patches never touch the caller's document, so every patch type starts from ``copy``; ``same`` compares
the way Go compares decoded ``interface{}`` values, where ``1``, ``1.0`` and ``true`` are different.
"""

from __future__ import annotations

from typing import Any

import orjson

from navarch.api import errors


def decode(body: bytes | str) -> Any:
    """The body as JSON; kubectl turns YAML into JSON before sending, so anything else is a 400."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"error decoding patch: {exc}") from None


def copy(value: Any) -> Any:
    """A deep copy of a document decoded from JSON (a stored object, a request body). An orjson
    encode and decode does it in C, ~5x faster than a walk in Python; what orjson refuses (an
    integer past 64 bits) is walked."""
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return _copy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def show(value: Any) -> str:
    """A value inside an error message (compact JSON, never failing)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def unprocessable(detail: str) -> errors.StatusError:
    """The 422 upstream answers for a patch that is well-formed but cannot be applied.

    Upstream's message is only "the server rejected our request due to an error in our request"; the
    detail is appended so that clients can tell what went wrong.
    """
    return errors.StatusError(
        422, "Invalid", f"the server rejected our request due to an error in our request: {detail}")


def not_an_object(patched: Any) -> errors.StatusError:
    """Upstream decodes the patched JSON into the kind's type, which fails unless it is an object."""
    kind = "array" if isinstance(patched, list) else type(patched).__name__
    return errors.invalid("", "", "", [errors.field_invalid(
        "patch", show(patched), f"cannot unmarshal {kind} into an object")])

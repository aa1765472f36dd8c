"""Failures the API server answers, as the ``Status`` it sent.

Callers branch on ``reason``/``code`` exactly as client-go's ``apierrors.IsNotFound`` and friends do,
so a controller written against upstream semantics reads the same here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

# Upstream's fallback reasons for responses that carry no Status body (client-go
# newUnstructuredResponseError), so ``reason`` is always meaningful.
_REASONS = MappingProxyType({
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
    406: "NotAcceptable", 409: "Conflict", 410: "Gone", 413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
    503: "ServiceUnavailable", 504: "Timeout",
})
_MESSAGES = MappingProxyType({
    404: "the server could not find the requested resource",
    401: "the server has asked for the client to provide credentials",
    403: "forbidden",
    429: "the server has received too many requests and has asked us to try again later",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted, but may still be processing the request",
})


class ApiError(Exception):
    """A failure ``Status`` from the API server; ``status`` is the dict as received."""

    def __init__(self, status: Mapping[str, Any]) -> None:
        self.status: dict[str, Any] = dict(status)
        super().__init__(f"{self.code} {self.reason}: {self.message}")

    @classmethod
    def from_response(cls, code: int, body: bytes, decoded: Any = None) -> "ApiError":
        """Prefer the server's Status; otherwise synthesise one as client-go does for bare bodies."""
        if isinstance(decoded, dict) and decoded.get("kind") == "Status":
            status = dict(decoded)
            status.setdefault("code", code)
            return cls(status)
        text = body.decode("utf-8", "replace").strip()
        message = _MESSAGES.get(code) or text or f"the server responded with status {code}"
        if text and code in _MESSAGES:
            message = f"{message} ({text[:200]})"
        return cls({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "code": code, "reason": _REASONS.get(code, "Unknown" if code < 500 else "InternalError"),
                    "message": message})

    @property
    def code(self) -> int:
        return int(self.status.get("code") or 0)

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.status.get("message") or "")

    @property
    def details(self) -> dict[str, Any]:
        return dict(self.status.get("details") or {})

    @property
    def retry_after_seconds(self) -> int:
        return int(self.details.get("retryAfterSeconds") or 0)


def _is(err: BaseException, code: int, *reasons: str) -> bool:
    if not isinstance(err, ApiError):
        return False
    if err.reason and err.reason in reasons:
        return True
    # A Status without a reason (or with an unknown one) is judged by its code, as upstream.
    return err.code == code and (not err.reason or err.reason not in _KNOWN_REASONS)


_KNOWN_REASONS = frozenset(_REASONS.values()) | {"AlreadyExists", "Expired"}


def is_not_found(err: BaseException) -> bool:
    return _is(err, 404, "NotFound")


def is_already_exists(err: BaseException) -> bool:
    return _is(err, 409, "AlreadyExists")


def is_conflict(err: BaseException) -> bool:
    return _is(err, 409, "Conflict")


def is_gone(err: BaseException) -> bool:
    """410: a watch or list asked for history the server no longer keeps (``Gone`` or ``Expired``)."""
    return _is(err, 410, "Gone", "Expired")


def is_invalid(err: BaseException) -> bool:
    return _is(err, 422, "Invalid")


def is_forbidden(err: BaseException) -> bool:
    return _is(err, 403, "Forbidden")


def is_too_many_requests(err: BaseException) -> bool:
    return _is(err, 429, "TooManyRequests")

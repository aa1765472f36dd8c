"""TokenReview (``authentication.k8s.io/v1``): who a bearer token belongs to, for webhooks and
aggregated servers, answered with the same authenticators requests go through (upstream's
pkg/registry/authentication/tokenreview)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from navarch.api import errors

if TYPE_CHECKING:
    from navarch.apiserver.handlers import ResourceAPI


async def token_review(api: ResourceAPI, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` is the decoded TokenReview; returns it with ``status`` filled."""
    from navarch.apiserver.tokens.jwt import InvalidToken

    spec = obj.get("spec") or {}
    token = spec.get("token") or ""
    if not token:
        raise errors.bad_request("token is required for TokenReview in authentication")
    audiences = [str(a) for a in spec.get("audiences") or []]
    status: dict[str, Any] = {"user": {}}
    authn = api.authenticator
    try:
        found = authn.review_token(token, audiences) if authn is not None else None
    except InvalidToken as e:
        status["error"] = f"[invalid bearer token, {e}]"
        found = None
    if found is not None:
        user = found.user
        info: dict[str, Any] = {"username": user.get("username", "")}
        if user.get("uid"):
            info["uid"] = user["uid"]
        info["groups"] = list(user.get("groups") or [])
        if user.get("extra"):
            info["extra"] = {k: list(v) for k, v in user["extra"].items()}
        status = {"authenticated": True, "user": info}
        if found.audiences:
            status["audiences"] = list(found.audiences)
    obj["status"] = status
    return obj

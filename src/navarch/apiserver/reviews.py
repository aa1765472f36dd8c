"""The review kinds, answered and never stored: SelfSubjectReview, access reviews, TokenReview.

Until RBAC lands every authenticated user may do everything, so access reviews say so; the answers
already have upstream's shapes so that ``kubectl auth can-i`` and ``auth whoami`` work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from navarch.api import errors
from navarch.apiserver import codec

if TYPE_CHECKING:
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI


async def answer(api: "ResourceAPI", info: "RequestInfo") -> dict[str, Any]:
    from navarch.apiserver.handlers import _read_body, now_rfc3339

    r = info.resource
    body = await _read_body(info.request)
    obj = codec.decode_object(body, info.request.headers.get("Content-Type"), info.resource.kind)
    api._check_body_identity(info, obj)
    user = info.user or {"username": "system:anonymous", "groups": ["system:unauthenticated"]}
    obj["metadata"].setdefault("creationTimestamp", None)
    kind = r.kind
    if kind == "SelfSubjectReview":
        info_out = {"username": user["username"], "groups": user.get("groups", [])}
        if user.get("uid"):
            info_out["uid"] = user["uid"]
        if user.get("extra"):
            info_out["extra"] = user["extra"]
        obj["status"] = {"userInfo": info_out}
    elif kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        spec = obj.get("spec") or {}
        if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
            raise errors.invalid(kind, r.group, "", [errors.Cause(
                "FieldValueRequired", "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
                "spec.resourceAttributes")])
        obj["status"] = {"allowed": True, "reason": "navarch authorizes every authenticated user (RBAC is not enabled yet)"}
    elif kind == "SelfSubjectRulesReview":
        obj["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    elif kind == "TokenReview":
        obj["status"] = {"authenticated": False, "error": "token authentication is not enabled in navarch yet"}
    del now_rfc3339
    return obj

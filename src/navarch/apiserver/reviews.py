"""The review kinds, answered and never stored: SelfSubjectReview (``kubectl auth whoami``),
SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectAccessReview (``kubectl auth can-i``),
SelfSubjectRulesReview (``kubectl auth can-i --list``), and TokenReview.

Access reviews ask the same authorizer chain requests go through (upstream's
``pkg/registry/authorization``); TokenReview is answered by ``tokenreview.token_review``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from navarch.api import errors
from navarch.apiserver import codec
from navarch.apiserver.authz.attributes import (
    Attributes,
    non_resource_attributes,
    resource_attributes,
)
from navarch.apiserver.authz.decision import ALLOW, DENY

if TYPE_CHECKING:
    from navarch.apiserver.authz.authorizer import Authorizer
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI

ANONYMOUS = {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


async def answer(api: ResourceAPI, info: RequestInfo) -> dict[str, Any]:
    from navarch.apiserver.handlers import _read_body

    r = info.resource
    body = await _read_body(info.request)
    obj = codec.decode_object(body, info.request.headers.get("Content-Type"), info.resource.kind)
    api._check_body_identity(info, obj)
    user = info.user or ANONYMOUS
    obj.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    kind = r.kind
    authorizer: Authorizer | None = getattr(api, "authorizer", None)
    if kind == "SelfSubjectReview":
        obj["status"] = {"userInfo": _user_info(user)}
    elif kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        obj["status"] = _access_review(kind, r.group, obj, user, info.namespace or "", authorizer)
    elif kind == "SelfSubjectRulesReview":
        obj["status"] = _rules_review(obj, user, authorizer)
    elif kind == "TokenReview":
        return await _token_review(api, obj)
    return obj


def _user_info(user: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.get("username", "")}
    if user.get("uid"):
        out["uid"] = user["uid"]
    out["groups"] = list(user.get("groups") or [])
    if user.get("extra"):
        out["extra"] = {k: list(v) for k, v in user["extra"].items()}
    return out


def _invalid(kind: str, group: str, name: str, path: str, value: Any, detail: str) -> errors.StatusError:
    return errors.invalid(kind, group, name, [errors.field_invalid(path, value, detail)])


def _access_review(kind: str, group: str, obj: dict[str, Any], user: dict[str, Any], namespace: str,
                   authorizer: Authorizer | None) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if ra is not None and nra is not None:
        raise _invalid(kind, group, name, "spec.nonResourceAttributes", nra,
                       "cannot be specified in combination with resourceAttributes")
    if ra is None and nra is None:
        raise _invalid(kind, group, name, "spec.resourceAttributes", None,
                       "exactly one of nonResourceAttributes or resourceAttributes must be specified")
    if kind == "SelfSubjectAccessReview":
        who, groups = str(user.get("username") or ""), tuple(user.get("groups") or ())
    else:
        who, groups = str(spec.get("user") or ""), tuple(str(g) for g in spec.get("groups") or ())
        if not who and not groups:
            raise _invalid(kind, group, name, "spec.user", who, "at least one of user or group must be specified")
    if kind == "LocalSubjectAccessReview":
        if nra is not None:
            raise _invalid(kind, group, name, "spec.nonResourceAttributes", nra, "disallowed on this kind of request")
        if (ra or {}).get("namespace", "") != namespace:
            raise _invalid(kind, group, name, "spec.resourceAttributes.namespace", (ra or {}).get("namespace", ""),
                           "must match metadata.namespace")
    if ra is not None:
        a: Attributes = resource_attributes(
            who, groups, str(ra.get("verb") or ""), group=str(ra.get("group") or ""),
            version=str(ra.get("version") or ""), resource=str(ra.get("resource") or ""),
            subresource=str(ra.get("subresource") or ""), namespace=str(ra.get("namespace") or ""),
            name=str(ra.get("name") or ""))
    else:
        nra = nra or {}
        a = non_resource_attributes(who, groups, str(nra.get("verb") or ""), str(nra.get("path") or ""))
    if authorizer is None:
        return {"allowed": True}
    decision, reason = authorizer.authorize(a)
    status: dict[str, Any] = {"allowed": decision == ALLOW}
    if decision == DENY:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    return status


def _rules_review(obj: dict[str, Any], user: dict[str, Any], authorizer: Authorizer | None) -> dict[str, Any]:
    namespace = str((obj.get("spec") or {}).get("namespace") or "")
    if not namespace:
        raise errors.bad_request("no namespace on request")
    if authorizer is None:
        return {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    found = authorizer.rules_for(str(user.get("username") or ""), tuple(user.get("groups") or ()), namespace)
    status: dict[str, Any] = {
        "resourceRules": [r.to_dict() for r in found.resource_rules],
        "nonResourceRules": [r.to_dict() for r in found.non_resource_rules],
        "incomplete": found.incomplete,
    }
    if found.error:
        status["evaluationError"] = found.error
    return status


async def _token_review(api: ResourceAPI, obj: dict[str, Any]) -> dict[str, Any]:
    try:
        from navarch.apiserver.tokenreview import token_review
    except ImportError:
        obj["status"] = {"authenticated": False, "error": "token authentication is not enabled in navarch yet"}
        return obj
    return await token_review(api, obj)

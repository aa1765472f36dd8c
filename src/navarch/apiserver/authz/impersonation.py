"""``Impersonate-*`` headers (``kubectl --as``), as upstream's ``filters/impersonation.go``: each
thing asked for (user or service account, groups, uid, extra values) must be allowed to the real
user with verb ``impersonate``; then the request runs as the impersonated user.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

from navarch.api import errors
from navarch.apiserver.authz.attributes import (
    Attributes,
    resource_attributes,
    user_groups,
    user_name,
)
from navarch.apiserver.authz.decision import ALLOW, Decision
from navarch.apiserver.authz.messages import forbidden

USER_HEADER = "Impersonate-User"
UID_HEADER = "Impersonate-Uid"
GROUP_HEADER = "Impersonate-Group"
EXTRA_PREFIX = "impersonate-extra-"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
ANONYMOUS = "system:anonymous"
SA_PREFIX = "system:serviceaccount:"


def _split_service_account(username: str) -> tuple[str, str] | None:
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX):].split(":")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def _describe(kind: str, namespace: str = "", name: str = "", api_version: str = "", field_path: str = "") -> str:
    # Go's %v of a v1.ObjectReference: its seven string fields, space-separated, in braces.
    return "{" + f"{kind} {namespace} {name}  {api_version}  {field_path}" + "}"


def requested(headers: Mapping[str, str]) -> bool:
    return any(k.lower().startswith("impersonate-") for k in headers)


def impersonate(authorize: Callable[[Attributes], Decision], headers: Any,
                requestor: Mapping[str, Any]) -> dict[str, Any] | None:
    """The user to act as, or None when the request impersonates nobody. Raises 403 (upstream's
    message for the first thing not allowed) or 500 for groups/extra/uid without a user."""
    wanted_user = headers.get(USER_HEADER, "")
    wanted_uid = headers.get(UID_HEADER, "")
    wanted_groups = [g for g in headers.getall(GROUP_HEADER, [])] if hasattr(headers, "getall") else \
        ([headers[GROUP_HEADER]] if GROUP_HEADER in headers else [])
    extras: list[tuple[str, str]] = []
    for key in headers:
        if key.lower().startswith(EXTRA_PREFIX):
            extra_key = unquote(key[len(EXTRA_PREFIX):].lower())
            values = headers.getall(key, []) if hasattr(headers, "getall") else [headers[key]]
            extras.extend((extra_key, v) for v in values if (extra_key, v) not in extras)
    if not wanted_user and not wanted_groups and not extras and not wanted_uid:
        return None

    # Each request: (attributes to authorize, how upstream's error lists it).
    checks: list[tuple[dict[str, str], str]] = []
    sa = _split_service_account(wanted_user) if wanted_user else None
    if wanted_user:
        if sa is not None:
            checks.append(({"resource": "serviceaccounts", "namespace": sa[0], "name": sa[1]},
                           _describe("ServiceAccount", sa[0], sa[1])))
        else:
            checks.append(({"resource": "users", "name": wanted_user}, _describe("User", name=wanted_user)))
    for g in wanted_groups:
        checks.append(({"resource": "groups", "name": g}, _describe("Group", name=g)))
    for key, value in extras:
        checks.append(({"group": "authentication.k8s.io", "resource": "userextras", "subresource": key,
                        "name": value}, _describe("UserExtra", name=value, api_version="authentication.k8s.io/v1",
                                                  field_path=key)))
    if wanted_uid:
        checks.append(({"group": "authentication.k8s.io", "resource": "uids", "name": wanted_uid},
                       _describe("UID", name=wanted_uid, api_version="authentication.k8s.io/v1")))
    if not wanted_user:
        shown = "[" + " ".join(d for _, d in checks) + "]"
        raise errors.internal(f"requested {shown} without impersonating a user")

    real_name, real_groups = user_name(requestor), user_groups(requestor)
    for attrs, _ in checks:
        a = resource_attributes(real_name, real_groups, "impersonate", **attrs)
        decision, reason = authorize(a)
        if decision != ALLOW:
            raise forbidden(a, reason)

    groups: list[str] = list(wanted_groups)
    if sa is not None and not wanted_groups:
        groups = ["system:serviceaccounts", f"system:serviceaccounts:{sa[0]}"]
    if wanted_user != ANONYMOUS:
        if AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
    elif UNAUTHENTICATED not in groups:
        groups.append(UNAUTHENTICATED)
    user: dict[str, Any] = {"username": wanted_user, "groups": groups}
    if wanted_uid:
        user["uid"] = wanted_uid
    if extras:
        extra: dict[str, list[str]] = {}
        for key, value in extras:
            extra.setdefault(key, []).append(value)
        user["extra"] = extra
    return user

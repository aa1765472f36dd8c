"""Authorization attributes: what a request asks to do, read from its URL as upstream's
RequestInfoFactory reads it (``staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go``).

The attributes come from the path alone, before routing, so that a user without rights gets 403 for
a resource that does not exist rather than learning from a 404 that it does not, as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Verbs that come before the resource in old URLs (/api/v1/watch/pods, /api/v1/proxy/nodes/n).
_SPECIAL_VERBS = frozenset({"proxy", "watch"})
# After a special verb, a third path part is part of the proxied path, not a subresource.
_SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
# /api/v1/namespaces/{name}/{these}: subresources of the namespace, not resources in it.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
_METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Attributes:
    """One question for the authorizer: may ``user`` (in ``groups``) do ``verb`` to this?"""

    user: str
    groups: tuple[str, ...]
    verb: str
    resource_request: bool
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    # The raw fieldSelector of list/watch requests: the node authorizer accepts a kubelet's pod
    # list only when it is scoped to ``spec.nodeName`` of that kubelet.
    field_selector: str = ""

    def decision_key(self) -> tuple[Any, ...]:
        """What a decision depends on (the field selector matters only to the node authorizer,
        whose answers are not cached)."""
        if self.resource_request:
            return (self.user, self.groups, self.verb, self.api_group, self.resource, self.subresource,
                    self.namespace, self.name)
        return (self.user, self.groups, self.verb, None, self.path)


def user_name(user: Mapping[str, Any]) -> str:
    return str(user.get("username") or "")


def user_groups(user: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(user.get("groups") or ())


def split_path(path: str) -> list[str]:
    trimmed = path.strip("/")
    return trimmed.split("/") if trimmed else []


def from_request(method: str, path: str, query: Mapping[str, str], user: Mapping[str, Any]) -> Attributes:
    """The attributes of an HTTP request, as upstream's RequestInfoFactory computes them."""
    name, groups = user_name(user), user_groups(user)
    parts = split_path(path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return Attributes(name, groups, method.lower(), False, path=path)
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return Attributes(name, groups, method.lower(), False, path=path)
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in _SPECIAL_VERBS:
        if len(parts) < 2:
            # Upstream answers an error here; as a path it is at least denied consistently.
            return Attributes(name, groups, method.lower(), False, path=path)
        verb, parts = parts[0], parts[1:]
    else:
        verb = _METHOD_VERBS.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    obj_name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb not in _SPECIAL_VERBS_NO_SUBRESOURCES else ""
    selector = ""
    if not obj_name and verb == "get":
        verb = "watch" if query.get("watch") in ("true", "1") else "list"
    if not obj_name and verb in ("list", "watch"):
        selector = query.get("fieldSelector") or ""
        pinned = exact_match(selector, "metadata.name")
        if pinned and _valid_path_segment(pinned):
            obj_name = pinned
    if not obj_name and verb == "delete":
        verb = "deletecollection"
    return Attributes(name, groups, verb, True, group, version, resource, subresource, namespace, obj_name,
                      path=path, field_selector=selector)


def resource_attributes(user: str, groups: tuple[str, ...], verb: str, *, group: str = "", version: str = "",
                        resource: str = "", subresource: str = "", namespace: str = "",
                        name: str = "") -> Attributes:
    return Attributes(user, groups, verb, True, group, version, resource, subresource, namespace, name)


def non_resource_attributes(user: str, groups: tuple[str, ...], verb: str, path: str) -> Attributes:
    return Attributes(user, groups, verb, False, path=path)


def field_requirements(selector: str) -> list[tuple[str, str, str]]:
    """``a=b,c!=d`` as (field, operator, value) triples; operators ``=`` (also ``==``) and ``!=``."""
    out: list[tuple[str, str, str]] = []
    for term in selector.split(","):
        term = term.strip()
        if not term:
            continue
        if "!=" in term:
            f, _, v = term.partition("!=")
            out.append((f.strip(), "!=", v.strip()))
        elif "==" in term:
            f, _, v = term.partition("==")
            out.append((f.strip(), "=", v.strip()))
        elif "=" in term:
            f, _, v = term.partition("=")
            out.append((f.strip(), "=", v.strip()))
    return out


def exact_match(selector: str, field: str) -> str:
    """The value a selector pins ``field`` to, or ``""`` (upstream's RequiresExactMatch)."""
    for f, op, v in field_requirements(selector):
        if f == field and op == "=":
            return v
    return ""


def _valid_path_segment(name: str) -> bool:
    return name not in (".", "..") and "/" not in name and "%" not in name

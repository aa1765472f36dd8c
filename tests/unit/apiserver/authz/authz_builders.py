"""Small builders for the authorization tests."""

from __future__ import annotations

from typing import Any

from navarch.apiserver.authz.attributes import (
    Attributes,
    non_resource_attributes,
    resource_attributes,
)

RBAC = "rbac.authorization.k8s.io"


def rule(verbs: list[str], groups: list[str] | None = None, resources: list[str] | None = None,
         names: list[str] | None = None, urls: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"verbs": verbs}
    if groups is not None:
        out["apiGroups"] = groups
    if resources is not None:
        out["resources"] = resources
    if names:
        out["resourceNames"] = names
    if urls:
        out["nonResourceURLs"] = urls
    return out


def cluster_role(name: str, *rules: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": list(rules)}


def role(ns: str, name: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Role", "metadata": {"name": name, "namespace": ns}, "rules": list(rules)}


def subject(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    s = {"kind": kind, "name": name}
    if namespace:
        s["namespace"] = namespace
    return s


def cluster_binding(name: str, role_name: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role_name}, "subjects": list(subjects)}


def binding(ns: str, name: str, role_kind: str, role_name: str, *subjects: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "RoleBinding", "metadata": {"name": name, "namespace": ns},
            "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role_name}, "subjects": list(subjects)}


def res(verb: str, resource: str, *, user: str = "jane", groups: tuple[str, ...] = ("system:authenticated",),
        group: str = "", namespace: str = "", name: str = "", sub: str = "") -> Attributes:
    return resource_attributes(user, groups, verb, group=group, resource=resource, subresource=sub,
                               namespace=namespace, name=name)


def path(verb: str, p: str, *, user: str = "jane", groups: tuple[str, ...] = ("system:authenticated",)) -> Attributes:
    return non_resource_attributes(user, groups, verb, p)

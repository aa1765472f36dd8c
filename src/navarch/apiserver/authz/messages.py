"""The 403 a denied request gets, worded as upstream's ``responsewriters.Forbidden`` and
``apierrors.NewForbidden`` word it, e.g. ``pods is forbidden: User "jane" cannot list resource
"pods" in API group "" in the namespace "dev"``."""

from __future__ import annotations

from navarch.api import errors
from navarch.apiserver.authz.attributes import Attributes
from navarch.apiserver.authz.decision import go_quote


def forbidden_message(a: Attributes) -> str:
    user = go_quote(a.user)
    if not a.resource_request:
        return f"User {user} cannot {a.verb} path {go_quote(a.path)}"
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f"in the namespace {go_quote(a.namespace)}" if a.namespace else "at the cluster scope"
    return f"User {user} cannot {a.verb} resource {go_quote(resource)} in API group {go_quote(a.api_group)} {where}"


def new_forbidden(resource: str, group: str, name: str, detail: str) -> errors.StatusError:
    """``apierrors.NewForbidden(GroupResource{group, resource}, name, detail)``."""
    if not resource and not group:
        message = f"forbidden: {detail}"
    elif not name:
        message = f"{errors.qualified(resource, group)} is forbidden: {detail}"
    else:
        message = f"{errors.qualified(resource, group)} {go_quote(name)} is forbidden: {detail}"
    return errors.StatusError(403, "Forbidden", message, name=name, group=group, kind=resource)


def forbidden(a: Attributes, reason: str = "") -> errors.StatusError:
    detail = forbidden_message(a)
    if reason:
        detail = f"{detail}: {reason}"
    return new_forbidden(a.resource, a.api_group, a.name, detail)

"""NamespaceLifecycle: no new objects in a namespace that does not exist or is being terminated."""

from __future__ import annotations

from navarch.api import errors
from navarch.apiserver.admission import Attributes

NAME = "NamespaceLifecycle"


async def validate(a: Attributes) -> None:
    if a.operation != "CREATE" or not a.resource.namespaced or not a.namespace:
        return
    if a.resource.plural in ("subjectaccessreviews", "localsubjectaccessreviews",
                             "selfsubjectrulesreviews", "selfsubjectaccessreviews"):
        return
    ns = await a.lookup("namespaces", None, a.namespace)
    if ns is None:
        raise errors.not_found("namespaces", "", a.namespace)
    if ns.get("metadata", {}).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
        r = a.resource
        err = errors.forbidden(
            f'{r.plural} "{a.name}" is forbidden: unable to create new content in namespace {a.namespace} '
            f"because it is being terminated", r.plural, r.group, a.name)
        err.causes = [errors.Cause("NamespaceTerminating", f"namespace {a.namespace} is being terminated",
                                   "metadata.namespace")]
        raise err

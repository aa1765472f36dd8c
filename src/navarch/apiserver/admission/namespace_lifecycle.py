"""NamespaceLifecycle: no new objects in a namespace that does not exist or is being terminated, and
the system namespaces cannot be deleted.

It runs first among the mutating plugins, as upstream's, so a write into a missing namespace is
answered 404 before any other plugin looks at it.
"""

from __future__ import annotations

from navarch.api import errors
from navarch.apiserver.admission import Attributes, forbidden

NAME = "NamespaceLifecycle"
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public")
# Reviews of one's permissions in a namespace must not tell whether that namespace exists.
_ACCESS_REVIEWS = ("subjectaccessreviews", "localsubjectaccessreviews", "selfsubjectrulesreviews",
                   "selfsubjectaccessreviews")


async def admit(a: Attributes) -> None:
    r = a.resource
    is_namespace = r.plural == "namespaces" and not r.group
    if a.operation == "DELETE" and is_namespace and a.name in IMMORTAL_NAMESPACES:
        raise errors.forbidden(f'namespaces "{a.name}" is forbidden: this namespace may not be deleted',
                               "namespaces", "", a.name)
    if is_namespace or not r.namespaced or not a.namespace:
        return
    if a.operation not in ("CREATE", "UPDATE") or r.plural in _ACCESS_REVIEWS:
        return
    ns = await a.lookup("namespaces", None, a.namespace)
    if ns is None:
        raise errors.not_found("namespaces", "", a.namespace)
    if a.operation != "CREATE":
        return
    if ns.get("metadata", {}).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
        err = forbidden(a, f"unable to create new content in namespace {a.namespace} because it is being "
                           "terminated")
        err.causes = [errors.Cause("NamespaceTerminating", f"namespace {a.namespace} is being terminated",
                                   "metadata.namespace")]
        raise err

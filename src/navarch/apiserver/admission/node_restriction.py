"""NodeRestriction: a kubelet may write only its own Node, its own Lease and pods bound to it, as
upstream's ``plugin/pkg/admission/noderestriction``. The node authorizer lets kubelets create and
update nodes and pod status in general (it cannot see the new object); this plugin sees it.

Applies to users ``system:node:<name>`` in group ``system:nodes``; everyone else passes.
"""

from __future__ import annotations

from typing import Any

from navarch.apiserver.admission import Attributes, forbidden

NAME = "NodeRestriction"
_NODE_PREFIX = "system:node:"
_MIRROR = "kubernetes.io/config.mirror"
_RESTRICTED_LABEL_PREFIX = "node-restriction.kubernetes.io/"


def _node_of(user: Any) -> str | None:
    if not isinstance(user, dict):
        return None
    name = str(user.get("username") or "")
    if not name.startswith(_NODE_PREFIX) or "system:nodes" not in (user.get("groups") or ()):
        return None
    return name[len(_NODE_PREFIX):]


def _node_name(pod: dict[str, Any] | None) -> str:
    return str(((pod or {}).get("spec") or {}).get("nodeName") or "")


async def validate(a: Attributes) -> None:
    node = _node_of(a.user)
    if node is None:
        return
    r = a.resource
    if r.group == "" and r.plural == "pods":
        _pod(a, node)
    elif r.group == "" and r.plural == "nodes":
        _node(a, node)
    elif r.group == "coordination.k8s.io" and r.plural == "leases" and a.operation == "CREATE" and a.name != node:
        raise forbidden(a, "can only access node lease with the same name as the requesting node")


def _pod(a: Attributes, node: str) -> None:
    if a.subresource is None and a.operation == "CREATE":
        pod = a.obj or {}
        if _MIRROR not in ((pod.get("metadata") or {}).get("annotations") or {}):
            raise forbidden(a, f'pod does not have "{_MIRROR}" annotation, node "{node}" can only create mirror pods')
        if _node_name(pod) != node:
            raise forbidden(a, f'node "{node}" can only create pods with spec.nodeName set to itself')
    elif a.subresource == "status" and a.operation == "UPDATE" and _node_name(a.old) != node:
        raise forbidden(a, f'node "{node}" can only update pod status for pods with spec.nodeName set to itself')


def _node(a: Attributes, node: str) -> None:
    if a.operation not in ("CREATE", "UPDATE"):
        return
    if a.name != node:
        raise forbidden(a, f'node "{node}" is not allowed to modify node "{a.name}"')
    new_labels = ((a.obj or {}).get("metadata") or {}).get("labels") or {}
    old_labels = ((a.old or {}).get("metadata") or {}).get("labels") or {}
    changed = sorted(k for k in set(new_labels) | set(old_labels)
                     if k.startswith(_RESTRICTED_LABEL_PREFIX) and new_labels.get(k) != old_labels.get(k))
    if changed:
        verb = "set" if a.operation == "CREATE" else "modify"
        raise forbidden(a, f'node "{node}" is not allowed to {verb} the following labels: {", ".join(changed)}')
    if a.operation == "UPDATE" and a.subresource is None and \
            ((a.obj or {}).get("spec") or {}).get("taints") != ((a.old or {}).get("spec") or {}).get("taints"):
        raise forbidden(a, f'node "{node}" is not allowed to modify taints')

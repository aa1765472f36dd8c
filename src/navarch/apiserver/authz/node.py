"""The node authorizer: what a kubelet (user ``system:node:<name>`` in group ``system:nodes``) may
do, as upstream's ``plugin/pkg/auth/authorizer/node/node_authorizer.go`` (with
AuthorizeNodeWithSelectors, on by default since 1.32).

Secrets, configmaps, claims, volumes and service-account tokens are readable only when a pod bound
to the node uses them; its Node object and its Lease only by name; pods only by a list scoped to
``spec.nodeName=<node>`` or a get of a pod bound to it. Everything else is checked against the
static ``system:node`` rules. Denials carry upstream's reasons and leave the last word to RBAC
(the node authorizer never says Deny).
"""

from __future__ import annotations

from collections.abc import Callable

from navarch.apiserver.authz.attributes import Attributes, field_requirements
from navarch.apiserver.authz.decision import ALLOW, NO_OPINION, Decision
from navarch.apiserver.authz.rules import Rule, rules_allow

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"

# (node, resource plural, namespace, name) -> a pod bound to the node uses that object
Related = Callable[[str, str, str, str], bool]


def node_identity(user: str, groups: tuple[str, ...]) -> tuple[str, bool]:
    """(node name, is a node), as upstream's default NodeIdentifier."""
    if not user.startswith(NODE_USER_PREFIX) or NODES_GROUP not in groups:
        return "", False
    return user[len(NODE_USER_PREFIX):], True


class NodeAuthorizer:
    def __init__(self, related: Related, node_rules: tuple[Rule, ...]) -> None:
        self.related = related
        self.node_rules = node_rules

    def authorize(self, a: Attributes) -> Decision:
        node, is_node = node_identity(a.user, a.groups)
        if not is_node:
            return NO_OPINION, ""
        if not node:
            return NO_OPINION, f'unknown node for user "{a.user}"'
        if a.resource_request:
            handler = _HANDLERS.get((a.api_group, a.resource))
            if handler is not None:
                return handler(self, node, a)
        if rules_allow(a, self.node_rules):
            return ALLOW, ""
        return NO_OPINION, ""

    # ----------------------------------------------------------------- per resource
    def _read_namespaced(self, node: str, a: Attributes) -> Decision:
        if a.verb not in ("get", "list", "watch"):
            return NO_OPINION, "can only read resources of this type"
        if a.subresource:
            return NO_OPINION, "cannot read subresource"
        if not a.namespace:
            return NO_OPINION, "can only read namespaced object of this type"
        return self._related(node, a)

    def _get_only(self, node: str, a: Attributes) -> Decision:
        if a.verb != "get":
            return NO_OPINION, "can only get individual resources of this type"
        if a.subresource:
            return NO_OPINION, "cannot get subresource"
        return self._related(node, a)

    def _claims(self, node: str, a: Attributes) -> Decision:
        if a.subresource != "status":
            return self._get_only(node, a)
        if a.verb not in ("update", "patch"):
            return NO_OPINION, "can only get/update/patch this type"
        return self._related(node, a)

    def _related(self, node: str, a: Attributes) -> Decision:
        if not a.name:
            return NO_OPINION, "No Object name found"
        if self.related(node, a.resource, a.namespace, a.name):
            return ALLOW, ""
        return NO_OPINION, f"no relationship found between node '{node}' and this object"

    def _service_account_token(self, node: str, a: Attributes) -> Decision:
        if a.verb != "create" or not a.name:
            return NO_OPINION, "can only create tokens for individual service accounts"
        if a.subresource != "token":
            return NO_OPINION, "can only create token subresource of serviceaccount"
        return self._related(node, a)

    def _lease(self, node: str, a: Attributes) -> Decision:
        if a.verb not in ("get", "create", "update", "patch", "delete"):
            return NO_OPINION, "can only get, create, update, patch, or delete a node lease"
        if a.namespace != NODE_LEASE_NAMESPACE:
            return NO_OPINION, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace'
        # A create has no name yet; NodeRestriction checks the new lease's name.
        if a.verb != "create" and a.name != node:
            return NO_OPINION, "can only access node lease with the same name as the requesting node"
        return ALLOW, ""

    def _csinode(self, node: str, a: Attributes) -> Decision:
        if a.verb not in ("get", "create", "update", "patch", "delete"):
            return NO_OPINION, "can only get, create, update, patch, or delete a CSINode"
        if a.subresource:
            return NO_OPINION, "cannot authorize CSINode subresources"
        if a.verb != "create" and a.name != node:
            return NO_OPINION, "can only access CSINode with the same name as the requesting node"
        return ALLOW, ""

    def _node(self, node: str, a: Attributes) -> Decision:
        if not a.subresource:
            if a.verb in ("create", "update", "patch"):
                return ALLOW, ""  # NodeRestriction limits a node to its own object
            if a.verb in ("get", "list", "watch"):
                if a.name == node:
                    return ALLOW, ""
                if not a.name:
                    return NO_OPINION, f"node '{node}' cannot read all nodes, only its own Node object"
                return NO_OPINION, f"node '{node}' cannot read '{a.name}', only its own Node object"
        elif a.subresource == "status" and a.verb in ("update", "patch"):
            return ALLOW, ""
        return NO_OPINION, ""

    def _pod(self, node: str, a: Attributes) -> Decision:
        sub, verb = a.subresource, a.verb
        if not sub:
            if verb == "get":
                return self._get_only(node, a)
            if verb in ("list", "watch"):
                for f, op, v in field_requirements(a.field_selector):
                    if f == "spec.nodeName" and op == "=" and v == node:
                        return ALLOW, ""
                if a.name:
                    return self._related(node, a)
                return NO_OPINION, "can only list/watch pods with spec.nodeName field selector"
            if verb in ("create", "delete"):
                return ALLOW, ""  # mirror pods; NodeRestriction limits them to the node's own
        elif sub == "status" and verb in ("update", "patch") or sub == "eviction" and verb == "create":
            return ALLOW, ""
        return NO_OPINION, ""


_HANDLERS: dict[tuple[str, str], Callable[[NodeAuthorizer, str, Attributes], Decision]] = {
    ("", "secrets"): NodeAuthorizer._read_namespaced,
    ("", "configmaps"): NodeAuthorizer._read_namespaced,
    ("", "persistentvolumeclaims"): NodeAuthorizer._claims,
    ("", "persistentvolumes"): NodeAuthorizer._get_only,
    ("storage.k8s.io", "volumeattachments"): NodeAuthorizer._get_only,
    ("", "serviceaccounts"): NodeAuthorizer._service_account_token,
    ("coordination.k8s.io", "leases"): NodeAuthorizer._lease,
    ("storage.k8s.io", "csinodes"): NodeAuthorizer._csinode,
    ("", "nodes"): NodeAuthorizer._node,
    ("", "pods"): NodeAuthorizer._pod,
}

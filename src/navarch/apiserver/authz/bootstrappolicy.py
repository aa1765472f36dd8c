"""The default RBAC policy every cluster starts with: upstream's bootstrap policy
(``plugin/pkg/auth/authorizer/rbac/bootstrappolicy``) for the roles users and tools know by name
(cluster-admin, admin, edit, view and their ``aggregate-to-*`` parts, system:basic-user,
system:discovery, system:public-info-viewer, system:node, system:node-bootstrapper, the CSR roles,
system:kube-scheduler, ...), and the bindings that give them to upstream's identities.

Differences, on purpose:
- ``system:kube-controller-manager`` holds everything navarch's controllers do. Upstream gives that
  role only enough to start, and runs each controller with its own service account bound to a
  ``system:controller:<name>`` role; navarch's controller manager runs every controller under its
  one identity, so its role is the union of those per-controller roles (the garbage collector and
  the namespace controller alone need read/update/delete on every resource).
- ``system:kube-scheduler`` may also read PriorityClasses, which navarch's scheduler watches.
- ``system:cloud-controller-manager`` (upstream leaves it to each cloud provider's manifests) is
  given what the cloud controller manager's node, service and route loops need.
Every object carries ``kubernetes.io/bootstrapping=rbac-defaults`` and, for roles and bindings the
server may update on start, ``rbac.authorization.kubernetes.io/autoupdate=true``.
"""

from __future__ import annotations

from typing import Any

from navarch.api.selectors import label_selector_from_object
from navarch.apiserver.authz.rules import Rule, compile_rules

RBAC = "rbac.authorization.k8s.io"
BOOTSTRAP_LABEL = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"


def rule(verbs: list[str], groups: list[str], resources: list[str], names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        out["resourceNames"] = names
    return out


def urls(verbs: list[str], paths: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": paths, "verbs": verbs}


def events_rule() -> dict[str, Any]:
    return rule(["create", "patch", "update"], ["", "events.k8s.io"], ["events"])


def _cluster_role(name: str, rules: list[dict[str, Any]] | None, *, labels: dict[str, str] | None = None,
                  aggregate: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {**BOOTSTRAP_LABEL, **(labels or {})},
                     "annotations": {AUTOUPDATE: "true"}},
        "rules": rules or [],
    }
    if aggregate:
        obj["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + aggregate: "true"}}]}
    return obj


def _aggregates_to(*names: str) -> dict[str, str]:
    return {AGGREGATE_TO + n: "true" for n in names}


def node_rule_dicts() -> list[dict[str, Any]]:
    """``system:node``: what every kubelet may do; the node authorizer narrows secrets, configmaps,
    claims, volumes, tokens, its Node, its Lease and its pods to the node's own."""
    return [
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews", "subjectaccessreviews"]),
        rule(READ, [""], ["services"]),
        rule(["create", "get", "list", "watch"], [""], ["nodes"]),
        rule(["patch", "update"], [""], ["nodes/status"]),
        rule(["patch", "update"], [""], ["nodes"]),
        rule(["create", "patch", "update"], [""], ["events"]),
        rule(READ, [""], ["pods"]),
        rule(["create", "delete"], [""], ["pods"]),
        rule(["patch", "update"], [""], ["pods/status"]),
        rule(["create"], [""], ["pods/eviction"]),
        rule(READ, [""], ["configmaps", "secrets"]),
        rule(["get"], [""], ["persistentvolumeclaims", "persistentvolumes"]),
        rule(["get"], [""], ["endpoints"]),
        rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"]),
        rule(["create", "delete", "get", "patch", "update"], ["coordination.k8s.io"], ["leases"]),
        rule(["get"], ["storage.k8s.io"], ["volumeattachments"]),
        rule(["create"], [""], ["serviceaccounts/token"]),
        rule(["get", "patch", "update"], [""], ["persistentvolumeclaims/status"]),
        rule(READ, ["storage.k8s.io"], ["csidrivers"]),
        rule(["create", "delete", "get", "patch", "update"], ["storage.k8s.io"], ["csinodes"]),
        rule(READ, ["node.k8s.io"], ["runtimeclasses"]),
    ]


def node_rules() -> tuple[Rule, ...]:
    return compile_rules(node_rule_dicts())


def _controller_manager_rules() -> list[dict[str, Any]]:
    return [
        # garbagecollector + namespace: read, update and delete anything (status and scale too)
        rule(["delete", "deletecollection", "get", "list", "patch", "update", "watch"], ["*"], ["*"]),
        events_rule(),
        # replicaset, replicationcontroller, daemonset, job, statefulset: pods; statefulset: claims
        rule(["create"], [""], ["pods", "persistentvolumeclaims", "endpoints", "serviceaccounts", "configmaps",
                                "secrets", "serviceaccounts/token", "pods/eviction", "pods/binding"]),
        rule(["create"], ["apps"], ["replicasets", "controllerrevisions"]),
        rule(["create"], ["batch"], ["jobs"]),
        rule(["create"], ["discovery.k8s.io"], ["endpointslices"]),
        rule(["create"], ["coordination.k8s.io"], ["leases"]),
        rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
        rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
        # csrapproving and csrsigning
        rule(["approve", "sign"], ["certificates.k8s.io"], ["signers"]),
        # clusterrole-aggregation: may write aggregated rules it does not itself hold
        rule(["escalate"], [RBAC], ["clusterroles"]),
    ]


def cluster_roles() -> list[dict[str, Any]]:
    view_rules = [
        rule(READ, [""], ["configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                          "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts",
                          "services", "services/status"]),
        rule(READ, [""], ["bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
                          "replicationcontrollers/status", "resourcequotas", "resourcequotas/status"]),
        rule(READ, [""], ["namespaces"]),
        rule(READ, ["discovery.k8s.io"], ["endpointslices"]),
        rule(READ, ["apps"], ["controllerrevisions", "daemonsets", "daemonsets/status", "deployments",
                              "deployments/scale", "deployments/status", "replicasets", "replicasets/scale",
                              "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"]),
        rule(READ, ["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"]),
        rule(READ, ["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"]),
        rule(READ, ["extensions"], ["daemonsets", "daemonsets/status", "deployments", "deployments/scale",
                                    "deployments/status", "ingresses", "ingresses/status", "networkpolicies",
                                    "replicasets", "replicasets/scale", "replicasets/status",
                                    "replicationcontrollers/scale"]),
        rule(READ, ["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"]),
        rule(READ, ["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"]),
    ]
    edit_rules = [
        rule(READ, [""], ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets",
                          "services/proxy"]),
        rule(["impersonate"], [""], ["serviceaccounts"]),
        rule(WRITE, [""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"]),
        rule(["create"], [""], ["pods/eviction"]),
        rule(WRITE, [""], ["configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
                           "replicationcontrollers/scale", "secrets", "serviceaccounts", "services",
                           "services/proxy"]),
        rule(["create"], [""], ["serviceaccounts/token"]),
        rule(WRITE, ["apps"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                               "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"]),
        rule(WRITE, ["autoscaling"], ["horizontalpodautoscalers"]),
        rule(WRITE, ["batch"], ["cronjobs", "jobs"]),
        rule(WRITE, ["extensions"], ["daemonsets", "deployments", "deployments/rollback", "deployments/scale",
                                     "ingresses", "networkpolicies", "replicasets", "replicasets/scale",
                                     "replicationcontrollers/scale"]),
        rule(WRITE, ["policy"], ["poddisruptionbudgets"]),
        rule(WRITE, ["networking.k8s.io"], ["ingresses", "networkpolicies"]),
        rule(READ_WRITE, ["coordination.k8s.io"], ["leases"]),
    ]
    admin_rules = [
        rule(["create"], ["authorization.k8s.io"], ["localsubjectaccessreviews"]),
        rule(READ_WRITE, [RBAC], ["rolebindings", "roles"]),
    ]
    approve = "system:certificates.k8s.io:"
    roles = [
        _cluster_role("cluster-admin", [rule(["*"], ["*"], ["*"]), urls(["*"], ["*"])]),
        _cluster_role("admin", None, aggregate="admin"),
        _cluster_role("edit", None, labels=_aggregates_to("admin"), aggregate="edit"),
        _cluster_role("view", None, labels=_aggregates_to("edit"), aggregate="view"),
        _cluster_role("system:aggregate-to-admin", admin_rules, labels=_aggregates_to("admin")),
        _cluster_role("system:aggregate-to-edit", edit_rules, labels=_aggregates_to("edit")),
        _cluster_role("system:aggregate-to-view", view_rules, labels=_aggregates_to("view")),
        _cluster_role("system:auth-delegator", [
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"])]),
        _cluster_role("system:basic-user", [
            rule(["create"], ["authorization.k8s.io"], ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]),
            rule(["create"], ["authentication.k8s.io"], ["selfsubjectreviews"])]),
        _cluster_role(approve + "certificatesigningrequests:nodeclient", [
            rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/nodeclient"])]),
        _cluster_role(approve + "certificatesigningrequests:selfnodeclient", [
            rule(["create"], ["certificates.k8s.io"], ["certificatesigningrequests/selfnodeclient"])]),
        _cluster_role(approve + "kube-apiserver-client-approver", [
            rule(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/kube-apiserver-client"])]),
        _cluster_role(approve + "kube-apiserver-client-kubelet-approver", [
            rule(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/kube-apiserver-client-kubelet"])]),
        _cluster_role(approve + "kubelet-serving-approver", [
            rule(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/kubelet-serving"])]),
        _cluster_role(approve + "legacy-unknown-approver", [
            rule(["approve"], ["certificates.k8s.io"], ["signers"], ["kubernetes.io/legacy-unknown"])]),
        _cluster_role("system:discovery", [
            urls(["get"], ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                           "/readyz", "/version", "/version/"])]),
        _cluster_role("system:heapster", [
            rule(READ, [""], ["events", "namespaces", "nodes", "pods"]),
            rule(READ, ["extensions"], ["deployments"])]),
        _cluster_role("system:kube-aggregator", [rule(READ, [""], ["endpoints", "services"])]),
        _cluster_role("system:kube-controller-manager", _controller_manager_rules()),
        _cluster_role("system:kube-dns", [rule(["list", "watch"], [""], ["endpoints", "services"])]),
        _cluster_role("system:kube-scheduler", [
            events_rule(),
            rule(["create"], ["coordination.k8s.io"], ["leases"]),
            rule(["get", "update"], ["coordination.k8s.io"], ["leases"], ["kube-scheduler"]),
            rule(READ, [""], ["nodes"]),
            rule(["delete", "get", "list", "watch"], [""], ["pods"]),
            rule(["create"], [""], ["bindings", "pods/binding"]),
            rule(["patch", "update"], [""], ["pods/status"]),
            rule(READ, [""], ["replicationcontrollers", "services"]),
            rule(READ, ["apps", "extensions"], ["replicasets"]),
            rule(READ, ["apps"], ["statefulsets"]),
            rule(READ, ["policy"], ["poddisruptionbudgets"]),
            rule(READ, [""], ["persistentvolumeclaims", "persistentvolumes"]),
            rule(["create"], ["authentication.k8s.io"], ["tokenreviews"]),
            rule(["create"], ["authorization.k8s.io"], ["subjectaccessreviews"]),
            rule(READ, ["storage.k8s.io"], ["csinodes"]),
            rule(READ, [""], ["namespaces"]),
            rule(READ, ["storage.k8s.io"], ["csidrivers"]),
            rule(READ, ["storage.k8s.io"], ["csistoragecapacities"]),
            rule(READ, ["scheduling.k8s.io"], ["priorityclasses"])]),
        _cluster_role("system:kubelet-api-admin", [
            rule(READ, [""], ["nodes"]),
            rule(["proxy"], [""], ["nodes"]),
            rule(["*"], [""], ["nodes/log", "nodes/metrics", "nodes/proxy", "nodes/stats"])]),
        _cluster_role("system:monitoring", [
            urls(["get"], ["/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz",
                           "/readyz/*"])]),
        _cluster_role("system:node", node_rule_dicts()),
        _cluster_role("system:node-bootstrapper", [
            rule(["create", "get", "list", "watch"], ["certificates.k8s.io"], ["certificatesigningrequests"])]),
        _cluster_role("system:node-problem-detector", [
            rule(["get"], [""], ["nodes"]),
            rule(["patch"], [""], ["nodes/status"]),
            events_rule()]),
        _cluster_role("system:node-proxier", [
            rule(["list", "watch"], [""], ["endpoints", "services"]),
            rule(READ, [""], ["nodes"]),
            events_rule(),
            rule(["list", "watch"], ["discovery.k8s.io"], ["endpointslices"])]),
        _cluster_role("system:persistent-volume-provisioner", [
            rule(["create", "delete", "get", "list", "watch"], [""], ["persistentvolumes"]),
            rule(["get", "list", "update", "watch"], [""], ["persistentvolumeclaims"]),
            rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            rule(["watch"], [""], ["events"]),
            events_rule()]),
        _cluster_role("system:public-info-viewer", [
            urls(["get"], ["/healthz", "/livez", "/readyz", "/version", "/version/"])]),
        _cluster_role("system:service-account-issuer-discovery", [
            urls(["get"], ["/.well-known/openid-configuration", "/openid/v1/jwks"])]),
        _cluster_role("system:volume-scheduler", [
            rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumes"]),
            rule(READ, ["storage.k8s.io"], ["storageclasses"]),
            rule(["get", "list", "patch", "update", "watch"], [""], ["persistentvolumeclaims"])]),
        _cluster_role("system:cloud-controller-manager", [
            events_rule(),
            rule(["*"], [""], ["nodes"]),
            rule(["patch"], [""], ["nodes/status"]),
            rule(["list", "patch", "update", "watch"], [""], ["services"]),
            rule(["patch", "update"], [""], ["services/status"]),
            rule(["create", "get"], [""], ["serviceaccounts"]),
            rule(["create", "get", "list", "update", "watch"], [""], ["endpoints"]),
            rule(["create"], [""], ["serviceaccounts/token"]),
            rule(["create", "get", "list", "update", "watch"], ["coordination.k8s.io"], ["leases"])]),
    ]
    return roles


def _subject(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    if kind == "ServiceAccount":
        return {"kind": kind, "name": name, "namespace": namespace or ""}
    return {"apiGroup": RBAC, "kind": kind, "name": name}


def _cluster_binding(name: str, subjects: list[dict[str, Any]], role: str | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": dict(BOOTSTRAP_LABEL), "annotations": {AUTOUPDATE: "true"}},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": role or name},
        "subjects": subjects,
    }


def cluster_role_bindings() -> list[dict[str, Any]]:
    g, u = "Group", "User"
    return [
        _cluster_binding("cluster-admin", [_subject(g, "system:masters")]),
        _cluster_binding("system:basic-user", [_subject(g, "system:authenticated")]),
        _cluster_binding("system:discovery", [_subject(g, "system:authenticated")]),
        _cluster_binding("system:public-info-viewer", [_subject(g, "system:authenticated"),
                                                       _subject(g, "system:unauthenticated")]),
        _cluster_binding("system:kube-controller-manager", [_subject(u, "system:kube-controller-manager")]),
        _cluster_binding("system:kube-scheduler", [_subject(u, "system:kube-scheduler")]),
        _cluster_binding("system:volume-scheduler", [_subject(u, "system:kube-scheduler")]),
        _cluster_binding("system:kube-dns", [_subject("ServiceAccount", "kube-dns", "kube-system")]),
        _cluster_binding("system:monitoring", [_subject(g, "system:monitoring")]),
        # Kubelets are authorized by the node authorizer (with these same rules), not by this binding.
        _cluster_binding("system:node", []),
        _cluster_binding("system:node-proxier", [_subject(u, "system:kube-proxy")]),
        _cluster_binding("system:service-account-issuer-discovery", [_subject(g, "system:serviceaccounts")]),
        _cluster_binding("system:cloud-controller-manager", [_subject(u, "system:cloud-controller-manager")]),
        # Joining: bootstrap tokens may ask for node client certificates, nodes may renew their own.
        _cluster_binding("system:node-bootstrapper", [_subject(g, "system:bootstrappers")]),
        _cluster_binding("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                         [_subject(g, "system:bootstrappers")]),
        _cluster_binding("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                         [_subject(g, "system:nodes")]),
    ]


def namespace_roles() -> list[dict[str, Any]]:
    def role(ns: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": f"{RBAC}/v1", "kind": "Role",
                "metadata": {"name": name, "namespace": ns, "labels": dict(BOOTSTRAP_LABEL),
                             "annotations": {AUTOUPDATE: "true"}},
                "rules": rules}

    return [
        role("kube-system", "extension-apiserver-authentication-reader", [
            rule(READ, [""], ["configmaps"], ["extension-apiserver-authentication"])]),
        role("kube-system", "system::leader-locking-kube-controller-manager", [
            rule(["watch"], [""], ["configmaps"]),
            rule(["get", "update"], [""], ["configmaps"], ["kube-controller-manager"])]),
        role("kube-system", "system::leader-locking-kube-scheduler", [
            rule(["watch"], [""], ["configmaps"]),
            rule(["get", "update"], [""], ["configmaps"], ["kube-scheduler"])]),
    ]


def namespace_role_bindings() -> list[dict[str, Any]]:
    def binding(ns: str, name: str, role: str, subjects: list[dict[str, Any]]) -> dict[str, Any]:
        return {"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": ns, "labels": dict(BOOTSTRAP_LABEL),
                             "annotations": {AUTOUPDATE: "true"}},
                "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": role},
                "subjects": subjects}

    u, sa = "User", "ServiceAccount"
    return [
        binding("kube-system", "system::extension-apiserver-authentication-reader",
                "extension-apiserver-authentication-reader",
                [_subject(u, "system:kube-controller-manager"), _subject(u, "system:kube-scheduler")]),
        binding("kube-system", "system::leader-locking-kube-controller-manager",
                "system::leader-locking-kube-controller-manager",
                [_subject(u, "system:kube-controller-manager"),
                 _subject(sa, "kube-controller-manager", "kube-system")]),
        binding("kube-system", "system::leader-locking-kube-scheduler", "system::leader-locking-kube-scheduler",
                [_subject(u, "system:kube-scheduler"), _subject(sa, "kube-scheduler", "kube-system")]),
    ]


def aggregate_rules(target: dict[str, Any], roles: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The rules an aggregated ClusterRole gathers from the roles its selectors match (in name order,
    each rule once), as the clusterrole-aggregation controller computes them; None if not aggregated."""
    agg = target.get("aggregationRule")
    if agg is None:
        return None
    selectors = [label_selector_from_object(s) for s in agg.get("clusterRoleSelectors") or []]
    name = (target.get("metadata") or {}).get("name")
    out: list[dict[str, Any]] = []
    for role in sorted(roles, key=lambda r: (r.get("metadata") or {}).get("name", "")):
        meta = role.get("metadata") or {}
        if meta.get("name") == name or not any(s.matches(meta.get("labels") or {}) for s in selectors):
            continue
        for r in role.get("rules") or ():
            if r not in out:
                out.append(r)
    return out

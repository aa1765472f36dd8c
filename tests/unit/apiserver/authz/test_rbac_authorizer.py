from navarch.apiserver.authz.authorizer import Authorizer
from navarch.apiserver.authz.decision import ALLOW, NO_OPINION
from navarch.apiserver.authz.node import NodeAuthorizer
from navarch.apiserver.authz.policysource import StaticPolicySource
from navarch.apiserver.authz.rbac import RBACAuthorizer
from tests.unit.apiserver.authz.authz_builders import (
    binding,
    cluster_binding,
    cluster_role,
    res,
    role,
    rule,
    subject,
)

READ_PODS = rule(["get", "list"], [""], ["pods"])


def authorizer(**objects) -> tuple[RBACAuthorizer, StaticPolicySource]:
    src = StaticPolicySource(**objects)
    return RBACAuthorizer(src), src


def test_cluster_binding_applies_everywhere_role_binding_only_in_its_namespace():
    rbac, _ = authorizer(
        clusterroles=[cluster_role("reader", READ_PODS)],
        clusterrolebindings=[cluster_binding("all", "reader", subject("User", "alice"))],
        rolebindings=[binding("dev", "jane-read", "ClusterRole", "reader", subject("User", "jane"))])
    assert rbac.authorize(res("list", "pods", user="alice", namespace="x"))[0] == ALLOW
    assert rbac.authorize(res("list", "pods", user="alice"))[0] == ALLOW
    assert rbac.authorize(res("list", "pods", namespace="dev")) == (
        ALLOW, 'RBAC: allowed by RoleBinding "jane-read/dev" of ClusterRole "reader" to User "jane"')
    assert rbac.authorize(res("list", "pods", namespace="prod")) == (NO_OPINION, "")
    assert rbac.authorize(res("list", "pods")) == (NO_OPINION, "")  # cluster-wide list


def test_group_and_role_subjects():
    rbac, _ = authorizer(
        roles=[role("dev", "pod-reader", READ_PODS)],
        rolebindings=[binding("dev", "team", "Role", "pod-reader", subject("Group", "team-a"))])
    assert rbac.authorize(res("get", "pods", namespace="dev", groups=("team-a",))) == (
        ALLOW, 'RBAC: allowed by RoleBinding "team/dev" of Role "pod-reader" to Group "team-a"')
    assert rbac.authorize(res("get", "pods", namespace="dev"))[0] == NO_OPINION


def test_service_account_subjects_default_to_the_binding_namespace():
    rbac, _ = authorizer(
        clusterroles=[cluster_role("reader", READ_PODS)],
        rolebindings=[binding("dev", "sa", "ClusterRole", "reader", subject("ServiceAccount", "builder"))],
        clusterrolebindings=[
            cluster_binding("no-ns", "reader", subject("ServiceAccount", "ghost")),
            cluster_binding("with-ns", "reader", subject("ServiceAccount", "robot", "ops"))])
    sa = "system:serviceaccount:dev:builder"
    assert rbac.authorize(res("get", "pods", user=sa, namespace="dev")) == (
        ALLOW, 'RBAC: allowed by RoleBinding "sa/dev" of ClusterRole "reader" to ServiceAccount "builder/dev"')
    assert rbac.authorize(res("get", "pods", user=sa, namespace="prod"))[0] == NO_OPINION
    # a ClusterRoleBinding's service account must name its namespace
    assert rbac.authorize(res("get", "pods", user="system:serviceaccount::ghost"))[0] == NO_OPINION
    assert rbac.authorize(res("get", "pods", user="system:serviceaccount:ops:robot", namespace="x")) == (
        ALLOW, 'RBAC: allowed by ClusterRoleBinding "with-ns" of ClusterRole "reader" to ServiceAccount "robot/ops"')


def test_missing_roles_are_reported_as_upstream():
    rbac, _ = authorizer(rolebindings=[
        binding("dev", "a", "ClusterRole", "gone", subject("User", "jane")),
        binding("dev", "b", "Role", "also-gone", subject("User", "jane"))])
    assert rbac.authorize(res("get", "pods", namespace="dev")) == (
        NO_OPINION, ('RBAC: [clusterrole.rbac.authorization.k8s.io "gone" not found, '
                    'role.rbac.authorization.k8s.io "also-gone" not found]'))


def test_decisions_are_cached_and_dropped_on_any_policy_change():
    rbac, src = authorizer(clusterroles=[cluster_role("reader", READ_PODS)])
    a = res("get", "pods", namespace="dev")
    assert rbac.authorize(a)[0] == NO_OPINION
    assert rbac.authorize(a)[0] == NO_OPINION  # served from the cache
    src.add("rolebindings", binding("dev", "b", "ClusterRole", "reader", subject("User", "jane")))
    assert rbac.authorize(a)[0] == ALLOW
    src.set("clusterroles", [cluster_role("reader", rule(["list"], [""], ["pods"]))])
    assert rbac.authorize(a)[0] == NO_OPINION


def test_masters_are_allowed_before_rbac_and_reasons_of_modes_join():
    rbac, _ = authorizer()
    az = Authorizer(["RBAC"], rbac)
    assert az.authorize(res("delete", "nodes", user="root", groups=("system:masters",))) == (ALLOW, "")
    assert az.authorize(res("delete", "nodes"))[0] == NO_OPINION
    assert Authorizer(["AlwaysDeny", "AlwaysAllow"]).authorize(res("get", "pods"))[0] == "Deny"


def test_rules_for_lists_cluster_then_namespace_rules():
    rbac, _ = authorizer(
        clusterroles=[cluster_role("basic", rule(["create"], ["authorization.k8s.io"], ["selfsubjectrulesreviews"]),
                                   rule(["get"], urls=["/api"]))],
        roles=[role("dev", "r", READ_PODS)],
        clusterrolebindings=[cluster_binding("basic", "basic", subject("Group", "system:authenticated"))],
        rolebindings=[binding("dev", "r", "Role", "r", subject("User", "jane"))])
    az = Authorizer(["Node", "RBAC"], rbac, NodeAuthorizer(lambda *_: False, ()))
    found = az.rules_for("jane", ("system:authenticated",), "dev")
    assert [r.resources for r in found.resource_rules] == [("selfsubjectrulesreviews",), ("pods",)]
    assert [r.non_resource_urls for r in found.non_resource_rules] == [("/api",)]
    assert not found.incomplete and not found.error
    node = az.rules_for("system:node:n1", ("system:nodes",), "dev")
    assert node.incomplete and node.error == "node authorizer does not support user rule resolution"

from types import SimpleNamespace
from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.api.resources import REGISTRY
from navarch.apiserver.authz.authorizer import Authorizer
from navarch.apiserver.authz.escalation import RBACEscalationCheck, compact, covers
from navarch.apiserver.authz.policysource import StaticPolicySource
from navarch.apiserver.authz.rbac import RBACAuthorizer
from navarch.apiserver.authz.rules import Rule
from tests.unit.apiserver.authz.authz_builders import (
    RBAC,
    binding,
    cluster_role,
    rule,
    subject,
)


def R(*a: Any, **kw: Any) -> Rule:
    return Rule.from_dict(rule(*a, **kw))


@pytest.mark.parametrize("owner,servant,ok", [
    ([R(["*"], ["*"], ["*"])], [R(["get", "delete"], ["apps"], ["deployments", "pods/log"])], True),
    ([R(["get", "list"], [""], ["pods"])], [R(["get"], [""], ["pods"])], True),
    ([R(["get"], [""], ["pods"])], [R(["get", "list"], [""], ["pods"])], False),
    ([R(["get"], [""], ["*/status"])], [R(["get"], [""], ["pods/status"])], True),
    ([R(["get"], [""], ["pods"])], [R(["get"], [""], ["pods/status"])], False),
    ([R(["get"], [""], ["cm"], names=["a", "b"])], [R(["get"], [""], ["cm"], names=["a"])], True),
    ([R(["get"], [""], ["cm"], names=["a"])], [R(["get"], [""], ["cm"])], False),
    ([R(["get"], urls=["/apis/*"])], [R(["get"], urls=["/apis/apps"])], True),
    ([R(["get"], urls=["/apis"])], [R(["get"], urls=["/apis/apps"])], False),
], ids=range(9))
def test_covers(owner, servant, ok):
    assert covers(owner, servant)[0] is ok


def test_missing_atoms_compact_by_verb():
    _, missing = covers([], [R(["get", "list"], [""], ["pods", "secrets"])])
    assert len(missing) == 4
    assert sorted((r.resources, r.verbs) for r in compact(missing)) == [
        (("pods",), ("get", "list")), (("secrets",), ("get", "list"))]


def _attrs(plural: str, op: str, obj: dict[str, Any], user: dict[str, Any], ns: str | None = "dev",
           old: dict[str, Any] | None = None) -> SimpleNamespace:
    return SimpleNamespace(resource=REGISTRY.get(RBAC, "v1", plural), subresource=None, operation=op,
                           namespace=ns, name=obj["metadata"]["name"], obj=obj, old=old, user=user)


JANE = {"username": "jane", "groups": ["system:authenticated"]}


@pytest.fixture
def check() -> RBACEscalationCheck:
    src = StaticPolicySource(
        clusterroles=[cluster_role("pods", rule(["get", "list"], [""], ["pods"])),
                      cluster_role("secrets", rule(["get"], [""], ["secrets"])),
                      cluster_role("binder", rule(["bind"], [RBAC], ["clusterroles"], names=["secrets"])),
                      cluster_role("escalator", rule(["escalate"], [RBAC], ["roles"]))],
        rolebindings=[binding("dev", "p", "ClusterRole", "pods", subject("User", "jane")),
                      binding("dev", "b", "ClusterRole", "binder", subject("User", "jane")),
                      binding("esc", "e", "ClusterRole", "escalator", subject("User", "jane"))])
    return RBACEscalationCheck(Authorizer(["RBAC"], RBACAuthorizer(src)))


async def test_roles_may_grant_only_held_permissions(check):
    held = {"metadata": {"name": "r", "namespace": "dev"}, "rules": [rule(["get"], [""], ["pods"])]}
    await check.validate(_attrs("roles", "CREATE", held, JANE))
    more = {"metadata": {"name": "r", "namespace": "dev"}, "rules": [rule(["get", "delete"], [""], ["pods", "nodes"])]}
    with pytest.raises(StatusError) as e:
        await check.validate(_attrs("roles", "CREATE", more, JANE))
    assert (e.value.code, e.value.message) == (403, (
        'roles.rbac.authorization.k8s.io "r" is forbidden: user "jane" (groups=["system:authenticated"]) is '
        'attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get" "delete"]}\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'))
    # escalate on roles lifts the check; masters are never checked
    await check.validate(_attrs("roles", "CREATE", dict(more, metadata={"name": "r", "namespace": "esc"}), JANE, "esc"))
    await check.validate(_attrs("roles", "CREATE", more, {"username": "root", "groups": ["system:masters"]}))
    # an update that leaves rules alone is not an escalation
    await check.validate(_attrs("roles", "UPDATE", more, JANE, old=dict(more)))


async def test_aggregation_rule_needs_everything(check):
    obj = {"metadata": {"name": "agg"}, "rules": [],
           "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}
    with pytest.raises(StatusError) as e:
        await check.validate(_attrs("clusterroles", "CREATE", obj, JANE, None))
    assert e.value.message.endswith("must have cluster-admin privileges to use the aggregationRule")


async def test_bindings_need_the_roles_permissions_or_bind(check):
    ok = {"metadata": {"name": "b1", "namespace": "dev"}, "subjects": [subject("User", "bob")],
          "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "pods"}}
    await check.validate(_attrs("rolebindings", "CREATE", ok, JANE))
    bound = dict(ok, roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "secrets"})
    await check.validate(_attrs("rolebindings", "CREATE", bound, JANE))  # via bind on that role
    with pytest.raises(StatusError) as e:
        await check.validate(_attrs("rolebindings", "CREATE", bound, JANE, "prod"))
    assert "is attempting to grant RBAC permissions not currently held" in e.value.message
    missing = dict(ok, roleRef={"apiGroup": RBAC, "kind": "ClusterRole", "name": "nope"})
    with pytest.raises(StatusError) as e:
        await check.validate(_attrs("rolebindings", "CREATE", missing, JANE))
    assert e.value.message == ('rolebindings.rbac.authorization.k8s.io "b1" is forbidden: '
                               'clusterrole.rbac.authorization.k8s.io "nope" not found')

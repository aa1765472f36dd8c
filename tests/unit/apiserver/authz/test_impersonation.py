import pytest
from multidict import CIMultiDict

from navarch.api.errors import StatusError
from navarch.apiserver.authz.authorizer import Authorizer
from navarch.apiserver.authz.impersonation import impersonate
from navarch.apiserver.authz.policysource import StaticPolicySource
from navarch.apiserver.authz.rbac import RBACAuthorizer
from tests.unit.apiserver.authz.authz_builders import (
    cluster_binding,
    cluster_role,
    rule,
    subject,
)

ADMIN = {"username": "root", "groups": ["system:masters", "system:authenticated"]}
JANE = {"username": "jane", "groups": ["system:authenticated"]}


@pytest.fixture
def authorize():
    src = StaticPolicySource(
        clusterroles=[cluster_role("imp", rule(["impersonate"], [""], ["users"], names=["bob"]))],
        clusterrolebindings=[cluster_binding("imp", "imp", subject("User", "jane"))])
    return Authorizer(["RBAC"], RBACAuthorizer(src)).authorize


def H(*pairs):
    return CIMultiDict(pairs)


def test_no_headers_means_no_impersonation(authorize):
    assert impersonate(authorize, H(("Accept", "x")), ADMIN) is None


def test_user_groups_extra_and_uid(authorize):
    got = impersonate(authorize, H(("Impersonate-User", "jane"), ("Impersonate-Group", "a"), ("Impersonate-Group", "b"),
                                   ("Impersonate-Extra-Scopes", "x"), ("Impersonate-Extra-Scopes", "y"),
                                   ("Impersonate-Uid", "u1")), ADMIN)
    assert got == {"username": "jane", "groups": ["a", "b", "system:authenticated"], "uid": "u1",
                   "extra": {"scopes": ["x", "y"]}}


def test_service_accounts_get_their_groups(authorize):
    got = impersonate(authorize, H(("Impersonate-User", "system:serviceaccount:dev:robot")), ADMIN)
    assert got["groups"] == ["system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"]


def test_allowed_only_as_rbac_says(authorize):
    assert impersonate(authorize, H(("Impersonate-User", "bob")), JANE)["username"] == "bob"
    with pytest.raises(StatusError) as e:
        impersonate(authorize, H(("Impersonate-User", "carol")), JANE)
    assert (e.value.code, e.value.message) == (403, ('users "carol" is forbidden: User "jane" cannot impersonate '
                                                     'resource "users" in API group "" at the cluster scope'))
    with pytest.raises(StatusError) as e:
        impersonate(authorize, H(("Impersonate-User", "bob"), ("Impersonate-Group", "system:masters")), JANE)
    assert e.value.message.startswith('groups "system:masters" is forbidden: User "jane" cannot impersonate')


def test_groups_without_a_user_is_an_error(authorize):
    with pytest.raises(StatusError) as e:
        impersonate(authorize, H(("Impersonate-Group", "g")), ADMIN)
    assert e.value.code == 500 and "without impersonating a user" in e.value.message

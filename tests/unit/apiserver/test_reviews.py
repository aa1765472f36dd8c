import pytest

from navarch.api.errors import StatusError
from navarch.apiserver import reviews
from navarch.apiserver.authz.authorizer import Authorizer
from navarch.apiserver.authz.policysource import StaticPolicySource
from navarch.apiserver.authz.rbac import RBACAuthorizer

RBAC = "rbac.authorization.k8s.io"
JANE = {"username": "jane", "groups": ["system:authenticated"]}


@pytest.fixture
def authorizer() -> Authorizer:
    src = StaticPolicySource(
        clusterroles=[{"metadata": {"name": "r"}, "rules": [
            {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
            {"verbs": ["get"], "nonResourceURLs": ["/api"]}]}],
        rolebindings=[{"metadata": {"name": "b", "namespace": "dev"}, "subjects": [{"kind": "User", "name": "jane"}],
                       "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "r"}}])
    return Authorizer(["RBAC"], RBACAuthorizer(src))


def review(spec):
    return {"metadata": {"name": ""}, "spec": spec}


def test_self_subject_access_review(authorizer):
    yes = reviews._access_review("SelfSubjectAccessReview", "authorization.k8s.io", review(
        {"resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "dev"}}), JANE, "", authorizer)
    assert yes == {"allowed": True, "reason": 'RBAC: allowed by RoleBinding "b/dev" of ClusterRole "r" to User "jane"'}
    no = reviews._access_review("SelfSubjectAccessReview", "authorization.k8s.io", review(
        {"nonResourceAttributes": {"verb": "get", "path": "/api"}}), JANE, "", authorizer)
    assert no == {"allowed": False}


def test_subject_access_review_asks_about_the_spec_user(authorizer):
    spec = {"user": "jane", "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": "dev"}}
    root = {"username": "root", "groups": ["system:masters"]}
    assert reviews._access_review("SubjectAccessReview", "authorization.k8s.io", review(spec), root, "",
                                  authorizer)["allowed"]
    with pytest.raises(StatusError) as e:
        reviews._access_review("SubjectAccessReview", "authorization.k8s.io",
                               review({"resourceAttributes": {"verb": "get"}}), root, "", authorizer)
    assert "at least one of user or group must be specified" in e.value.message
    with pytest.raises(StatusError) as e:
        reviews._access_review("SelfSubjectAccessReview", "authorization.k8s.io", review({}), JANE, "", authorizer)
    assert "exactly one of nonResourceAttributes or resourceAttributes must be specified" in e.value.message


def test_rules_review(authorizer):
    status = reviews._rules_review({"spec": {"namespace": "dev"}}, JANE, authorizer)
    assert status == {"resourceRules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}],
                      "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api"]}], "incomplete": False}
    assert reviews._rules_review({"spec": {"namespace": "prod"}}, JANE, authorizer)["resourceRules"] == []
    with pytest.raises(StatusError):
        reviews._rules_review({"spec": {}}, JANE, authorizer)

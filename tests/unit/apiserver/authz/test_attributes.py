import pytest

from navarch.apiserver.authz.attributes import (
    exact_match,
    field_requirements,
    from_request,
)

JANE = {"username": "jane", "groups": ["system:authenticated"]}


@pytest.mark.parametrize("method,path,query,want", [
    ("GET", "/api/v1/namespaces/dev/pods", {}, ("list", "", "pods", "", "dev", "")),
    ("GET", "/api/v1/namespaces/dev/pods", {"watch": "true"}, ("watch", "", "pods", "", "dev", "")),
    ("GET", "/api/v1/namespaces/dev/pods/p", {}, ("get", "", "pods", "", "dev", "p")),
    ("HEAD", "/api/v1/namespaces/dev/pods/p", {}, ("get", "", "pods", "", "dev", "p")),
    ("POST", "/api/v1/namespaces/dev/pods", {}, ("create", "", "pods", "", "dev", "")),
    ("PUT", "/api/v1/namespaces/dev/pods/p/status", {}, ("update", "", "pods", "status", "dev", "p")),
    ("PATCH", "/apis/apps/v1/namespaces/dev/deployments/d/scale", {}, ("patch", "apps", "deployments", "scale", "dev", "d")),
    ("DELETE", "/api/v1/namespaces/dev/pods/p", {}, ("delete", "", "pods", "", "dev", "p")),
    ("DELETE", "/api/v1/namespaces/dev/pods", {}, ("deletecollection", "", "pods", "", "dev", "")),
    ("POST", "/api/v1/namespaces/dev/pods/p/exec", {}, ("create", "", "pods", "exec", "dev", "p")),
    ("GET", "/api/v1/nodes", {}, ("list", "", "nodes", "", "", "")),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/view", {}, ("get", "rbac.authorization.k8s.io", "clusterroles", "", "", "view")),
    # a namespace is its own namespace; status and finalize are its subresources
    ("GET", "/api/v1/namespaces/dev", {}, ("get", "", "namespaces", "", "dev", "dev")),
    ("PUT", "/api/v1/namespaces/dev/finalize", {}, ("update", "", "namespaces", "finalize", "dev", "dev")),
    # a list pinned to one name by field selector is about that name (kubelets' secret watches)
    ("GET", "/api/v1/namespaces/dev/secrets", {"watch": "1", "fieldSelector": "metadata.name=s"},
     ("watch", "", "secrets", "", "dev", "s")),
    ("GET", "/api/v1/watch/namespaces/dev/pods", {}, ("watch", "", "pods", "", "dev", "")),
    ("GET", "/api/v1/namespaces/dev/services/s/proxy/a/b", {}, ("get", "", "services", "proxy", "dev", "s")),
], ids=lambda v: v if isinstance(v, str) else None)
def test_resource_requests(method, path, query, want):
    a = from_request(method, path, query, JANE)
    assert a.resource_request
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == want
    assert (a.user, a.groups) == ("jane", ("system:authenticated",))


@pytest.mark.parametrize("method,path", [
    ("GET", "/healthz"), ("GET", "/version"), ("GET", "/api"), ("GET", "/api/v1"), ("GET", "/apis"),
    ("GET", "/apis/apps"), ("GET", "/apis/apps/v1"), ("GET", "/openapi/v3/apis/apps/v1"), ("GET", "/metrics"),
    ("POST", "/logs"), ("GET", "/"),
])
def test_non_resource_paths_keep_the_lowercase_method(method, path):
    a = from_request(method, path, {}, JANE)
    assert not a.resource_request
    assert (a.verb, a.path) == (method.lower(), path)


def test_field_selectors():
    assert field_requirements("spec.nodeName=n1,metadata.name!=x, a==b") == [
        ("spec.nodeName", "=", "n1"), ("metadata.name", "!=", "x"), ("a", "=", "b")]
    assert exact_match("a=b,metadata.name==s", "metadata.name") == "s"
    assert exact_match("metadata.name!=s", "metadata.name") == ""

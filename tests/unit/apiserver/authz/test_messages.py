import pytest

from navarch.apiserver.authz.messages import forbidden
from tests.unit.apiserver.authz.authz_builders import path, res


@pytest.mark.parametrize("a,reason,message,details", [
    (res("list", "pods", namespace="dev"), "",
     'pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "dev"',
     {"kind": "pods"}),
    (res("list", "deployments", group="apps"), "",
     'deployments.apps is forbidden: User "jane" cannot list resource "deployments" in API group "apps" at the cluster scope',
     {"kind": "deployments", "group": "apps"}),
    (res("create", "pods", namespace="dev", name="p", sub="exec"), "",
     'pods "p" is forbidden: User "jane" cannot create resource "pods/exec" in API group "" in the namespace "dev"',
     {"kind": "pods", "name": "p"}),
    (path("get", "/logs"), "", 'forbidden: User "jane" cannot get path "/logs"', None),
    (res("get", "secrets", namespace="dev", name="s", user="system:node:n1"),
     "no relationship found between node 'n1' and this object",
     ('secrets "s" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" in the '
     "namespace \"dev\": no relationship found between node 'n1' and this object"),
     {"kind": "secrets", "name": "s"}),
], ids=["namespaced", "cluster", "subresource-named", "path", "reason"])
def test_forbidden_messages(a, reason, message, details):
    e = forbidden(a, reason)
    status = e.to_status()
    assert (e.code, status["reason"], status["message"]) == (403, "Forbidden", message)
    assert status.get("details") == details

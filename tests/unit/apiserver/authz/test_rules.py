import pytest

from navarch.apiserver.authz.rules import Rule, rule_allows
from tests.unit.apiserver.authz.authz_builders import path, res, rule


def R(**kw) -> Rule:
    return Rule.from_dict(rule(**kw))


@pytest.mark.parametrize("r,a,allowed", [
    (R(verbs=["get"], groups=[""], resources=["pods"]), res("get", "pods", namespace="d"), True),
    (R(verbs=["get"], groups=[""], resources=["pods"]), res("list", "pods"), False),
    (R(verbs=["*"], groups=[""], resources=["pods"]), res("deletecollection", "pods"), True),
    (R(verbs=["get"], groups=["apps"], resources=["pods"]), res("get", "pods"), False),
    (R(verbs=["get"], groups=["*"], resources=["deployments"]), res("get", "deployments", group="apps"), True),
    # resources: a bare resource does not cover its subresources; "*" covers everything
    (R(verbs=["get"], groups=[""], resources=["pods"]), res("get", "pods", name="p", sub="log"), False),
    (R(verbs=["get"], groups=[""], resources=["pods/log"]), res("get", "pods", name="p", sub="log"), True),
    (R(verbs=["get"], groups=[""], resources=["*/log"]), res("get", "pods", name="p", sub="log"), True),
    (R(verbs=["get"], groups=[""], resources=["*/log"]), res("get", "pods", name="p"), False),
    (R(verbs=["get"], groups=[""], resources=["*/status"]), res("get", "pods", name="p", sub="log"), False),
    (R(verbs=["get"], groups=["*"], resources=["*"]), res("get", "pods", name="p", sub="log"), True),
    # resourceNames: only requests naming one of them; a list or a create (no name) never matches
    (R(verbs=["get", "list", "create"], groups=[""], resources=["cm"], names=["a"]), res("get", "cm", name="a"), True),
    (R(verbs=["get", "list", "create"], groups=[""], resources=["cm"], names=["a"]), res("get", "cm", name="b"), False),
    (R(verbs=["get", "list", "create"], groups=[""], resources=["cm"], names=["a"]), res("list", "cm"), False),
    (R(verbs=["get", "list", "create"], groups=[""], resources=["cm"], names=["a"]), res("create", "cm"), False),
    (R(verbs=["get", "list", "create"], groups=[""], resources=["cm"], names=["a"]), res("list", "cm", name="a"), True),
    # non-resource URLs: exact, "*", or a trailing-"*" prefix; never for resource requests
    (R(verbs=["get"], urls=["/healthz"]), path("get", "/healthz"), True),
    (R(verbs=["get"], urls=["/healthz"]), path("get", "/healthz/ping"), False),
    (R(verbs=["get"], urls=["/healthz*"]), path("get", "/healthz/ping"), True),
    (R(verbs=["get"], urls=["/apis/*"]), path("get", "/apis"), False),
    (R(verbs=["get"], urls=["*"]), path("get", "/anything"), True),
    (R(verbs=["get"], urls=["/healthz"]), path("post", "/healthz"), False),
    (R(verbs=["get"], urls=["*"]), res("get", "pods"), False),
    (R(verbs=["get"], groups=["*"], resources=["*"]), path("get", "/metrics"), False),
], ids=range(24))
def test_rule_allows(r, a, allowed):
    assert rule_allows(a, r) is allowed


def test_rule_round_trips_to_its_json_shape():
    d = rule(["get"], [""], ["secrets"], names=["a"])
    assert Rule.from_dict(d).to_dict() == d

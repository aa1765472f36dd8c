from typing import Any

import orjson
import pytest

from navarch.apiserver.authz.attributes import from_request
from navarch.apiserver.authz.bootstrappolicy import node_rules
from navarch.apiserver.authz.decision import ALLOW, NO_OPINION
from navarch.apiserver.authz.node import NodeAuthorizer
from navarch.apiserver.authz.nodegraph import NodeGraph, WatchCacheGraphFeed, pod_refs
from navarch.apiserver.watchcache import CacheEvent, WatchCache, stamp
from navarch.storage import KeyValue
from tests.unit.apiserver.authz.authz_builders import res

N1 = ("system:nodes", "system:authenticated")


def make_pod(name: str, node: str | None, ns: str = "dev", **spec: Any) -> dict[str, Any]:
    s = {"containers": [{"name": "c", "image": "i"}], **spec}
    if node:
        s["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns}, "spec": s}


WEB = make_pod(
    "web", "n1", serviceAccountName="builder", imagePullSecrets=[{"name": "pull"}],
    containers=[{"name": "c", "image": "i",
                 "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "k"}}},
                         {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}}],
                 "envFrom": [{"configMapRef": {"name": "all-cm"}}]}],
    volumes=[{"name": "s", "secret": {"secretName": "vol-secret"}},
             {"name": "c", "configMap": {"name": "vol-cm"}},
             {"name": "p", "projected": {"sources": [{"secret": {"name": "proj-secret"}}]}},
             {"name": "d", "persistentVolumeClaim": {"claimName": "data"}},
             {"name": "e", "ephemeral": {"volumeClaimTemplate": {}}}])


def test_pod_refs():
    assert pod_refs(WEB) == {
        ("serviceaccounts", "dev", "builder"), ("secrets", "dev", "pull"), ("secrets", "dev", "env-secret"),
        ("configmaps", "dev", "env-cm"), ("configmaps", "dev", "all-cm"), ("secrets", "dev", "vol-secret"),
        ("configmaps", "dev", "vol-cm"), ("secrets", "dev", "proj-secret"),
        ("persistentvolumeclaims", "dev", "data"), ("persistentvolumeclaims", "dev", "web-e")}


def test_graph_follows_binding_and_deletion_with_counts():
    g = NodeGraph()
    g.set_pod("k1", make_pod("a", None, volumes=[{"name": "s", "secret": {"secretName": "s"}}]))
    assert not g.related("n1", "secrets", "dev", "s")  # not bound yet
    g.set_pod("k1", make_pod("a", "n1", volumes=[{"name": "s", "secret": {"secretName": "s"}}]))
    g.set_pod("k2", make_pod("b", "n1", volumes=[{"name": "s", "secret": {"secretName": "s"}}]))
    assert g.related("n1", "secrets", "dev", "s") and g.related("n1", "pods", "dev", "a")
    assert not g.related("n2", "secrets", "dev", "s")
    g.set_pod("k1", None)
    assert g.related("n1", "secrets", "dev", "s") and not g.related("n1", "pods", "dev", "a")
    g.set_pod("k2", None)
    assert not g.related("n1", "secrets", "dev", "s")


@pytest.fixture
def node_authz() -> NodeAuthorizer:
    g = NodeGraph()
    g.set_pod("/registry/core/pods/dev/web", WEB)
    return NodeAuthorizer(g.related, node_rules())


def n1(verb: str, resource: str, **kw: Any):
    return res(verb, resource, user="system:node:n1", groups=N1, **kw)


@pytest.mark.parametrize("a,want", [
    (n1("get", "secrets", namespace="dev", name="vol-secret"), (ALLOW, "")),
    (n1("watch", "secrets", namespace="dev", name="env-secret"), (ALLOW, "")),
    (n1("get", "secrets", namespace="dev", name="other"),
     (NO_OPINION, "no relationship found between node 'n1' and this object")),
    (n1("list", "secrets", namespace="dev"), (NO_OPINION, "No Object name found")),
    (n1("update", "secrets", namespace="dev", name="vol-secret"), (NO_OPINION, "can only read resources of this type")),
    (n1("get", "configmaps", namespace="dev", name="all-cm"), (ALLOW, "")),
    (n1("get", "persistentvolumeclaims", namespace="dev", name="data"), (ALLOW, "")),
    (n1("list", "persistentvolumeclaims", namespace="dev"),
     (NO_OPINION, "can only get individual resources of this type")),
    (n1("create", "serviceaccounts", namespace="dev", name="builder", sub="token"), (ALLOW, "")),
    (n1("create", "serviceaccounts", namespace="dev", name="default", sub="token"),
     (NO_OPINION, "no relationship found between node 'n1' and this object")),
    (n1("get", "nodes", name="n1"), (ALLOW, "")),
    (n1("get", "nodes", name="n2"), (NO_OPINION, "node 'n1' cannot read 'n2', only its own Node object")),
    (n1("list", "nodes"), (NO_OPINION, "node 'n1' cannot read all nodes, only its own Node object")),
    (n1("patch", "nodes", name="n1", sub="status"), (ALLOW, "")),
    (n1("delete", "nodes", name="n1"), (NO_OPINION, "")),
    (n1("update", "leases", group="coordination.k8s.io", namespace="kube-node-lease", name="n1"), (ALLOW, "")),
    (n1("update", "leases", group="coordination.k8s.io", namespace="kube-node-lease", name="n2"),
     (NO_OPINION, "can only access node lease with the same name as the requesting node")),
    (n1("get", "leases", group="coordination.k8s.io", namespace="kube-system", name="n1"),
     (NO_OPINION, 'can only access leases in the "kube-node-lease" system namespace')),
    (n1("get", "pods", namespace="dev", name="web"), (ALLOW, "")),
    (n1("get", "pods", namespace="dev", name="other"),
     (NO_OPINION, "no relationship found between node 'n1' and this object")),
    (n1("list", "pods"), (NO_OPINION, "can only list/watch pods with spec.nodeName field selector")),
    (n1("patch", "pods", namespace="dev", name="web", sub="status"), (ALLOW, "")),
    # the rest: the static system:node rules
    (n1("list", "services"), (ALLOW, "")),
    (n1("create", "events", namespace="dev"), (ALLOW, "")),
    (n1("list", "deployments", group="apps"), (NO_OPINION, "")),
    (res("get", "secrets", namespace="dev", name="vol-secret"), (NO_OPINION, "")),  # not a node
], ids=range(26))
def test_node_authorizer(node_authz, a, want):
    assert node_authz.authorize(a) == want


def test_pod_list_scoped_to_the_node_is_allowed(node_authz):
    user = {"username": "system:node:n1", "groups": list(N1)}
    ok = from_request("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=n1", "watch": "true"}, user)
    other = from_request("GET", "/api/v1/pods", {"fieldSelector": "spec.nodeName=n2"}, user)
    assert node_authz.authorize(ok) == (ALLOW, "")
    assert node_authz.authorize(other)[0] == NO_OPINION


PODS = "/registry/core/pods/"


def _event(type_: str, pod: dict[str, Any], rev: int, cache) -> None:
    key = f"{PODS}{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    prev = cache.items.get(key)
    cache.apply(CacheEvent(type_, stamp(KeyValue(key, orjson.dumps(pod), rev, rev)), prev, rev, 0.0))


def test_watch_cache_feed_sees_changes_before_each_question():
    wc = WatchCache(None, [PODS, "/registry/core/persistentvolumeclaims/", "/registry/core/persistentvolumes/"])  # type: ignore[arg-type]
    pods = wc.cache_for(PODS)
    _event("ADDED", make_pod("a", "n1", volumes=[{"name": "s", "secret": {"secretName": "s1"}}]), 1, pods)
    feed = WatchCacheGraphFeed(wc)
    assert feed.related("n1", "secrets", "dev", "s1")  # loaded on first question
    _event("ADDED", make_pod("b", "n1", volumes=[{"name": "s", "secret": {"secretName": "s2"}}]), 2, pods)
    assert feed.related("n1", "secrets", "dev", "s2")
    _event("DELETED", make_pod("a", "n1", volumes=[{"name": "s", "secret": {"secretName": "s1"}}]), 3, pods)
    assert not feed.related("n1", "secrets", "dev", "s1")
    # a volume is related through its bound claim
    _event("ADDED", make_pod("c", "n1", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]), 4, pods)
    claims = wc.cache_for("/registry/core/persistentvolumeclaims/")
    volumes = wc.cache_for("/registry/core/persistentvolumes/")
    claim = {"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "dev"},
             "spec": {"volumeName": "pv1"}}
    pv = {"kind": "PersistentVolume", "metadata": {"name": "pv1"}, "spec": {"claimRef": {"namespace": "dev", "name": "data"}}}
    claims.apply(CacheEvent("ADDED", stamp(KeyValue("/registry/core/persistentvolumeclaims/dev/data", orjson.dumps(claim), 5, 5)), None, 5, 0.0))
    volumes.apply(CacheEvent("ADDED", stamp(KeyValue("/registry/core/persistentvolumes/pv1", orjson.dumps(pv), 6, 6)), None, 6, 0.0))
    assert feed.related("n1", "persistentvolumes", "", "pv1")
    assert not feed.related("n2", "persistentvolumes", "", "pv1")
    # the cache ending the watcher (reload) makes the feed load again
    feed._watcher.queue.put_nowait(None)  # type: ignore[union-attr]
    assert feed.related("n1", "secrets", "dev", "s2")

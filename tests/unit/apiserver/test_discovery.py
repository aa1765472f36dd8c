import hashlib

import orjson
import pytest

from navarch.api.resources import REGISTRY
from navarch.apiserver import discovery

V2_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
             "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
V2BETA1_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"


@pytest.fixture
def disc():
    return discovery.Discovery(REGISTRY, server_address="127.0.0.1:6443")


@pytest.mark.parametrize("accept,version", [
    (V2_ACCEPT, "v2"),
    (V2BETA1_ACCEPT, "v2beta1"),
    ("application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", "v2"),
    ("application/json, */*", None),
    ("", None),
    (None, None),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
], ids=str)
def test_aggregated_version(accept, version):
    assert discovery.aggregated_version(accept) == version


def test_negotiate_aggregated_v2(disc):
    content_type, body, etag = discovery.negotiate(V2_ACCEPT, "apis", disc)
    assert content_type == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    assert etag == '"' + hashlib.sha512(body).hexdigest().upper() + '"'
    doc = orjson.loads(body)
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    names = [item["metadata"]["name"] for item in doc["items"]]
    assert "apps" in names and "" not in names
    apps = next(i for i in doc["items"] if i["metadata"]["name"] == "apps")
    version = apps["versions"][0]
    assert version["version"] == "v1" and version["freshness"] == "Current"
    deploy = next(r for r in version["resources"] if r["resource"] == "deployments")
    assert deploy["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert deploy["scope"] == "Namespaced"
    assert deploy["singularResource"] == "deployment"
    assert deploy["shortNames"] == ["deploy"] and deploy["categories"] == ["all"]
    assert "watch" in deploy["verbs"]
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert scale["verbs"] == ["get", "patch", "update"]


def test_negotiate_core_and_beta(disc):
    content_type, body, _ = discovery.negotiate(V2BETA1_ACCEPT, "api", disc)
    assert "v=v2beta1" in content_type
    doc = orjson.loads(body)
    assert doc["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert len(doc["items"]) == 1
    core = doc["items"][0]
    assert core["metadata"].get("name", "") == ""
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    eviction = next(s for s in pods["subresources"] if s["subresource"] == "eviction")
    assert eviction["responseKind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    nodes = next(r for r in core["versions"][0]["resources"] if r["resource"] == "nodes")
    assert nodes["scope"] == "Cluster"


def test_negotiate_legacy(disc):
    content_type, body, _ = discovery.negotiate("application/json, */*", "api", disc)
    assert content_type == "application/json"
    assert orjson.loads(body) == {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
    _, body, _ = discovery.negotiate("application/json", "apis", disc)
    doc = orjson.loads(body)
    assert doc["kind"] == "APIGroupList"
    apps = next(g for g in doc["groups"] if g["name"] == "apps")
    assert apps["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert apps["versions"] == [{"groupVersion": "apps/v1", "version": "v1"}]
    assert all(g["name"] for g in doc["groups"])


def test_headers_and_caching(disc):
    doc = disc.root("apis", V2_ACCEPT)
    assert disc.root("apis", V2_ACCEPT) is doc
    headers = doc.headers()
    assert headers["Vary"] == "Accept" and headers["Cache-Control"] == "public"
    assert headers["ETag"] == doc.etag
    assert doc.not_modified(doc.etag) and not doc.not_modified('"x"') and not doc.not_modified(None)
    assert disc.root("apis", "application/json").etag != doc.etag


def test_resource_list_core(disc):
    doc = orjson.loads(disc.group_version("", "v1").body)
    assert doc["kind"] == "APIResourceList" and doc["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in doc["resources"]}
    pods = by_name["pods"]
    assert pods["singularName"] == "pod" and pods["namespaced"] is True and pods["kind"] == "Pod"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert pods["storageVersionHash"] == discovery.storage_version_hash("", "v1", "Pod")
    assert by_name["pods/status"]["kind"] == "Pod" and "group" not in by_name["pods/status"]
    eviction = by_name["pods/eviction"]
    assert (eviction["group"], eviction["version"], eviction["kind"]) == ("policy", "v1", "Eviction")
    assert by_name["namespaces"]["namespaced"] is False
    names = [r["name"] for r in doc["resources"]]
    assert names == sorted(names)


def test_resource_list_apps_scale(disc):
    doc = orjson.loads(disc.for_path("/apis/apps/v1", None).body)
    scale = next(r for r in doc["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert scale["verbs"] == ["get", "patch", "update"]


def test_for_path(disc):
    assert disc.for_path("/apis/nope/v1", None) is None
    assert disc.for_path("/api/v2", None) is None
    assert disc.for_path("/apis/apps/v1/deployments", None) is None
    group = orjson.loads(disc.for_path("/apis/apps", None).body)
    assert group["kind"] == "APIGroup" and group["name"] == "apps"
    reviews = orjson.loads(disc.for_path("/apis/authorization.k8s.io/v1", None).body)
    ssar = next(r for r in reviews["resources"] if r["name"] == "selfsubjectaccessreviews")
    assert ssar["verbs"] == ["create"] and "storageVersionHash" not in ssar


def test_storage_version_hash_is_stable():
    # Known value for apps/v1 Deployment as published by kube-apiserver.
    assert discovery.storage_version_hash("apps", "v1", "Deployment") == "8aSe+NMegvE="

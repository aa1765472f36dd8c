import hashlib
import struct

import orjson
import pytest
import yaml

from navarch.apiserver import openapi


@pytest.fixture(scope="module")
def docs():
    return openapi.OpenAPI()


@pytest.fixture(scope="module")
def v2(docs):
    return orjson.loads(docs.v2_json())


def _schema_nodes(node, path="#"):
    """Every schema node under a definition, with a readable path."""
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from _schema_nodes(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _schema_nodes(node[key], f"{path}/{key}")
    for key in ("allOf", "oneOf", "anyOf"):
        for i, sub in enumerate(node.get(key) or ()):
            yield from _schema_nodes(sub, f"{path}/{key}{i}")


# ---------------------------------------------------------------------------------------------
# /openapi/v2 JSON


def test_v2_definitions_parse_like_kube_openapi(v2):
    """The rules kube-openapi's v2 model parser enforces (a failure aborts kubectl 1.27/1.28)."""
    definitions = v2["definitions"]
    assert v2["swagger"] == "2.0"
    for name, definition in definitions.items():
        for path, node in _schema_nodes(definition, name):
            assert not isinstance(node.get("type"), list), path
            assert "oneOf" not in node, path
            if "$ref" in node:
                assert node["$ref"].startswith("#/definitions/"), path
                assert node["$ref"].removeprefix("#/definitions/") in definitions, path
                assert "type" not in node and "properties" not in node, path
            if node.get("type") == "array":
                assert isinstance(node.get("items"), dict), path
            assert node.get("type") in (None, "object", "array", "string", "integer", "number", "boolean"), path


def test_v2_definition_content(v2):
    definitions = v2["definitions"]
    deploy = definitions["io.k8s.api.apps.v1.Deployment"]
    assert deploy["type"] == "object"
    assert deploy["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert "enum" not in deploy["properties"]["apiVersion"]
    assert deploy["properties"]["spec"]["$ref"] == "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"
    containers = definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert definitions["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["format"] == "int-or-string"
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    assert definitions["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]["type"] == "integer"


def test_v2_patch_operation(v2):
    item = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert patch["consumes"] == ["application/json-patch+json", "application/merge-patch+json",
                                 "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
    names = {p["name"]: p for p in patch["parameters"]}
    for param in ("fieldValidation", "dryRun", "fieldManager", "force"):
        assert names[param]["in"] == "query"
    assert names["body"]["schema"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert patch["x-kubernetes-action"] == "patch"
    for method in ("post",):
        op = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"][method]
        assert "fieldValidation" in {p["name"] for p in op["parameters"]}
    assert "fieldValidation" in {p["name"] for p in item["put"]["parameters"]}
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    scale = v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["get"]["x-kubernetes-group-version-kind"]["kind"] == "Scale"
    assert scale["get"]["responses"]["200"]["schema"]["$ref"] == "#/definitions/io.k8s.api.autoscaling.v1.Scale"


def test_v2_paths_cover_registry(v2):
    paths = v2["paths"]
    assert "/api/v1/pods" in paths and "get" in paths["/api/v1/pods"]
    assert "/api/v1/nodes/{name}" in paths
    assert "post" in paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]
    assert "post" in paths["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]
    assert "delete" in paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    # namespaces have no deletecollection verb
    assert "delete" not in paths["/api/v1/namespaces"]
    op_ids = [op["operationId"] for item in paths.values() for k, op in item.items() if k != "parameters"]
    assert len(op_ids) == len(set(op_ids))
    assert "patchAppsV1NamespacedDeployment" in op_ids
    assert "listCoreV1PodForAllNamespaces" in op_ids


# ---------------------------------------------------------------------------------------------
# /openapi/v2 protobuf, decoded back with a schema-less wire reader


def _varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """{field number: [values]}; LENGTH values as bytes, varints as ints, fixed64 as floats."""
    out: dict[int, list] = {}
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value = bytes(buf[pos:pos + size])
            pos += size
        elif wire == 1:
            value = struct.unpack("<d", buf[pos:pos + 8])[0]
            pos += 8
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _named(buf, number):
    """A gnostic ``repeated Named*`` list as {name: value bytes}."""
    out = {}
    for entry in _fields(buf).get(number, []):
        f = _fields(entry)
        out[f[1][0].decode()] = f.get(2, [b""])[0]
    return out


def _extensions(buf, number):
    return {name: yaml.safe_load(_fields(value)[2][0].decode()) for name, value in _named(buf, number).items()}


@pytest.fixture(scope="module")
def v2_pb(docs):
    return docs.v2_protobuf()


def test_v2_protobuf_document(v2_pb, v2):
    doc = _fields(v2_pb)
    assert doc[1] == [b"2.0"]
    info = _fields(doc[2][0])
    assert info[1] == [b"Kubernetes"]
    definitions = _named(doc[9][0], 1)
    assert set(definitions) == set(v2["definitions"])

    deploy = _fields(definitions["io.k8s.api.apps.v1.Deployment"])
    assert _fields(deploy[22][0])[1] == [b"object"]
    assert deploy[4][0].decode().startswith("Deployment enables declarative updates")
    gvk = _extensions(definitions["io.k8s.api.apps.v1.Deployment"], 31)["x-kubernetes-group-version-kind"]
    assert gvk == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    props = _named(deploy[25][0], 1)
    assert set(props) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert _fields(props["spec"])[1] == [b"#/definitions/io.k8s.api.apps.v1.DeploymentSpec"]

    spec = _fields(definitions["io.k8s.api.apps.v1.DeploymentSpec"])
    assert set(spec[19]) == {b"selector", b"template"}
    strategy = _named(spec[25][0], 1)["strategy"]
    assert _extensions(strategy, 31) == {"x-kubernetes-patch-strategy": "retainKeys"}
    containers = _fields(_named(_fields(definitions["io.k8s.api.core.v1.PodSpec"])[25][0], 1)["containers"])
    assert _fields(containers[22][0])[1] == [b"array"]
    item = _fields(_fields(containers[23][0])[1][0])
    assert item[1] == [b"#/definitions/io.k8s.api.core.v1.Container"]

    labels = _fields(_named(_fields(definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"])[25][0],
                            1)["labels"])
    additional = _fields(_fields(labels[21][0])[1][0])
    assert _fields(additional[22][0])[1] == [b"string"]


def test_v2_protobuf_patch_operation(v2_pb):
    doc = _fields(v2_pb)
    paths = _named(doc[8][0], 2)
    item = _fields(paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"])
    patch = _fields(item[8][0])
    assert set(patch[7]) == {b"application/json-patch+json", b"application/merge-patch+json",
                             b"application/strategic-merge-patch+json", b"application/apply-patch+yaml"}
    assert patch[5] == [b"patchAppsV1NamespacedDeployment"]
    query = {}
    for parameters_item in patch[8]:
        parameter = _fields(_fields(parameters_item)[1][0])
        if 2 in parameter:  # non-body
            sub = _fields(_fields(parameter[2][0])[3][0])
            query[sub[4][0].decode()] = sub[2][0].decode()
        else:
            body = _fields(parameter[1][0])
            assert body[3] == [b"body"] and body[4] == [1]
    assert query["fieldValidation"] == "query" and query["dryRun"] == "query"
    ext = _extensions(item[8][0], 13)
    assert ext["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    # path-level parameters: name and namespace as PathParameterSubSchema
    path_params = []
    for parameters_item in item[9]:
        non_body = _fields(_fields(_fields(parameters_item)[1][0])[2][0])
        if 4 in non_body:
            path_params.append(_fields(non_body[4][0])[4][0].decode())
    assert sorted(path_params) == ["name", "namespace"]
    responses = _named(patch[9][0], 1)
    response = _fields(_fields(responses["200"])[1][0])
    schema = _fields(_fields(response[2][0])[1][0])
    assert schema[1] == [b"#/definitions/io.k8s.api.apps.v1.Deployment"]


def test_v2_protobuf_is_cached(docs):
    assert docs.v2_protobuf() is docs.v2_protobuf()
    assert docs.v2_json() is docs.v2_json()


# ---------------------------------------------------------------------------------------------
# /openapi/v3


def test_v3_root(docs):
    root = orjson.loads(docs.v3_root())
    assert set(root) == {"paths"}
    assert "api/v1" in root["paths"] and "apis/apps/v1" in root["paths"]
    assert not any(k.startswith("/") for k in root["paths"])
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    body, digest = docs.v3_group_version("apis/apps/v1")
    assert url == f"/openapi/v3/apis/apps/v1?hash={digest}"
    assert digest == hashlib.sha512(body).hexdigest().upper()
    assert docs.v3_group_version(url) == (body, digest)
    assert docs.v3_group_version("apis/nope/v1") is None


def _explain_gvk(doc, prefix, resource):
    """kubectl explain's (v3) GVK lookup: four candidate paths, first of get/post/put/patch/delete."""
    for path in (f"{prefix}/{resource}", f"{prefix}/{resource}/{{name}}",
                 f"{prefix}/namespaces/{{namespace}}/{resource}",
                 f"{prefix}/namespaces/{{namespace}}/{resource}/{{name}}"):
        item = doc["paths"].get(path)
        if item:
            for method in ("get", "post", "put", "patch", "delete"):
                if method in item and "x-kubernetes-group-version-kind" in item[method]:
                    return item[method]["x-kubernetes-group-version-kind"]
    return None


@pytest.mark.parametrize("gv,prefix,resource,kind", [
    ("apis/apps/v1", "/apis/apps/v1", "deployments", "Deployment"),
    ("api/v1", "/api/v1", "pods", "Pod"),
    ("api/v1", "/api/v1", "nodes", "Node"),
    ("apis/authorization.k8s.io/v1", "/apis/authorization.k8s.io/v1", "selfsubjectaccessreviews",
     "SelfSubjectAccessReview"),
], ids=lambda v: v)
def test_v3_explain_lookup(docs, gv, prefix, resource, kind):
    doc = orjson.loads(docs.v3_group_version(gv)[0])
    gvk = _explain_gvk(doc, prefix, resource)
    assert gvk is not None and gvk["kind"] == kind
    matches = [name for name, s in doc["components"]["schemas"].items()
               if gvk in s.get("x-kubernetes-group-version-kind", [])]
    assert len(matches) == 1


def test_v3_apps_document(docs):
    doc = orjson.loads(docs.v3_group_version("apis/apps/v1")[0])
    assert doc["openapi"].startswith("3.0")
    schemas = doc["components"]["schemas"]
    # only what the group-version's kinds reach
    assert "io.k8s.api.apps.v1.Deployment" in schemas and "io.k8s.api.core.v1.PodSpec" in schemas
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas
    assert "io.k8s.api.batch.v1.Job" not in schemas and "io.k8s.api.core.v1.Pod" not in schemas
    for name, definition in schemas.items():
        for path, node in _schema_nodes(definition, name):
            assert not isinstance(node.get("type"), list), path
            if "$ref" in node:
                assert node["$ref"].removeprefix("#/components/schemas/") in schemas, path
                assert set(node) == {"$ref"}, path
    spec = schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]
    assert spec["strategy"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}]
    assert spec["strategy"]["x-kubernetes-patch-strategy"] == "retainKeys"
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-list-type"] == "map" and containers["x-kubernetes-list-map-keys"] == ["name"]
    assert schemas["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]

    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    patch = item["patch"]
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation").items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}
    assert item["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"}


def test_v3_documents_are_cached_and_stable(docs):
    first = docs.v3_group_version("api/v1")
    assert docs.v3_group_version("/openapi/v3/api/v1?hash=x") is first
    fresh = openapi.OpenAPI()
    assert fresh.v3_group_version("api/v1")[1] == first[1]


def test_module_level_helpers():
    assert openapi.openapi_v2_json() is openapi.openapi_v2_json()
    assert openapi.openapi_v2_protobuf()[:2] == b"\x0a\x03"  # field 1 (swagger), "2.0"
    assert orjson.loads(openapi.openapi_v3_root())["paths"]
    assert openapi.openapi_v3_gv("api/v1") is not None


def test_v2_for_accept(docs):
    assert docs.v2_for_accept(openapi.PROTOBUF_V2_ACCEPT) == (openapi.PROTOBUF_V2, docs.v2_protobuf())
    assert docs.v2_for_accept("application/json") == ("application/json", docs.v2_json())
    assert docs.v2_for_accept(None)[0] == "application/json"
    assert docs.etag(b"x") == '"' + hashlib.sha512(b"x").hexdigest().upper() + '"'

"""Bad requests over raw HTTPS: each is answered with upstream's code, reason and ``Status`` body,
and none of them changes what is stored.

Raw HTTP (``requests`` with the admin client certificate from the kubeconfig) is used because the
official clients refuse to send most of these requests in the first place.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

requests = pytest.importorskip("requests")

from tests.navarch_process import NavarchServer  # noqa: E402

MiB = 1024 * 1024
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
NOT_FOUND = "the server could not find the requested resource"
NOT_ALLOWED = "the server does not allow this method on the requested resource"


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def http(server: NavarchServer, api_client: Any) -> Iterator[requests.Session]:
    """A session authenticated as the kubeconfig's admin (the client wrote its cert/key/CA to files)."""
    cfg = api_client.configuration
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE and proxies from the environment would override verify
    s.cert = (cfg.cert_file, cfg.key_file)
    s.verify = cfg.ssl_ca_cert
    yield s
    s.close()


@pytest.fixture(scope="module")
def anonymous(api_client: Any) -> Iterator[requests.Session]:
    """A session that trusts the server but presents no credentials."""
    s = requests.Session()
    s.trust_env = False
    s.verify = api_client.configuration.ssl_ca_cert
    yield s
    s.close()


@dataclass
class Stored:
    """A namespace holding one ConfigMap ``target``: bad requests aim at it, and must leave it as it was."""

    http: requests.Session
    base: str
    ns: str
    before: dict[str, str] = field(default_factory=dict)

    @property
    def collection(self) -> str:
        return f"/api/v1/namespaces/{self.ns}/configmaps"

    @property
    def target(self) -> str:
        return f"{self.collection}/target"

    def url(self, path: str) -> str:
        return self.base + path

    def snapshot(self) -> dict[str, str]:
        """name -> resourceVersion of every ConfigMap and Deployment in the namespace."""
        out = {}
        for path in (self.collection, f"/apis/apps/v1/namespaces/{self.ns}/deployments"):
            r = self.http.get(self.url(path), headers=JSON)
            assert r.status_code == 200, r.text
            out.update({f"{path}/{i['metadata']['name']}": i["metadata"]["resourceVersion"]
                        for i in r.json()["items"]})
        return out

    def assert_unchanged(self) -> None:
        assert self.snapshot() == self.before, "a rejected request changed what is stored"


@pytest.fixture
def stored(server: NavarchServer, http: requests.Session) -> Iterator[Stored]:
    ns = f"bad-{uuid.uuid4().hex[:8]}"
    r = http.post(f"{server.url}/api/v1/namespaces", headers=JSON,
                  data=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
    assert r.status_code == 201, r.text
    st = Stored(http, server.url, ns)
    r = http.post(st.url(st.collection), headers=JSON, data=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "target"}, "data": {"k": "v"}}))
    assert r.status_code == 201, r.text
    st.before = st.snapshot()
    yield st
    http.delete(f"{server.url}/api/v1/namespaces/{ns}")


def assert_status(r: requests.Response, code: int, reason: str, message: str | Callable[[str], bool] | None = None
                  ) -> dict[str, Any]:
    """``r`` is a JSON ``Status`` failure with this code and reason (and message, exact or by predicate)."""
    assert r.status_code == code, f"expected {code}, got {r.status_code}: {r.text[:500]}"
    assert r.headers.get("Content-Type", "").split(";")[0] == "application/json", r.headers
    body = r.json()
    assert body.get("kind") == "Status" and body.get("apiVersion") == "v1", body
    assert body.get("status") == "Failure", body
    assert body.get("code") == code, body
    assert body.get("reason") == reason, body
    if isinstance(message, str):
        assert body.get("message") == message, body
    elif message is not None:
        assert message(body.get("message", "")), body
    return body


def configmap(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


def deployment(name: str, **spec_extra: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels},
                     "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}},
        **spec_extra}}


def deployments(st: Stored) -> str:
    return f"/apis/apps/v1/namespaces/{st.ns}/deployments"


# --------------------------------------------------------------------------- malformed bodies
@dataclass(frozen=True)
class Bad:
    id: str
    method: str
    path: Callable[[Stored], str]
    body: bytes
    content_type: str
    code: int
    reason: str
    message: str | Callable[[str], bool] | None = None


def _collection(st: Stored) -> str:
    return st.collection


def _target(st: Stored) -> str:
    return st.target


def _starts(prefix: str) -> Callable[[str], bool]:
    return lambda m: m.startswith(prefix)


def _contains(part: str) -> Callable[[str], bool]:
    return lambda m: part in m


_TRUNCATED = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"'
_UNRECOGNIZED = _starts("the object provided is unrecognized (must be of type ConfigMap)")

BAD_BODIES = (
    Bad("malformed-json-create", "POST", _collection, _TRUNCATED, "application/json", 400, "BadRequest",
        _UNRECOGNIZED),
    Bad("malformed-json-update", "PUT", _target, _TRUNCATED, "application/json", 400, "BadRequest",
        _UNRECOGNIZED),
    Bad("not-an-object", "POST", _collection, b'["a", "b"]', "application/json", 400, "BadRequest"),
    Bad("empty-body", "POST", _collection, b"", "application/json", 400, "BadRequest"),
    Bad("malformed-yaml", "POST", _collection, b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n",
        "application/yaml", 400, "BadRequest"),
    Bad("yaml-tabs", "POST", _collection, b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
        "application/yaml", 400, "BadRequest"),
    Bad("wrong-kind", "POST", _collection,
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}).encode(),
        "application/json", 400, "BadRequest", _starts('Secret in version "v1" cannot be handled as a ConfigMap')),
    Bad("wrong-kind-update", "PUT", _target,
        json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "target"}}).encode(),
        "application/json", 400, "BadRequest", _starts('Secret in version "v1" cannot be handled as a ConfigMap')),
    Bad("kind-from-other-group", "POST", _collection,
        json.dumps({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}).encode(),
        "application/json", 400, "BadRequest", _contains("apps/v1")),
    Bad("namespace-mismatch", "POST", _collection,
        json.dumps(configmap("x") | {"metadata": {"name": "x", "namespace": "elsewhere"}}).encode(),
        "application/json", 400, "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request"),
    Bad("name-mismatch", "PUT", _target, json.dumps(configmap("other")).encode(), "application/json",
        400, "BadRequest", "the name of the object (other) does not match the name on the URL (target)"),
    Bad("unsupported-content-type", "POST", _collection, json.dumps(configmap("x")).encode(), "text/plain",
        415, "UnsupportedMediaType"),
    Bad("unsupported-content-type-update", "PUT", _target, json.dumps(configmap("target")).encode(),
        "application/xml", 415, "UnsupportedMediaType"),
    Bad("patch-with-plain-json", "PATCH", _target, b'{"data": {"k": "changed"}}', "application/json",
        415, "UnsupportedMediaType"),
    Bad("malformed-merge-patch", "PATCH", _target, b'{"data": {"k": ', "application/merge-patch+json",
        400, "BadRequest"),
    Bad("malformed-json-patch", "PATCH", _target, b'{"op": "add"}', "application/json-patch+json",
        400, "BadRequest"),
    Bad("missing-name", "POST", _collection, json.dumps(configmap("")).encode(), "application/json",
        422, "Invalid", _contains("metadata.name: Required value: name or generateName is required")),
    Bad("invalid-name", "POST", _collection, json.dumps(configmap("Bad_Name")).encode(), "application/json",
        422, "Invalid", _starts('ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"')),
)


@pytest.mark.parametrize("case", BAD_BODIES, ids=lambda c: c.id)
def test_bad_body(case: Bad, stored: Stored) -> None:
    r = stored.http.request(case.method, stored.url(case.path(stored)), data=case.body,
                            headers={"Content-Type": case.content_type, "Accept": "application/json"})
    assert_status(r, case.code, case.reason, case.message)
    stored.assert_unchanged()


def test_yaml_body_is_accepted(stored: Stored) -> None:
    """The positive control for the YAML cases: well-formed YAML creates the object."""
    r = stored.http.post(stored.url(stored.collection), headers={"Content-Type": "application/yaml"},
                         data=b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: '1'\n")
    assert r.status_code == 201, r.text
    assert r.json()["data"] == {"a": "1"}


# --------------------------------------------------------------------------- apiVersion mismatch
def test_api_version_mismatch(stored: Stored) -> None:
    hpa = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
                    "maxReplicas": 3}}
    r = stored.http.post(stored.url(f"/apis/autoscaling/v2/namespaces/{stored.ns}/horizontalpodautoscalers"),
                         headers=JSON, data=json.dumps(hpa))
    assert_status(r, 400, "BadRequest", "the API version in the data (autoscaling/v1) does not match the "
                                        "expected API version (autoscaling/v2)")
    stored.assert_unchanged()


# --------------------------------------------------------------------------- unknown fields
def test_unknown_field_strict(stored: Stored) -> None:
    r = stored.http.post(stored.url(deployments(stored)) + "?fieldValidation=Strict", headers=JSON,
                         data=json.dumps(deployment("strict", bogus=1)))
    # Upstream runs the strict error through transformDecodeError, hence the prefix.
    assert_status(r, 400, "BadRequest", 'Deployment in version "v1" cannot be handled as a Deployment: '
                                        'strict decoding error: unknown field "spec.bogus"')
    stored.assert_unchanged()


def test_unknown_fields_strict_lists_all(stored: Stored) -> None:
    body = deployment("strict2", bogus=1)
    body["metadata"]["nope"] = "x"
    r = stored.http.post(stored.url(deployments(stored)) + "?fieldValidation=Strict", headers=JSON,
                         data=json.dumps(body))
    assert_status(r, 400, "BadRequest", 'Deployment in version "v1" cannot be handled as a Deployment: strict '
                                        'decoding error: unknown field "metadata.nope", unknown field "spec.bogus"')
    stored.assert_unchanged()


def test_unknown_field_strict_on_update(stored: Stored) -> None:
    r = stored.http.put(stored.url(stored.target) + "?fieldValidation=Strict", headers=JSON,
                        data=json.dumps(configmap("target", data={"k": "new"}, extra=1)))
    assert_status(r, 400, "BadRequest", 'ConfigMap in version "v1" cannot be handled as a ConfigMap: '
                                        'strict decoding error: unknown field "extra"')
    stored.assert_unchanged()


@pytest.mark.parametrize("mode", ["Warn", ""], ids=["Warn", "default-is-Warn"])
def test_unknown_field_warn(stored: Stored, mode: str) -> None:
    query = f"?fieldValidation={mode}" if mode else ""
    r = stored.http.post(stored.url(deployments(stored)) + query, headers=JSON,
                         data=json.dumps(deployment("warned", bogus=1)))
    assert r.status_code == 201, r.text
    assert r.headers.get("Warning") == '299 - "unknown field \\"spec.bogus\\""', r.headers
    assert "bogus" not in r.json()["spec"]  # dropped, as unknown fields are pruned


def test_unknown_field_ignore(stored: Stored) -> None:
    r = stored.http.post(stored.url(deployments(stored)) + "?fieldValidation=Ignore", headers=JSON,
                         data=json.dumps(deployment("ignored", bogus=1)))
    assert r.status_code == 201, r.text
    assert "Warning" not in r.headers
    assert "bogus" not in r.json()["spec"]




# --------------------------------------------------------------------------- patches that decode badly
_NOT_A_STRING = "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"


@pytest.mark.parametrize("ctype,body", [
    ("application/merge-patch+json", {"data": {"k": 1}}),
    ("application/json-patch+json", [{"op": "add", "path": "/data/k", "value": 1}]),
], ids=["merge", "json"])
def test_patch_with_a_wrong_type_is_invalid_on_field_patch(stored: Stored, ctype: str, body: Any) -> None:
    """Upstream's patch handler decodes the patched JSON and answers 422 on the field "patch", its
    value the patched document (not the 400 a bad create or update body gets)."""
    r = stored.http.patch(stored.url(stored.target), headers={"Content-Type": ctype}, data=json.dumps(body))
    status = assert_status(r, 422, "Invalid", _starts(' "" is invalid: patch: Invalid value: "{'))
    [cause] = status["details"]["causes"]
    assert cause["reason"] == "FieldValueInvalid" and cause["field"] == "patch", cause
    assert cause["message"].endswith(f'}}": {_NOT_A_STRING}'), cause
    # The value is the patched ConfigMap as JSON, quoted as Go's %q quotes it.
    shown = json.loads(cause["message"][len("Invalid value: "):-len(f": {_NOT_A_STRING}")])
    assert json.loads(shown)["data"]["k"] == 1
    stored.assert_unchanged()


def test_strategic_patch_with_a_wrong_type_shows_the_patch_as_go_prints_it(stored: Stored) -> None:
    r = stored.http.patch(stored.url(stored.target), headers={"Content-Type": "application/strategic-merge-patch+json"},
                          data=json.dumps({"data": {"k": 1, "a": "x"}}))
    status = assert_status(r, 422, "Invalid", _starts(' "" is invalid: patch: Invalid value: "map[data:map[a:x k:1]]": '))
    assert [c["field"] for c in status["details"]["causes"]] == ["patch"]
    stored.assert_unchanged()


def test_patch_with_an_unknown_field_under_strict_is_invalid(stored: Stored) -> None:
    r = stored.http.patch(stored.url(stored.target) + "?fieldValidation=Strict",
                          headers={"Content-Type": "application/merge-patch+json"}, data=json.dumps({"extra": 1}))
    status = assert_status(r, 422, "Invalid", _contains('": strict decoding error: unknown field "extra"'))
    assert [c["field"] for c in status["details"]["causes"]] == ["patch"]
    stored.assert_unchanged()


def test_patch_with_an_unknown_field_warns_by_default(stored: Stored) -> None:
    r = stored.http.patch(stored.url(stored.target), headers={"Content-Type": "application/merge-patch+json"},
                          data=json.dumps({"extra": 1, "data": {"warned": "yes"}}))
    assert r.status_code == 200, r.text
    assert r.headers.get("Warning") == '299 - "unknown field \\"extra\\""', r.headers
    assert "extra" not in r.json() and r.json()["data"]["warned"] == "yes"


# --------------------------------------------------------------------------- size limit
def test_body_over_3_mib_create(stored: Stored) -> None:
    big = json.dumps(configmap("big", data={"blob": "x" * (3 * MiB + 1024)}))
    r = stored.http.post(stored.url(stored.collection), headers=JSON, data=big)
    assert_status(r, 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    stored.assert_unchanged()


def test_body_over_3_mib_update(stored: Stored) -> None:
    big = json.dumps(configmap("target", data={"blob": "x" * (3 * MiB + 1024)}))
    r = stored.http.put(stored.url(stored.target), headers=JSON, data=big)
    assert_status(r, 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    stored.assert_unchanged()


def test_object_just_under_1_mib_fits_but_over_is_invalid(stored: Stored) -> None:
    """Bodies between 1 MiB and 3 MiB get through the door; ConfigMap validation caps data at 1 MiB."""
    r = stored.http.post(stored.url(stored.collection), headers=JSON,
                         data=json.dumps(configmap("toobig", data={"blob": "x" * (MiB + 10)})))
    # Upstream reports the whole object (field path "") as too long.
    body = assert_status(r, 422, "Invalid", _contains("1048576"))
    assert [c["reason"] for c in body["details"]["causes"]] == ["FieldValueTooLong"], body
    stored.assert_unchanged()


# --------------------------------------------------------------------------- unknown resources and verbs
@pytest.mark.parametrize("path", [
    "/api/v1/namespaces/{ns}/bogus",
    "/api/v1/bogus",
    "/apis/nope.example.com/v1/things",
    "/apis/apps/v1/namespaces/{ns}/bogus",
    "/apis/apps/v9/deployments",
    "/api/v1/namespaces/{ns}/configmaps/target/bogus",
], ids=["core-namespaced", "core-cluster", "unknown-group", "apps-namespaced", "unknown-version", "subresource"])
def test_unknown_resource(stored: Stored, path: str) -> None:
    r = stored.http.get(stored.url(path.format(ns=stored.ns)), headers=JSON)
    assert_status(r, 404, "NotFound", NOT_FOUND)


def test_missing_object_is_not_found(stored: Stored) -> None:
    r = stored.http.get(stored.url(stored.collection + "/absent"), headers=JSON)
    body = assert_status(r, 404, "NotFound", 'configmaps "absent" not found')
    assert body["details"] == {"name": "absent", "kind": "configmaps"}


@pytest.mark.parametrize(("method", "where"), [
    ("POST", "target"),
    ("PUT", "collection"),
    ("PATCH", "collection"),
    ("DELETE", "namespaces"),
], ids=["post-named-object", "put-collection", "patch-collection", "deletecollection-namespaces"])
def test_unsupported_verb(stored: Stored, method: str, where: str) -> None:
    path = {"target": stored.target, "collection": stored.collection, "namespaces": "/api/v1/namespaces"}[where]
    ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
    r = stored.http.request(method, stored.url(path), headers={"Content-Type": ctype, "Accept": "application/json"},
                            data=json.dumps(configmap("target")))
    assert_status(r, 405, "MethodNotAllowed", NOT_ALLOWED)
    stored.assert_unchanged()


# --------------------------------------------------------------------------- query parameters
@pytest.mark.parametrize(("query", "field"), [
    ("dryRun=Partial", "dryRun"),
    ("fieldValidation=Loose", "fieldValidation"),
    ("fieldManager=" + "m" * 200, "fieldManager"),
], ids=["dry-run-value", "field-validation-value", "field-manager-too-long"])
def test_bad_write_options(stored: Stored, query: str, field: str) -> None:
    """Upstream validates CreateOptions like an object: 422 Invalid, kind CreateOptions."""
    r = stored.http.post(stored.url(stored.collection) + "?" + query, headers=JSON, data=json.dumps(configmap("x")))
    body = assert_status(r, 422, "Invalid", _starts('CreateOptions.meta.k8s.io "" is invalid: '))
    assert [c.get("field") for c in body["details"]["causes"]] == [field], body
    stored.assert_unchanged()


@pytest.mark.parametrize("query", [
    "labelSelector=env+in+prod",
    "fieldSelector=spec.bogus%3Dx",
    "resourceVersionMatch=Exact",
    "resourceVersion=1&resourceVersionMatch=Sometimes",
    "continue=not-a-token",
], ids=["label-selector", "field-selector", "match-without-rv", "match-value", "continue-token"])
def test_bad_list_options(stored: Stored, query: str) -> None:
    r = stored.http.get(stored.url(stored.collection) + "?" + query, headers=JSON)
    assert r.status_code in (400, 422), r.text
    assert_status(r, r.status_code, "BadRequest" if r.status_code == 400 else "Invalid")


# --------------------------------------------------------------------------- authentication
@pytest.mark.parametrize("path", ["/api/v1/namespaces", "/api", "/apis/apps/v1/deployments", "/openapi/v2"])
def test_no_credentials_is_unauthorized(server: NavarchServer, anonymous: requests.Session, path: str) -> None:
    r = anonymous.get(server.url + path, headers={"Accept": "application/json"})
    assert_status(r, 401, "Unauthorized", "Unauthorized")


def test_bad_bearer_token_is_unauthorized(server: NavarchServer, anonymous: requests.Session) -> None:
    r = anonymous.get(server.url + "/api/v1/namespaces",
                      headers={"Accept": "application/json", "Authorization": "Bearer not-a-real-token"})
    assert_status(r, 401, "Unauthorized", "Unauthorized")


def test_no_credentials_cannot_write(server: NavarchServer, anonymous: requests.Session, stored: Stored) -> None:
    r = anonymous.post(server.url + stored.collection, headers=JSON, data=json.dumps(configmap("x")))
    assert_status(r, 401, "Unauthorized")
    stored.assert_unchanged()


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_public_endpoints_need_no_credentials(server: NavarchServer, anonymous: requests.Session, path: str) -> None:
    r = anonymous.get(server.url + path)
    assert r.status_code == 200, r.text
    if path == "/version":
        v = r.json()
        assert re.fullmatch(r"\d+", v["major"]) and v["gitVersion"].startswith("v"), v
    else:
        assert r.text == "ok"

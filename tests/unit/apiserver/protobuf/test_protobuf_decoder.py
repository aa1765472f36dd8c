"""The protobuf body decoder, against real kubectl captures and hand-built messages.

``fixtures/<name>.pb`` is what kubectl 1.33 sent for a command, ``fixtures/<name>.json`` what kubectl 1.31
sent as JSON for the same command (see ``capture.py``); the decoded protobuf must equal that JSON minus
its ``null``, ``{}`` and ``[]`` values, which the decoder leaves out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from navarch.api.errors import StatusError
from navarch.api.schema import load_schema
from navarch.apiserver import protobuf
from navarch.apiserver.protobuf import fields
from navarch.apiserver.protobuf.decoder import Decoder, go_duration

FIXTURES = Path(__file__).parent / "fixtures"
CAPTURES = sorted(p.stem for p in FIXTURES.glob("*.pb"))


# --- a minimal protobuf writer, so tests can build bodies field by field ---

def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def num(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def msg(number: int, *parts: bytes | str) -> bytes:
    data = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return varint(number << 3 | 2) + varint(len(data)) + data


def body(api_version: str, kind: str, *raw: bytes, extra: bytes = b"") -> bytes:
    return b"k8s\x00" + msg(1, msg(1, api_version), msg(2, kind)) + msg(2, *raw) + extra


def meta(name: str) -> bytes:
    # ObjectMeta{name} plus a zero creationTimestamp, as gogo writes every non-pointer field.
    return msg(1, msg(1, name), msg(8))


def without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def fixture(name: str) -> dict[str, Any]:
    return protobuf.decode((FIXTURES / f"{name}.pb").read_bytes())


# --- real kubectl bodies ---

def test_every_required_command_was_captured() -> None:
    wanted = {"namespace", "deployment", "secret", "configmap", "service", "job", "cronjob", "quota", "role",
              "rolebinding", "clusterrole", "clusterrolebinding", "pdb", "priorityclass", "ingress",
              "serviceaccount", "token", "can_i", "can_i_list", "whoami", "drain", "certificate_approve"}
    assert wanted <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_kubectl_protobuf_body_equals_its_json_body(name: str) -> None:
    expected = without_empty(json.loads((FIXTURES / f"{name}.json").read_text()))
    assert fixture(name) == expected


@pytest.mark.parametrize(("name", "replicas"), [("deployment", 3), ("deployment_default", 1), ("deployment_zero", 0)],
                         ids=["three", "default", "zero"])
def test_deployment_replicas_pointer_keeps_zero(name: str, replicas: int) -> None:
    assert fixture(name)["spec"]["replicas"] == replicas


def test_deployment_shape() -> None:
    obj = fixture("deployment")
    assert obj["kind"] == "Deployment" and obj["apiVersion"] == "apps/v1"
    assert list(obj)[:2] == ["kind", "apiVersion"]
    assert obj["metadata"] == {"name": "web", "namespace": "ns1", "labels": {"app": "web"}}
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container == {"name": "nginx", "image": "nginx",
                         "ports": [{"containerPort": 80}]}
    assert "status" not in obj and "strategy" not in obj["spec"]


def test_secret_data_is_base64_and_keeps_empty_values() -> None:
    assert fixture("secret")["data"] == {"empty": "", "pw": "czNjcj10", "user": "YWRtaW4="}


def test_service_target_ports_are_int_or_string() -> None:
    ports = fixture("service")["spec"]["ports"]
    assert [(p["port"], p["targetPort"]) for p in ports] == [(80, 8080), (443, 443)]
    ingress = fixture("ingress")
    backends = [r["http"]["paths"][0]["backend"]["service"]["port"] for r in ingress["spec"]["rules"]]
    assert backends == [{"number": 8080}, {"name": "http"}]


def test_pdb_int_or_string() -> None:
    assert fixture("pdb")["spec"]["minAvailable"] == "50%"
    assert fixture("pdb_int")["spec"]["maxUnavailable"] == 0


def test_review_and_delete_options() -> None:
    assert fixture("can_i")["spec"]["resourceAttributes"]["subresource"] == "scale"
    assert fixture("can_i_list")["spec"] == {"namespace": "ns1"}
    assert fixture("whoami") == {"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1"}
    assert fixture("drain") == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5}
    token = fixture("token")["spec"]
    assert token["expirationSeconds"] == 3600 and token["boundObjectRef"]["uid"] == "1234"


def test_time_fields_are_rfc3339() -> None:
    condition = fixture("certificate_approve")["status"]["conditions"][0]
    assert condition["type"] == "Approved"
    assert condition["lastUpdateTime"].endswith("Z") and len(condition["lastUpdateTime"]) == 20
    assert "lastTransitionTime" not in condition


# --- hand-built messages: types kubectl's create commands do not exercise ---

def test_pointer_messages_survive_empty_and_inline_structs_flatten() -> None:
    volume = msg(1, "scratch") + msg(2, msg(2))  # Volume{name, VolumeSource{emptyDir: {}}}
    spec = msg(1, volume) + msg(2, msg(1, "c"), msg(2, "busybox"))
    obj = protobuf.decode(body("v1", "Pod", meta("p"), msg(2, spec)))
    assert obj["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]
    assert obj["spec"]["containers"] == [{"name": "c", "image": "busybox"}]
    assert obj["metadata"] == {"name": "p"}


def test_quantities_repeated_packed_and_unpacked_negative_ints() -> None:
    # ResourceQuota.spec.hard: map<string, Quantity>
    hard = msg(1, msg(1, "cpu"), msg(2, msg(1, "500m")))
    quota = protobuf.decode(body("v1", "ResourceQuota", meta("q"), msg(2, hard)))
    assert quota["spec"]["hard"] == {"cpu": "500m"}
    # PodSecurityContext.supplementalGroups (repeated int64, 4), runAsUser (pointer int64, 2)
    packed = msg(4, varint(1) + varint(2))
    unpacked = num(4, 3) + num(4, 1 << 63)
    security = msg(14, num(2, 0), packed, unpacked)
    pod = protobuf.decode(body("v1", "Pod", meta("p"), msg(2, security)))
    assert pod["spec"]["securityContext"] == {"runAsUser": 0, "supplementalGroups": [1, 2, 3, -(1 << 63)]}


def test_negative_int32_and_zero_non_pointer_fields() -> None:
    # PriorityClass{value: -5 (int32, sign-extended to 10 bytes), globalDefault: false}
    obj = protobuf.decode(body("scheduling.k8s.io/v1", "PriorityClass", meta("low"), num(2, -5), num(3, 0)))
    assert obj["value"] == -5 and "globalDefault" not in obj


def test_binary_data_and_unknown_fields() -> None:
    entry = msg(3, msg(1, "bin"), msg(2, b"\x00\xff"))
    future_field = msg(99, "ignored")
    obj = protobuf.decode(body("v1", "ConfigMap", meta("c"), entry, future_field))
    assert obj["binaryData"] == {"bin": "AP8="}


def test_extra_value_wrapper_becomes_list() -> None:
    # SubjectAccessReview.spec{user (3), extra (5): map<string, ExtraValue{items}>}
    extra = msg(5, msg(1, "scopes"), msg(2, msg(1, "a"), msg(1, "b")))
    obj = protobuf.decode(body("authorization.k8s.io/v1", "SubjectAccessReview", meta("r"),
                               msg(2, msg(3, "alice"), extra)))
    assert obj["spec"] == {"user": "alice", "extra": {"scopes": ["a", "b"]}}


def test_micro_time_managed_fields_and_raw_extension() -> None:
    # Lease.spec.renewTime (MicroTime, 4); managedFields[0].fieldsV1 (7); ControllerRevision.data
    renew = msg(4, num(1, 1704067200), num(2, 123456789))
    managed = msg(17, msg(1, "kubectl"), msg(7, msg(1, b'{"f:spec":{}}')))
    lease = protobuf.decode(body("coordination.k8s.io/v1", "Lease", msg(1, msg(1, "l"), managed), msg(2, renew)))
    assert lease["spec"] == {"renewTime": "2024-01-01T00:00:00.123456Z"}
    assert lease["metadata"]["managedFields"] == [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]
    revision = protobuf.decode(body("apps/v1", "ControllerRevision", meta("r"),
                                    msg(2, msg(1, b'{"spec":{"x":1}}')), num(3, 2)))
    assert revision["data"] == {"spec": {"x": 1}} and revision["revision"] == 2


def test_time_seconds() -> None:
    stamp = msg(8, num(1, 1704067200))
    obj = protobuf.decode(body("v1", "Namespace", msg(1, msg(1, "n"), stamp)))
    assert obj["metadata"]["creationTimestamp"] == "2024-01-01T00:00:00Z"


def test_meta_types_decode_under_any_group() -> None:
    for api_version in ("v1", "apps/v1", "meta.k8s.io/v1"):
        obj = protobuf.decode(body(api_version, "DeleteOptions", msg(4, "Foreground")))
        assert obj == {"kind": "DeleteOptions", "apiVersion": api_version, "propagationPolicy": "Foreground"}


def test_duration_through_a_custom_table() -> None:
    table = dict(fields.MESSAGES)
    duration = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration"
    table["k8s.io.api.core.v1.Namespace"] = {1: ("timeout", "message", 0, duration)}
    decoder = Decoder(load_schema(), table)
    assert decoder.decode(body("v1", "Namespace", msg(1, num(1, 90_000_000_000))))["timeout"] == "1m30s"


@pytest.mark.parametrize(("nanos", "text"), [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (300_000_000, "300ms"), (1_500_000_000, "1.5s"),
    (3_600_000_000_000, "1h0m0s"), (90_000_000_000, "1m30s"), (-2_000_000_000, "-2s"),
])
def test_go_duration(nanos: int, text: str) -> None:
    assert go_duration(nanos) == text


# --- errors ---

@pytest.mark.parametrize(("data", "code", "words"), [
    (b'{"kind":"Pod"}', 400, "expected prefix"),
    (b"k8s\x00\x0a\xff", 400, "truncated"),
    (body("v1", "Pod", meta("p"))[:-3], 400, "past the end"),
    (body("v1", "Nope"), 400, 'no kind "Nope"'),
    (b"k8s\x00" + msg(2, b""), 400, "missing"),
    (body("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"), 415, "not supported by navarch"),
    (body("v1", "Namespace", extra=msg(3, "gzip")), 415, "gzip"),
    (body("v1", "Namespace", msg(1, msg(1, b"\xff\xfe"))), 400, "UTF-8"),
    (body("v1", "Namespace", msg(1, num(1, 5))), 400, "length-delimited"),
    (body("v1", "Namespace", msg(1, b"\x0b")), 400, "wire type"),
], ids=["bad-magic", "truncated-envelope", "truncated-object", "unknown-kind", "no-type-meta",
        "unsupported-kind", "content-encoding", "bad-utf8", "wrong-wire-type", "group-wire-type"])
def test_malformed_bodies_are_status_errors(data: bytes, code: int, words: str) -> None:
    with pytest.raises(StatusError) as info:
        protobuf.decode(data)
    assert info.value.code == code
    assert words in info.value.message


def test_content_type_constant() -> None:
    assert protobuf.PROTOBUF_CONTENT_TYPE == "application/vnd.kubernetes.protobuf"


# --- the generated table agrees with the schema ---

def test_table_names_match_schema_and_refs_resolve() -> None:
    schema = load_schema()
    for name, spec in fields.MESSAGES.items():
        definition = schema.definitions.get("io.k8s." + name[len("k8s.io."):], {})
        props = definition.get("properties") or {}
        for number, (json_name, kind, flags, ref) in spec.items():
            if props and not flags & fields.INLINE:
                assert json_name in props, f"{name} field {number} {json_name!r}"
            if kind == "message" or (kind == "map" and "." in ref):
                assert ref in fields.MESSAGES, f"{name}.{json_name} -> {ref}"


def test_every_registry_kind_has_a_message() -> None:
    from navarch.api import resources

    schema = load_schema()
    for r in resources.RESOURCES:
        definition = schema.definition_for(r.group, r.version, r.kind)
        assert definition is not None
        assert "k8s.io." + definition[len("io.k8s."):] in fields.MESSAGES, r.kind

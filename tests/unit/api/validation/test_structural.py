import pytest

from navarch.api.schema import load_schema
from navarch.api.validation import structural

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD = "io.k8s.api.core.v1.Pod"
SECRET = "io.k8s.api.core.v1.Secret"
SERVICE = "io.k8s.api.core.v1.Service"


@pytest.fixture(scope="module")
def schema():
    return load_schema()


def deployment(**spec):
    base = {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    base.update(spec)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": base}


UNKNOWN_CASES = [
    ("clean", deployment(), []),
    ("spec-level", deployment(foo=1), ["spec.foo"]),
    ("top-level", {**deployment(), "bogus": True}, ["bogus"]),
    ("in-list-item", deployment(template={"spec": {"containers": [{"name": "a", "image": "b", "imagePullPolic": "x"}]}}),
     ["spec.template.spec.containers[0].imagePullPolic"]),
    ("second-item", deployment(template={"spec": {"containers": [{"name": "a"}, {"name": "b", "bad": 1}]}}),
     ["spec.template.spec.containers[1].bad"]),
    ("label-map-is-open", deployment(template={"metadata": {"labels": {"anything": "x"}}}), []),
    ("int-or-string-leaf", deployment(strategy={"rollingUpdate": {"maxSurge": "25%"}}), []),
    ("quantity-map", deployment(template={"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "1"}}}]}}), []),
    ("managed-fields-raw", {**deployment(), "metadata": {"name": "x", "managedFields": [{"fieldsV1": {"f:spec": {"f:x": {}}}}]}}, []),
    ("time-leaf", {**deployment(), "metadata": {"name": "x", "creationTimestamp": "2024-01-01T00:00:00Z"}}, []),
]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in UNKNOWN_CASES], ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_fields(schema, obj, expected):
    assert structural.unknown_fields(schema, DEPLOYMENT, obj) == expected


def test_raw_extension_keeps_anything(schema):
    rev = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "r"},
           "data": {"whatever": {"deep": [1, 2]}}, "revision": 1}
    assert structural.unknown_fields(schema, "io.k8s.api.apps.v1.ControllerRevision", rev) == []


def test_strict_error_and_warnings_text():
    err = structural.strict_error(["spec.foo", "spec.bar"], "Deployment", "v1")
    assert err.code == 400 and err.reason == "BadRequest"
    assert err.message == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                           'unknown field "spec.foo", unknown field "spec.bar"')
    assert structural.strict_error(["x"]).message == 'strict decoding error: unknown field "x"'
    assert structural.warnings(["spec.foo"]) == ['unknown field "spec.foo"']


def test_prune_drops_only_unknown_and_never_mutates(schema):
    obj = deployment(foo=1, template={"spec": {"containers": [{"name": "a", "zzz": 1}]}})
    pruned = structural.prune(schema, DEPLOYMENT, obj)
    assert "foo" not in pruned["spec"]
    assert pruned["spec"]["template"]["spec"]["containers"] == [{"name": "a"}]
    assert obj["spec"]["foo"] == 1 and obj["spec"]["template"]["spec"]["containers"][0]["zzz"] == 1
    assert pruned["spec"]["selector"] is obj["spec"]["selector"]


def test_prune_returns_same_object_when_clean(schema):
    obj = deployment()
    assert structural.prune(schema, DEPLOYMENT, obj) is obj


TYPE_CASES = [
    ("replicas-string", DEPLOYMENT, deployment(replicas="abc"),
     "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32",
     "spec.replicas"),
    ("replicas-float", DEPLOYMENT, deployment(replicas=1.5),
     "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
     "spec.replicas"),
    ("spec-not-object", DEPLOYMENT, {"spec": "x"},
     "json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec", "spec"),
    ("nested-list-no-indices", POD, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": "80"}]}]}},
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort of type int32",
     "spec.containers[0].ports[0].containerPort"),
    ("list-given-object", POD, {"spec": {"containers": {"name": "a"}}},
     "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container",
     "spec.containers"),
    ("image-number", POD, {"spec": {"containers": [{"name": "a", "image": 5}]}},
     "json: cannot unmarshal number into Go struct field Container.spec.containers.image of type string",
     "spec.containers[0].image"),
    ("named-string-type", POD, {"spec": {"restartPolicy": 1}},
     "json: cannot unmarshal number into Go struct field PodSpec.spec.restartPolicy of type v1.RestartPolicy",
     "spec.restartPolicy"),
    ("label-value-number", POD, {"metadata": {"labels": {"a": 1}}},
     "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
     "metadata.labels.a"),
    ("bool-field", POD, {"spec": {"hostNetwork": "yes"}},
     "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool", "spec.hostNetwork"),
    ("int-or-string-bool", SERVICE, {"spec": {"ports": [{"port": 80, "targetPort": True}]}},
     "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of type int32",
     "spec.ports[0].targetPort"),
    ("quantity-garbage", POD, {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "lots"}}}]}},
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
     "spec.containers[0].resources.limits.cpu"),
    ("quantity-bad-suffix", POD, {"spec": {"containers": [{"name": "a", "resources": {"limits": {"memory": "1Mk"}}}]}},
     "unable to parse quantity's suffix", "spec.containers[0].resources.limits.memory"),
    ("secret-bad-base64", SECRET, {"data": {"k": "abc!"}}, "illegal base64 data at input byte 3", "data.k"),
    ("secret-data-not-string", SECRET, {"data": {"k": 1}},
     "json: cannot unmarshal number into Go struct field Secret.data of type []uint8", "data.k"),
]


@pytest.mark.parametrize("definition,obj,message,path", [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_type_errors(schema, definition, obj, message, path):
    causes = structural.type_errors(schema, definition, obj)
    assert causes, "expected a type error"
    assert causes[0].message == message
    assert causes[0].field == path


@pytest.mark.parametrize("obj", [
    deployment(),
    deployment(replicas=None),
    deployment(strategy={"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}),
    {"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": 0.5, "memory": "1Gi"},
                                                          "requests": {"cpu": "100m", "memory": "1e3"}}}]}},
], ids=["plain", "nulls", "intorstring", "quantities"])
def test_no_type_errors(schema, obj):
    definition = POD if "containers" in obj.get("spec", {}) else DEPLOYMENT
    assert structural.type_errors(schema, definition, obj) == []


@pytest.mark.parametrize("definition,obj,message,path", [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_type_errors_of_a_patch_naming_every_key_match_the_whole_walk(schema, definition, obj, message, path):
    causes = structural.type_errors(schema, definition, obj, changed=obj)
    assert [(c.message, c.field) for c in causes] == [
        (c.message, c.field) for c in structural.type_errors(schema, definition, obj)]


@pytest.mark.parametrize("obj,expected", [c[1:] for c in UNKNOWN_CASES], ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_fields_of_a_patch_naming_every_key_match_the_whole_walk(schema, obj, expected):
    assert structural.unknown_fields(schema, DEPLOYMENT, obj, changed=obj) == expected


def test_a_patch_is_checked_only_where_it_reaches(schema):
    # The stored part (spec) is not walked again; what the patch names is, to the depth it names.
    obj = deployment(replicas="abc", foo=1)
    obj["status"] = {"replicas": "two", "bogus": 1}
    status_patch = {"status": {"replicas": "two", "bogus": 1}}
    causes = structural.type_errors(schema, DEPLOYMENT, obj, changed=status_patch)
    assert [c.field for c in causes] == ["status.replicas"]
    assert causes[0].message == ("json: cannot unmarshal string into Go struct field "
                                 "DeploymentStatus.status.replicas of type int32")
    assert structural.unknown_fields(schema, DEPLOYMENT, obj, changed=status_patch) == ["status.bogus"]
    # A value the patch replaced whole (a list) is walked whole, whatever the patch's own shape.
    pod = {"spec": {"containers": [{"name": "a", "image": 5, "x": 1}]}}
    patch = {"spec": {"containers": [{"name": "a"}]}}
    assert [c.field for c in structural.type_errors(schema, POD, pod, changed=patch)] == ["spec.containers[0].image"]
    assert structural.unknown_fields(schema, POD, pod, changed=patch) == ["spec.containers[0].x"]
    # Map keys keep Go's error context (the struct that holds the map), as in the whole walk.
    labelled = {"metadata": {"labels": {"a": 1, "b": 2}}}
    causes = structural.type_errors(schema, POD, labelled, changed={"metadata": {"labels": {"b": 2}}})
    assert [(c.field, c.message) for c in causes] == [
        ("metadata.labels.b", "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string")]


def test_decode_error_reports_first_cause(schema):
    causes = structural.type_errors(schema, DEPLOYMENT, deployment(replicas="a", minReadySeconds="b"))
    assert len(causes) == 2
    err = structural.decode_error(causes, "Deployment", "v1")
    assert err.code == 400
    assert err.message == ('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
                           'string into Go struct field DeploymentSpec.spec.replicas of type int32')


@pytest.mark.parametrize("text,at", [
    ("YWJj", None), ("YQ==", None), ("YWI=", None), ("", None), ("YWJj\nZGVm", None),
    ("YWJ", 0), ("abc!", 3), ("Y===", 1), ("YQ==YQ==", 4), ("YQ=", 3),
])
def test_base64_matches_go(text, at):
    assert structural.base64_error_at(text) == at

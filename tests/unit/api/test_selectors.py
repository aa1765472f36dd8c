import pytest

from navarch.api import selectors
from navarch.api.errors import StatusError
from navarch.api.resources import REGISTRY


def _res(group: str, plural: str):
    version = REGISTRY.preferred_version(group)
    r = REGISTRY.get(group, version, plural)
    assert r is not None
    return r


LABELS = {"app": "web", "tier": "front", "n": "5", "empty": ""}


@pytest.mark.parametrize("text,expected", [
    ("", True),
    ("app=web", True),
    ("app==web", True),
    ("app=db", False),
    ("app!=db", True),
    ("app!=web", False),
    ("missing!=x", True),
    ("app in (web,db)", True),
    ("app in (db)", False),
    ("app notin (db)", True),
    ("app notin (web)", False),
    ("missing notin (web)", True),
    ("app", True),
    ("missing", False),
    ("!missing", True),
    ("!app", False),
    ("app=web,tier=front", True),
    ("app=web,tier=back", False),
    ("  app = web , tier in ( front , back )  ", True),
    ("n>4", True),
    ("n<5", False),
    ("app>1", False),
    ("empty=", True),
    ("empty in (,x)", True),
    ("app in ()", False),
    ("x in (in,notin)", False),
    ("app in (in,web)", True),
    ("app\tin\n(web)", True),
], ids=lambda v: repr(v) if isinstance(v, str) else None)
def test_label_selector_matches(text, expected):
    assert selectors.parse_label_selector(text).matches(LABELS) is expected


@pytest.mark.parametrize("text,message", [
    ("app web", "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"),
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("=web", "found '=', expected: !, identifier, or 'end of string'"),
    ("app=web)", "found ')', expected: ',' or 'end of string'"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("app=(", "unable to parse requirement: found '(', expected: identifier"),
    ("a$=b", 'unable to parse requirement: <nil>: Invalid value: "a$": name part must consist of'),
    ("/a=b", "prefix part must be non-empty"),
    ("Foo.com/a=b", "prefix part a lowercase RFC 1123 subdomain"),
    ("app=a$", 'unable to parse requirement: values[0][app]: Invalid value: "a$": a valid label must be'),
    ("app=" + "a" * 64, "must be no more than 63 characters"),
    ("n>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
], ids=lambda v: v[:30])
def test_label_selector_errors(text, message):
    with pytest.raises(StatusError) as info:
        selectors.parse_label_selector(text)
    assert info.value.code == 400
    assert info.value.reason == "BadRequest"
    assert message in info.value.message


def test_label_selector_helpers():
    sel = selectors.parse_label_selector("tier,app=web")
    assert [r.key for r in sel.requirements] == ["app", "tier"]
    assert str(sel) == "app=web,tier"
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") is None
    assert not sel.empty
    assert selectors.parse_label_selector("").empty
    assert str(selectors.parse_label_selector("a notin (z,y)")) == "a notin (y,z)"


@pytest.mark.parametrize("obj,expected", [
    (None, False),
    ({}, True),
    ({"matchLabels": {"app": "web"}}, True),
    ({"matchLabels": {"app": "db"}}, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, False),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, True),
], ids=str)
def test_label_selector_from_object(obj, expected):
    assert selectors.label_selector_from_object(obj).matches(LABELS) is expected


@pytest.mark.parametrize("obj,message", [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
     '"Equals" is not a valid label selector operator'),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
     "for 'in', 'notin' operators, values set can't be empty"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
     "values set must be empty for exists and does not exist"),
    ({"matchLabels": {"a b": "x"}}, 'key: Invalid value: "a b"'),
], ids=str)
def test_label_selector_from_object_errors(obj, message):
    with pytest.raises(StatusError) as info:
        selectors.label_selector_from_object(obj)
    assert info.value.code == 400
    assert message in info.value.message


@pytest.mark.parametrize("text,fields,expected", [
    ("", {}, True),
    ("metadata.name=a", {"metadata.name": "a"}, True),
    ("metadata.name==a", {"metadata.name": "b"}, False),
    ("status.phase!=Succeeded", {"status.phase": "Running"}, True),
    ("status.phase!=Succeeded,status.phase!=Failed", {"status.phase": "Failed"}, False),
    ("spec.nodeName=", {}, True),
    ("spec.nodeName=", {"spec.nodeName": "n1"}, False),
    (r"metadata.name=a\,b\=c\\d", {"metadata.name": "a,b=c\\d"}, True),
], ids=str)
def test_field_selector_matches(text, fields, expected):
    assert selectors.parse_field_selector(text).matches(fields) is expected


@pytest.mark.parametrize("text,message", [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    (r"a=b\x", r"invalid field selector: invalid escape sequence: \x"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_errors(text, message):
    with pytest.raises(StatusError) as info:
        selectors.parse_field_selector(text)
    assert info.value.code == 400
    assert info.value.message == message


def test_field_selector_requirements_and_string():
    sel = selectors.parse_field_selector(r"spec.nodeName=n1,metadata.name=a\,b")
    assert [(r.field, r.operator, r.value) for r in sel.requirements] == [
        ("metadata.name", "=", "a,b"), ("spec.nodeName", "=", "n1")]
    assert sel.requires_exact_match("metadata.name") == "a,b"
    assert selectors.parse_field_selector("metadata.name!=a").requires_exact_match("metadata.name") is None
    assert str(sel) == r"metadata.name=a\,b,spec.nodeName=n1"


def test_pod_fields():
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                 "serviceAccountName": "default", "hostNetwork": True},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}], "nominatedNodeName": "n2"},
    }
    fields = selectors.object_fields(_res("", "pods"), pod)
    assert fields == {
        "metadata.name": "p", "metadata.namespace": "ns", "spec.nodeName": "n1",
        "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default", "spec.hostNetwork": "true", "status.phase": "Running",
        "status.podIP": "10.0.0.1", "status.podIPs": "10.0.0.1", "status.nominatedNodeName": "n2",
    }
    assert selectors.parse_field_selector("spec.nodeName=n1,status.phase!=Succeeded").matches(fields)
    bare = selectors.object_fields(_res("", "pods"), {"metadata": {"name": "q", "namespace": "ns"}})
    assert bare["spec.hostNetwork"] == "false" and bare["spec.nodeName"] == ""


@pytest.mark.parametrize("group,plural,obj,expected", [
    ("", "nodes", {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
     {"metadata.name": "n", "spec.unschedulable": "true"}),
    ("", "namespaces", {"metadata": {"name": "x"}, "status": {"phase": "Active"}},
     {"metadata.name": "x", "status.phase": "Active"}),
    ("", "secrets", {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"},
     {"metadata.name": "s", "metadata.namespace": "d", "type": "Opaque"}),
    ("apps", "replicasets", {"metadata": {"name": "r", "namespace": "d"}},
     {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "0"}),
    ("", "replicationcontrollers", {"metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}},
     {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "3"}),
    ("batch", "jobs", {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}},
     {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "2"}),
    ("", "services", {"metadata": {"name": "s", "namespace": "d"}, "spec": {"clusterIP": "10.96.0.1",
                                                                              "type": "ClusterIP"}},
     {"metadata.name": "s", "metadata.namespace": "d", "spec.clusterIP": "10.96.0.1", "spec.type": "ClusterIP"}),
    ("certificates.k8s.io", "certificatesigningrequests", {"metadata": {"name": "c"},
                                                           "spec": {"signerName": "k/s"}},
     {"metadata.name": "c", "spec.signerName": "k/s"}),
    ("", "configmaps", {"metadata": {"name": "c", "namespace": "d"}},
     {"metadata.name": "c", "metadata.namespace": "d"}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_object_fields(group, plural, obj, expected):
    assert selectors.object_fields(_res(group, plural), obj) == expected


def test_event_fields():
    event = {"metadata": {"name": "e", "namespace": "d"}, "reason": "Started", "type": "Normal",
             "reportingComponent": "kubelet", "source": {"component": "kubelet"},
             "involvedObject": {"kind": "Pod", "name": "p", "namespace": "d", "uid": "u",
                                "apiVersion": "v1", "resourceVersion": "5", "fieldPath": "spec.containers{c}"}}
    fields = selectors.object_fields(_res("", "events"), event)
    assert fields["involvedObject.kind"] == "Pod"
    assert fields["involvedObject.fieldPath"] == "spec.containers{c}"
    assert fields["source"] == "kubelet" and fields["reason"] == "Started" and fields["type"] == "Normal"
    assert selectors.parse_field_selector("involvedObject.name=p,involvedObject.kind=Pod").matches(fields)


def test_check_field_selector():
    pods = _res("", "pods")
    sel = selectors.check_field_selector(pods, selectors.parse_field_selector("spec.host=n1"))
    assert sel.requirements[0].field == "spec.nodeName"
    with pytest.raises(StatusError) as info:
        selectors.check_field_selector(pods, selectors.parse_field_selector("foo=bar"))
    assert info.value.code == 400 and info.value.message == "field label not supported: foo"
    # Kinds without their own conversion accept only metadata.name/namespace.
    with pytest.raises(StatusError):
        selectors.check_field_selector(_res("apps", "deployments"),
                                       selectors.parse_field_selector("status.replicas=1"))
    selectors.check_field_selector(_res("apps", "deployments"),
                                   selectors.parse_field_selector("metadata.namespace=x"))
    # Nodes accept no metadata.namespace (their conversion function lists only name and unschedulable).
    with pytest.raises(StatusError):
        selectors.check_field_selector(_res("", "nodes"), selectors.parse_field_selector("metadata.namespace="))
    err = selectors.unsupported_field_error(pods, "x.y")
    assert err.to_status()["message"] == "field label not supported: x.y"

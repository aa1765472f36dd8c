import copy

import pytest

from navarch.api import conversion
from navarch.api.validation import events

POD_REF = {"kind": "Pod", "namespace": "default", "name": "web-1", "apiVersion": "v1"}


def new_event(**fields):
    """A valid events.k8s.io/v1 event, as a recorder writes it."""
    base = {"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web-1.17a", "namespace": "default"},
            "eventTime": "2024-05-01T10:00:00.123456Z", "reportingController": "example.com/scheduler",
            "reportingInstance": "scheduler-1", "action": "Binding", "reason": "Scheduled",
            "regarding": POD_REF, "note": "assigned", "type": "Normal"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def old_event(**fields):
    """A valid core/v1 event in the old style (no eventTime)."""
    base = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-1.17b", "namespace": "default"},
            "involvedObject": POD_REF, "reason": "Pulled", "message": "pulled", "type": "Normal",
            "source": {"component": "kubelet", "host": "node-1"}, "count": 1,
            "firstTimestamp": "2024-05-01T10:00:00Z", "lastTimestamp": "2024-05-01T10:00:00Z"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def shown(causes):
    return [(c.reason, c.field, c.message) for c in causes]


QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                      "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                      "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def test_valid_events_v1_create():
    assert events.validate_events_v1(new_event()) == []


def test_valid_old_style_core_create():
    assert events.validate_event_create(old_event(), "v1") == []


@pytest.mark.parametrize("obj,expected", [
    (new_event(reportingController=None, action=None, reason=None), [
        ("FieldValueRequired", "reportingController", "Required value"),
        ("FieldValueInvalid", "reportingController", 'Invalid value: "": name part must be non-empty'),
        ("FieldValueInvalid", "reportingController", f'Invalid value: "": {QUALIFIED_NAME_MSG}'),
        ("FieldValueRequired", "action", "Required value"),
        ("FieldValueRequired", "reason", "Required value"),
    ]),
    (new_event(eventTime=None), [("FieldValueRequired", "eventTime", "Required value")]),
    (new_event(type="Info"), [("FieldValueInvalid", "type", 'Invalid value: "": has invalid value: Info')]),
    (new_event(type=None), [("FieldValueInvalid", "type", 'Invalid value: "": has invalid value: ')]),
    (new_event(deprecatedSource={"component": "kubelet"}, deprecatedCount=2,
               deprecatedFirstTimestamp="2024-05-01T10:00:00Z"), [
        ("FieldValueInvalid", "firstTimestamp", 'Invalid value: "": needs to be unset'),
        ("FieldValueInvalid", "count", 'Invalid value: "": needs to be unset'),
        ("FieldValueInvalid", "source", 'Invalid value: "": needs to be unset'),
    ]),
    (new_event(series={"count": 1}), [
        ("FieldValueInvalid", "series.count", 'Invalid value: "": should be at least 2'),
        ("FieldValueRequired", "series.lastObservedTime", "Required value"),
    ]),
    (new_event(reportingInstance="x" * 129, action="a" * 129, note="n" * 1025), [
        ("FieldValueInvalid", "reportingInstance", 'Invalid value: "": can have at most 128 characters'),
        ("FieldValueInvalid", "action", 'Invalid value: "": can have at most 128 characters'),
        ("FieldValueInvalid", "message", 'Invalid value: "": can have at most 1024 characters'),
    ]),
    (new_event(metadata={"name": "e", "namespace": "apps"}, regarding={"kind": "Node", "name": "n1"}), [
        ("FieldValueInvalid", "involvedObject.namespace", 'Invalid value: "": does not match event.namespace'),
    ]),
], ids=["reporting-fields", "event-time", "type", "no-type", "deprecated-fields", "series", "lengths",
        "cluster-scoped-regarding"])
def test_events_v1_create_causes(obj, expected):
    assert shown(events.validate_events_v1(obj)) == expected


def test_core_shape_gives_the_same_causes():
    obj = new_event(reportingController=None, type="Info")
    assert shown(events.validate_event_create(conversion.convert(obj, "v1"), "events.k8s.io/v1")) == \
        shown(events.validate_events_v1(obj))


def test_core_v1_new_style_event_names_reporting_component():
    obj = conversion.convert(new_event(reportingController="bad name!"), "v1")
    assert shown(events.validate_event_create(obj, "v1")) == [
        ("FieldValueInvalid", "reportingComponent", f'Invalid value: "bad name!": {QUALIFIED_NAME_MSG}')]


def test_core_v1_skips_the_strict_rules():
    # Deprecated fields, odd types and no eventTime are all fine through core/v1.
    assert events.validate_event_create(old_event(type="Custom", count=9), "v1") == []


@pytest.mark.parametrize("meta_ns,involved_ns,ok", [
    ("default", "default", True), ("default", "", True), ("", "", True), ("kube-system", "", False),
    ("a", "b", False),
])
def test_old_style_namespace_agreement(meta_ns, involved_ns, ok):
    obj = old_event(metadata={"name": "e", "namespace": meta_ns},
                    involvedObject={"kind": "Node", "name": "n", "namespace": involved_ns})
    causes = [c for c in events.validate_event_create(obj, "v1") if c.field == "involvedObject.namespace"]
    assert (causes == []) is ok


def test_new_style_cluster_scoped_object_allowed_in_kube_system():
    obj = new_event(metadata={"name": "e", "namespace": "kube-system"}, regarding={"kind": "Node", "name": "n"})
    assert events.validate_events_v1(obj) == []


def test_update_through_core_v1_has_no_immutable_fields():
    old = old_event()
    new = old_event(message="changed", count=2, lastTimestamp="2024-05-01T10:05:00Z")
    assert events.validate_event_update(new, old, "v1") == []


def test_update_through_events_v1_unchanged_is_valid():
    old = new_event()
    new = copy.deepcopy(old)
    new["eventTime"] = "2024-05-01T10:00:00.123456+00:00"  # same instant, other spelling
    assert events.validate_event_update(new, old, "events.k8s.io/v1") == []


def test_update_through_events_v1_reports_immutable_fields():
    old = new_event()
    new = new_event(note="other", reason="Moved", regarding={**POD_REF, "name": "web-2"},
                    eventTime="2024-05-01T10:00:01Z", reportingInstance="scheduler-2",
                    related={"kind": "Node", "name": "n1"})
    assert shown(events.validate_event_update(new, old, "events.k8s.io/v1")) == [
        ("FieldValueInvalid", "involvedObject",
         ('Invalid value: core.ObjectReference{Kind:"Pod", Namespace:"default", Name:"web-2", UID:"", '
          'APIVersion:"v1", ResourceVersion:"", FieldPath:""}: field is immutable')),
        ("FieldValueInvalid", "reason", 'Invalid value: "Moved": field is immutable'),
        ("FieldValueInvalid", "message", 'Invalid value: "other": field is immutable'),
        ("FieldValueInvalid", "reason", 'Invalid value: "Moved": field is immutable'),
        ("FieldValueInvalid", "eventTime", "Invalid value: 2024-05-01 10:00:01 +0000 UTC: field is immutable"),
        ("FieldValueInvalid", "related",
         ('Invalid value: core.ObjectReference{Kind:"Node", Namespace:"", Name:"n1", UID:"", APIVersion:"", '
          'ResourceVersion:"", FieldPath:""}: field is immutable')),
        ("FieldValueInvalid", "reportingInstance", 'Invalid value: "scheduler-2": field is immutable'),
    ]


def test_update_through_events_v1_validates_a_changed_series():
    old = new_event(series={"count": 2, "lastObservedTime": "2024-05-01T10:01:00.000000Z"})
    new = new_event(series={"count": 1, "lastObservedTime": "2024-05-01T10:02:00.000000Z"})
    assert shown(events.validate_event_update(new, old, "events.k8s.io/v1")) == [
        ("FieldValueInvalid", "series.count", 'Invalid value: "": should be at least 2')]
    # An unchanged (even invalid) series is not checked again.
    assert events.validate_event_update(new, copy.deepcopy(new), "events.k8s.io/v1") == []

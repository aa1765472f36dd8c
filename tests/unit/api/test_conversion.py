import copy
import json

import pytest

from navarch.api import conversion
from navarch.api.conversion import (
    BEHAVIOR_ANNOTATION,
    CONDITIONS_ANNOTATION,
    CURRENT_METRICS_ANNOTATION,
    METRICS_ANNOTATION,
    ConversionError,
    convert,
)

# ---------------------------------------------------------------------------------------------
# Events

META = {"name": "web-1.17a", "namespace": "default", "uid": "u1", "resourceVersion": "7",
        "creationTimestamp": "2024-05-01T10:00:00Z"}
POD_REF = {"kind": "Pod", "namespace": "default", "name": "web-1", "uid": "p1", "apiVersion": "v1",
           "resourceVersion": "42", "fieldPath": "spec.containers{web}"}


def core_event(**fields):
    base = {"kind": "Event", "apiVersion": "v1", "metadata": copy.deepcopy(META)}
    base.update(fields)
    return base


def events_event(**fields):
    base = {"kind": "Event", "apiVersion": "events.k8s.io/v1", "metadata": copy.deepcopy(META)}
    base.update(fields)
    return base


# As the API server shows them: every field Go's encoder writes, zero values included.
KUBELET_EVENT = core_event(
    involvedObject=POD_REF, reason="Pulled", message='Container image "nginx" already present',
    source={"component": "kubelet", "host": "node-1"}, firstTimestamp="2024-05-01T10:00:00Z",
    lastTimestamp="2024-05-01T10:05:00Z", count=3, type="Normal", eventTime=None,
    reportingComponent="kubelet", reportingInstance="node-1",
)
NEW_STYLE_EVENT = core_event(
    involvedObject=POD_REF, reason="Scheduled", message="Successfully assigned default/web-1 to node-1",
    source={}, firstTimestamp=None, lastTimestamp=None, type="Normal",
    eventTime="2024-05-01T10:00:00.123456Z",
    series={"count": 4, "lastObservedTime": "2024-05-01T10:09:00.000001Z"}, action="Binding",
    related={"kind": "Node", "name": "node-1", "apiVersion": "v1"},
    reportingComponent="default-scheduler", reportingInstance="default-scheduler-node-1",
)
EVENTS_V1_EVENT = events_event(
    eventTime="2024-05-01T10:00:00.123456Z",
    series={"count": 4, "lastObservedTime": "2024-05-01T10:09:00.000001Z"},
    reportingController="default-scheduler", reportingInstance="default-scheduler-node-1",
    action="Binding", reason="Scheduled", regarding=POD_REF,
    related={"kind": "Node", "name": "node-1", "apiVersion": "v1"},
    note="Successfully assigned default/web-1 to node-1", type="Normal", deprecatedSource={},
    deprecatedFirstTimestamp=None, deprecatedLastTimestamp=None,
)


def test_core_event_to_events_v1_renames_every_field():
    got = convert(KUBELET_EVENT, "events.k8s.io/v1")
    assert got == events_event(
        eventTime=None, reportingController="kubelet", reportingInstance="node-1", reason="Pulled",
        regarding=POD_REF, note='Container image "nginx" already present', type="Normal",
        deprecatedSource={"component": "kubelet", "host": "node-1"},
        deprecatedFirstTimestamp="2024-05-01T10:00:00Z", deprecatedLastTimestamp="2024-05-01T10:05:00Z",
        deprecatedCount=3,
    )
    # Go's field order, as upstream writes the object.
    assert list(got) == ["kind", "apiVersion", "metadata", "eventTime", "reportingController",
                         "reportingInstance", "reason", "regarding", "note", "type", "deprecatedSource",
                         "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"]


def test_events_v1_event_to_core():
    assert convert(EVENTS_V1_EVENT, "v1") == NEW_STYLE_EVENT


@pytest.mark.parametrize("event", [KUBELET_EVENT, NEW_STYLE_EVENT], ids=["kubelet", "new-style"])
def test_core_round_trip_through_events_v1_keeps_every_field(event):
    assert convert(convert(event, "events.k8s.io/v1"), "v1") == event


def test_events_v1_round_trip_through_core():
    assert convert(convert(EVENTS_V1_EVENT, "v1"), "events.k8s.io/v1") == EVENTS_V1_EVENT


def test_upstream_conversion_test_case():
    # pkg/apis/events/v1/conversion_test.go: regarding/deprecatedSource/note <-> core fields.
    got = convert(events_event(
        metadata={"name": "foo", "namespace": "default"},
        regarding={"kind": "Pod", "namespace": "default", "name": "foo"},
        deprecatedSource={"component": "controller-manager", "host": "master1"},
        note="convert v1 event to core event"), "v1")
    assert got["involvedObject"] == {"kind": "Pod", "namespace": "default", "name": "foo"}
    assert got["source"] == {"component": "controller-manager", "host": "master1"}
    assert got["message"] == "convert v1 event to core event"
    assert got["metadata"] == {"name": "foo", "namespace": "default"}


def test_sparse_events_v1_event_gets_go_zero_values_in_core():
    got = convert(events_event(eventTime="2024-05-01T10:00:00.000000Z", reportingController="c",
                               reportingInstance="i", action="A", reason="R", type="Normal"), "v1")
    assert got == core_event(
        involvedObject={}, reason="R", source={}, firstTimestamp=None, lastTimestamp=None, type="Normal",
        eventTime="2024-05-01T10:00:00.000000Z", action="A", reportingComponent="c", reportingInstance="i")


def test_series_zero_values_follow_each_versions_tags():
    # events.k8s.io/v1 series fields have no omitempty; core/v1's do.
    assert convert(core_event(series={}), "events.k8s.io/v1")["series"] == {"count": 0, "lastObservedTime": None}
    assert convert(events_event(series={"count": 0}), "v1")["series"] == {"lastObservedTime": None}


def test_event_list_converts_each_item():
    lst = {"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
           "items": [{k: v for k, v in KUBELET_EVENT.items() if k not in ("kind", "apiVersion")}]}
    got = convert(lst, "events.k8s.io/v1")
    assert got["apiVersion"] == "events.k8s.io/v1" and got["kind"] == "EventList"
    assert got["metadata"] == {"resourceVersion": "9"}
    item = convert(KUBELET_EVENT, "events.k8s.io/v1")
    # Items without their own apiVersion/kind stay that way, as in upstream's list responses.
    assert got["items"] == [{k: v for k, v in item.items() if k not in ("kind", "apiVersion")}]


@pytest.mark.parametrize("label,expected", [
    ("regarding.name", "involvedObject.name"),
    ("regarding.fieldPath", "involvedObject.fieldPath"),
    ("reportingController", "reportingComponent"),
    ("metadata.name", "metadata.name"),
    ("source", "source"),
    ("involvedObject.name", None),
    ("note", None),
])
def test_event_field_label(label, expected):
    assert conversion.event_field_label(label) == expected


# ---------------------------------------------------------------------------------------------
# HorizontalPodAutoscalers

HPA_META = {"name": "web", "namespace": "default", "uid": "h1", "resourceVersion": "5"}
TARGET = {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"}


def hpa_v1(annotations=None, status=None, **spec):
    meta = copy.deepcopy(HPA_META)
    if annotations:
        meta["annotations"] = annotations
    base_spec = {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 10}
    base_spec.update(spec)
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "metadata": meta,
            "spec": base_spec, "status": status or {"currentReplicas": 0, "desiredReplicas": 0}}


def hpa_v2(metrics, annotations=None, status=None, behavior=None):
    meta = copy.deepcopy(HPA_META)
    if annotations:
        meta["annotations"] = annotations
    spec = {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": 10, "metrics": metrics}
    if behavior is not None:
        spec["behavior"] = behavior
    return {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2", "metadata": meta,
            "spec": spec, "status": status or {"desiredReplicas": 0}}


def cpu(percent):
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                        "averageUtilization": percent}}}


PODS_METRIC = {"type": "Pods", "pods": {"metric": {"name": "qps"},
                                        "target": {"type": "AverageValue", "averageValue": "1k"}}}
MEMORY_METRIC = {"type": "Resource", "resource": {"name": "memory",
                                                  "target": {"type": "AverageValue", "averageValue": "512Mi"}}}
OBJECT_METRIC = {"type": "Object", "object": {
    "describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "networking.k8s.io/v1"},
    "target": {"type": "Value", "value": "10k"},
    "metric": {"name": "requests", "selector": {"matchLabels": {"path": "api"}}}}}
EXTERNAL_METRIC = {"type": "External", "external": {
    "metric": {"name": "queue", "selector": {"matchExpressions": [{"key": "q", "operator": "In",
                                                                    "values": ["jobs"]}]}},
    "target": {"type": "AverageValue", "averageValue": "30"}}}
CONTAINER_METRIC = {"type": "ContainerResource", "containerResource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}, "container": "app"}}
BEHAVIOR = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                     {"type": "Percent", "value": 100, "periodSeconds": 15}]},
            "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
                          "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
CONDITION = {"type": "AbleToScale", "status": "True", "lastTransitionTime": "2024-05-01T10:00:00Z",
             "reason": "ReadyForNewScale", "message": "recommended size matches current size"}
CPU_STATUS = {"type": "Resource", "resource": {"name": "cpu", "current": {"averageValue": "120m",
                                                                          "averageUtilization": 40}}}
PODS_STATUS = {"type": "Pods", "pods": {"metric": {"name": "qps"}, "current": {"averageValue": "900"}}}

# The annotations exactly as upstream's encoding/json writes them.
PODS_METRIC_JSON = '{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}}'
MEMORY_METRIC_JSON = '{"type":"Resource","resource":{"name":"memory","targetAverageValue":"512Mi"}}'
OBJECT_METRIC_JSON = ('{"type":"Object","object":{"target":{"kind":"Ingress","name":"main",'
                      '"apiVersion":"networking.k8s.io/v1"},"metricName":"requests","targetValue":"10k",'
                      '"selector":{"matchLabels":{"path":"api"}}}}')
EXTERNAL_METRIC_JSON = ('{"type":"External","external":{"metricName":"queue","metricSelector":'
                        '{"matchExpressions":[{"key":"q","operator":"In","values":["jobs"]}]},'
                        '"targetAverageValue":"30"}}')
CONTAINER_METRIC_JSON = ('{"type":"ContainerResource","containerResource":{"name":"cpu",'
                         '"targetAverageUtilization":60,"container":"app"}}')
BEHAVIOR_JSON = ('{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":'
                 '[{"Type":"Pods","Value":4,"PeriodSeconds":15},{"Type":"Percent","Value":100,'
                 '"PeriodSeconds":15}],"Tolerance":null},"ScaleDown":{"StabilizationWindowSeconds":300,'
                 '"SelectPolicy":"Max","Policies":[{"Type":"Percent","Value":100,"PeriodSeconds":15}],'
                 '"Tolerance":null}}')
CONDITION_JSON = ('{"type":"AbleToScale","status":"True","lastTransitionTime":"2024-05-01T10:00:00Z",'
                  '"reason":"ReadyForNewScale","message":"recommended size matches current size"}')
CPU_STATUS_JSON = ('{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,'
                   '"currentAverageValue":"120m"}}')
PODS_STATUS_JSON = '{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"900"}}'


HPA_PAIRS = [
    pytest.param(hpa_v1(targetCPUUtilizationPercentage=50), hpa_v2([cpu(50)]), id="cpu-only"),
    pytest.param(hpa_v1(annotations={"team": "web"}, targetCPUUtilizationPercentage=50),
                 hpa_v2([cpu(50)], annotations={"team": "web"}), id="user-annotations-kept"),
    pytest.param(hpa_v1(annotations={METRICS_ANNOTATION: f"[{PODS_METRIC_JSON},{MEMORY_METRIC_JSON}]"},
                        targetCPUUtilizationPercentage=70),
                 hpa_v2([PODS_METRIC, MEMORY_METRIC, cpu(70)]), id="other-metrics-then-cpu"),
    pytest.param(hpa_v1(annotations={METRICS_ANNOTATION: f"[{OBJECT_METRIC_JSON},{EXTERNAL_METRIC_JSON},"
                                                         f"{CONTAINER_METRIC_JSON}]"}),
                 hpa_v2([OBJECT_METRIC, EXTERNAL_METRIC, CONTAINER_METRIC]), id="no-cpu-target"),
    pytest.param(hpa_v1(annotations={BEHAVIOR_ANNOTATION: BEHAVIOR_JSON}, targetCPUUtilizationPercentage=80),
                 hpa_v2([cpu(80)], behavior=BEHAVIOR), id="behavior"),
    pytest.param(
        hpa_v1(annotations={CURRENT_METRICS_ANNOTATION: f"[{CPU_STATUS_JSON},{PODS_STATUS_JSON}]",
                            CONDITIONS_ANNOTATION: f"[{CONDITION_JSON}]"},
               status={"observedGeneration": 3, "lastScaleTime": "2024-05-01T09:00:00Z",
                       "currentReplicas": 2, "desiredReplicas": 3, "currentCPUUtilizationPercentage": 40},
               targetCPUUtilizationPercentage=50),
        hpa_v2([cpu(50)], status={"observedGeneration": 3, "lastScaleTime": "2024-05-01T09:00:00Z",
                                  "currentReplicas": 2, "desiredReplicas": 3,
                                  "currentMetrics": [CPU_STATUS, PODS_STATUS], "conditions": [CONDITION]}),
        id="status"),
]


@pytest.mark.parametrize("v1,v2", HPA_PAIRS)
def test_hpa_v1_to_v2(v1, v2):
    assert convert(v1, "autoscaling/v2") == v2


@pytest.mark.parametrize("v1,v2", HPA_PAIRS)
def test_hpa_v2_to_v1_writes_upstreams_annotations(v1, v2):
    assert convert(v2, "autoscaling/v1") == v1


@pytest.mark.parametrize("v1,v2", HPA_PAIRS)
def test_hpa_round_trips(v1, v2):
    assert convert(convert(v1, "autoscaling/v2"), "autoscaling/v1") == v1
    assert convert(convert(v2, "autoscaling/v1"), "autoscaling/v2") == v2


@pytest.mark.parametrize("obj,to", [
    (KUBELET_EVENT, "events.k8s.io/v1"), (EVENTS_V1_EVENT, "v1"),
    (HPA_PAIRS[5].values[0], "autoscaling/v2"), (HPA_PAIRS[5].values[1], "autoscaling/v1"),
], ids=["core-event", "events-event", "hpa-v1", "hpa-v2"])
def test_input_is_left_unchanged_and_output_shares_nothing(obj, to):
    before = copy.deepcopy(obj)
    got = convert(obj, to)
    assert obj == before
    got["metadata"]["name"] = "changed"
    assert obj["metadata"]["name"] == before["metadata"]["name"]


def test_same_version_is_returned_as_is():
    assert convert(KUBELET_EVENT, "v1") is KUBELET_EVENT
    v2 = hpa_v2([cpu(50)])
    assert convert(v2, "autoscaling/v2") is v2


@pytest.mark.parametrize("obj,to", [
    ({"kind": "Pod", "apiVersion": "v1"}, "apps/v1"),
    ({"kind": "Event", "apiVersion": "v1"}, "autoscaling/v1"),
    ({"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v2"}, "autoscaling/v2beta2"),
], ids=["pod", "event-to-autoscaling", "hpa-v2beta2"])
def test_unsupported_conversions_raise(obj, to):
    with pytest.raises(ConversionError):
        convert(obj, to)


def test_v1_without_target_gets_the_default_cpu_metric():
    # autoscaling/v1 once applied 80% in the controller; conversion makes it explicit.
    got = convert(hpa_v1(), "autoscaling/v2")
    assert got["spec"]["metrics"] == [cpu(80)]
    assert convert(got, "autoscaling/v1")["spec"]["targetCPUUtilizationPercentage"] == 80


def test_v1_status_cpu_figure_becomes_a_metric_and_comes_back_with_its_raw_value():
    v1 = hpa_v1(status={"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 35},
                targetCPUUtilizationPercentage=50)
    v2 = convert(v1, "autoscaling/v2")
    assert v2["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}]
    back = convert(v2, "autoscaling/v1")
    assert back["status"]["currentCPUUtilizationPercentage"] == 35
    # Saved even though it maps onto the CPU figure, as upstream does.
    assert back["metadata"]["annotations"] == {CURRENT_METRICS_ANNOTATION: (
        '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":35,'
        '"currentAverageValue":"0"}}]')}


def test_only_the_first_cpu_metric_becomes_the_v1_target():
    # kubernetes#80481: later CPU utilization metrics are dropped, not kept in the annotation.
    got = convert(hpa_v2([cpu(50), cpu(70), PODS_METRIC]), "autoscaling/v1")
    assert got["spec"]["targetCPUUtilizationPercentage"] == 50
    assert got["metadata"]["annotations"] == {METRICS_ANNOTATION: f"[{PODS_METRIC_JSON}]"}


def test_cpu_average_value_metric_stays_in_the_annotation():
    cpu_value = {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue",
                                                                            "averageValue": "500m"}}}
    got = convert(hpa_v2([cpu_value, cpu(60)]), "autoscaling/v1")
    # The first CPU metric has no utilization, so there is no target; the utilization one is lost.
    assert "targetCPUUtilizationPercentage" not in got["spec"]
    assert json.loads(got["metadata"]["annotations"][METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "cpu", "targetAverageValue": "500m"}}]


def test_object_metric_gains_a_zero_value_through_v1():
    # v1's ObjectMetricSource.targetValue is not a pointer: an unset value comes back as "0".
    average_only = {"type": "Object", "object": {
        "describedObject": {"kind": "Service", "name": "s"}, "metric": {"name": "rps"},
        "target": {"type": "AverageValue", "averageValue": "5"}}}
    got = convert(convert(hpa_v2([average_only]), "autoscaling/v1"), "autoscaling/v2")
    assert got["spec"]["metrics"][0]["object"]["target"] == {"type": "AverageValue", "value": "0",
                                                             "averageValue": "5"}


def test_stale_round_trip_annotations_on_v2_are_replaced():
    v2 = hpa_v2([cpu(50)], annotations={METRICS_ANNOTATION: "[garbage", CONDITIONS_ANNOTATION: "[]",
                                        "keep": "me"})
    got = convert(v2, "autoscaling/v1")
    assert got["metadata"]["annotations"] == {"keep": "me"}


@pytest.mark.parametrize("text", ["", "not json", "{}", '[{"type":1}]', '[{"pods":{"targetAverageValue":"x y"}}]',
                                  '[{"resource":{"targetAverageUtilization":"80"}}]',
                                  '[{"resource":{"targetAverageUtilization":80.5}}]'],
                         ids=["empty", "not-json", "object", "int-type", "bad-quantity", "string-int", "float-int"])
def test_malformed_metrics_annotation_is_ignored_and_dropped(text):
    got = convert(hpa_v1(annotations={METRICS_ANNOTATION: text, "x": "y"}, targetCPUUtilizationPercentage=50),
                  "autoscaling/v2")
    assert got["spec"]["metrics"] == [cpu(50)]
    assert got["metadata"]["annotations"] == {"x": "y"}


def test_malformed_status_annotations_are_ignored():
    v1 = hpa_v1(annotations={CURRENT_METRICS_ANNOTATION: "{", CONDITIONS_ANNOTATION: ""},
                status={"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 35})
    got = convert(v1, "autoscaling/v2")
    assert got["status"]["currentMetrics"][0]["resource"]["current"] == {"averageUtilization": 35}
    assert "conditions" not in got["status"]
    assert "annotations" not in got["metadata"]


def test_null_current_metrics_annotation_clears_the_cpu_figure():
    # json.Unmarshal("null") succeeds, leaving an empty list that replaces the CPU figure.
    v1 = hpa_v1(annotations={CURRENT_METRICS_ANNOTATION: "null"},
                status={"currentReplicas": 1, "desiredReplicas": 1, "currentCPUUtilizationPercentage": 35})
    assert "currentMetrics" not in convert(v1, "autoscaling/v2")["status"]


@pytest.mark.parametrize("text,expected", [
    ("{}", None),
    ('{"ScaleUp":null,"ScaleDown":null}', None),
    ("not json", None),
    ('{"scaleDown":{"selectPolicy":"Min"}}', {"scaleDown": {"selectPolicy": "Min"}}),
    ('{"ScaleUp":{"Policies":[{"type":"Pods","value":2,"periodseconds":60}],"Tolerance":"50m"}}',
     {"scaleUp": {"policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}], "tolerance": "50m"}}),
], ids=["empty", "nulls", "malformed", "lower-case-keys", "mixed-case-and-tolerance"])
def test_behavior_annotation_decodes_like_go(text, expected):
    got = convert(hpa_v1(annotations={BEHAVIOR_ANNOTATION: text}, targetCPUUtilizationPercentage=50),
                  "autoscaling/v2")
    assert got["spec"].get("behavior") == expected


def test_annotation_json_escapes_html_characters_as_go_does():
    cond = dict(CONDITION, message="desired <5> & more\u2028")
    got = convert(hpa_v2([cpu(50)], status={"desiredReplicas": 1, "conditions": [cond]}), "autoscaling/v1")
    text = got["metadata"]["annotations"][CONDITIONS_ANNOTATION]
    assert '"message":"desired \\u003c5\\u003e \\u0026 more\\u2028"' in text
    assert convert(got, "autoscaling/v2")["status"]["conditions"] == [cond]


def test_condition_without_transition_time_is_written_as_null():
    cond = {"type": "ScalingActive", "status": "False"}
    got = convert(hpa_v2([cpu(50)], status={"desiredReplicas": 1, "conditions": [cond]}), "autoscaling/v1")
    assert got["metadata"]["annotations"][CONDITIONS_ANNOTATION] == (
        '[{"type":"ScalingActive","status":"False","lastTransitionTime":null}]')


def test_v2_status_zero_values_follow_v2_tags():
    # v2 writes desiredReplicas always and leaves out currentReplicas when zero; v1 writes both.
    v2 = convert(hpa_v1(status={}), "autoscaling/v2")
    assert v2["status"] == {"desiredReplicas": 0}
    assert convert(v2, "autoscaling/v1")["status"] == {"currentReplicas": 0, "desiredReplicas": 0}


def test_hpa_list_converts_each_item():
    lst = {"kind": "HorizontalPodAutoscalerList", "apiVersion": "autoscaling/v2", "metadata": {},
           "items": [hpa_v2([cpu(50)])]}
    got = convert(lst, "autoscaling/v1")
    assert got["apiVersion"] == "autoscaling/v1"
    assert got["items"] == [hpa_v1(targetCPUUtilizationPercentage=50)]
    mixed = {**lst, "items": [{k: v for k, v in hpa_v2([cpu(50)]).items() if k != "apiVersion"},
                              hpa_v1(targetCPUUtilizationPercentage=60)]}
    got = convert(mixed, "autoscaling/v1")
    assert "apiVersion" not in got["items"][0] and got["items"][0]["spec"]["targetCPUUtilizationPercentage"] == 50
    assert got["items"][1] == hpa_v1(targetCPUUtilizationPercentage=60)


def test_drop_round_trip_annotations():
    v2 = hpa_v2([cpu(50)], annotations={BEHAVIOR_ANNOTATION: "{}", "a": "b"})
    got = conversion.drop_round_trip_annotations(v2)
    assert got["metadata"]["annotations"] == {"a": "b"}
    assert v2["metadata"]["annotations"][BEHAVIOR_ANNOTATION] == "{}"
    only = hpa_v2([cpu(50)], annotations={METRICS_ANNOTATION: "[]"})
    assert "annotations" not in conversion.drop_round_trip_annotations(only)["metadata"]
    clean = hpa_v2([cpu(50)])
    assert conversion.drop_round_trip_annotations(clean) is clean

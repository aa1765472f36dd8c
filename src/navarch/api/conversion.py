"""Conversion between API versions that upstream serves from one storage.

Two resources are served in two shapes each, over the same stored objects:

* ``Event``: core ``v1`` and ``events.k8s.io/v1`` (upstream ``pkg/apis/events/v1/conversion.go``):
  the same fields under other names (``involvedObject`` <-> ``regarding``, ``message`` <-> ``note``,
  ``source`` <-> ``deprecatedSource``, ``firstTimestamp``/``lastTimestamp``/``count`` <->
  ``deprecated*``, ``reportingComponent`` <-> ``reportingController``).
* ``HorizontalPodAutoscaler``: ``autoscaling/v2`` and ``autoscaling/v1``
  (``pkg/apis/autoscaling/v1/conversion.go``): v1 has only a CPU utilization target, so every other
  v2 field travels through v1 in annotations (``autoscaling.alpha.kubernetes.io/metrics``,
  ``.../current-metrics``, ``.../conditions``, ``.../behavior``), which the way back reads and drops.

Upstream converts through Go structs and serializes with ``encoding/json``, so what a client sees
includes Go's zero values (``"eventTime": null``, ``"source": {}``, ``"reportingComponent": ""``,
``status.desiredReplicas: 0``) and the annotations are compact Go JSON with keys in struct order
(the behavior annotation even uses the internal type's capitalized field names). Each shape below is
therefore described once as a struct layout (``_Struct``) that both builds the output (in Go's field
order, with Go's ``omitempty`` rules) and decodes annotations (as leniently and as strictly as
``json.Unmarshal`` does: case-insensitive keys, wrong types are an error, and an annotation that does
not decode is ignored, as upstream ignores malformed ones since kubernetes#89963).

Known gaps: quantities are passed through as written, not re-rendered in canonical form
(upstream shows ``0.5`` as ``500m``); metadata is copied as given.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

CORE_V1 = "v1"
EVENTS_V1 = "events.k8s.io/v1"
AUTOSCALING_V1 = "autoscaling/v1"
AUTOSCALING_V2 = "autoscaling/v2"

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
ROUND_TRIP_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION,
                          BEHAVIOR_ANNOTATION)
# autoscaling/v1 once applied this target in the controller; conversion now makes it explicit.
DEFAULT_CPU_UTILIZATION = 80

# The field selectors events.k8s.io/v1 accepts, mapped onto the core fields events are selected by
# (upstream AddFieldLabelConversionsForEvent in pkg/apis/events/v1/conversion.go).
EVENTS_V1_FIELD_LABELS: dict[str, str] = {
    "reason": "reason",
    "regarding.kind": "involvedObject.kind",
    "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name",
    "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath",
    "reportingController": "reportingComponent",
    "source": "source",
    "type": "type",
    "metadata.namespace": "metadata.namespace",
    "metadata.name": "metadata.name",
}


class ConversionError(ValueError):
    """The object cannot be converted to the requested version (a wiring error, not a client one)."""


def convert(obj: dict[str, Any], to_api_version: str) -> dict[str, Any]:
    """``obj`` as ``to_api_version`` shows it: a new object, ``obj`` is left unchanged.

    Accepts Events (``v1`` <-> ``events.k8s.io/v1``), HorizontalPodAutoscalers (``autoscaling/v2``
    <-> ``autoscaling/v1``) and lists of either. An object already in ``to_api_version`` is returned
    as is (the same object). Raises ``ConversionError`` for any other pair.
    """
    from_api_version = obj.get("apiVersion")
    if from_api_version == to_api_version:
        return obj
    kind = str(obj.get("kind") or "")
    if kind.endswith("List") and isinstance(obj.get("items"), list):
        return _convert_list(obj, kind, to_api_version)
    fn = _CONVERTERS.get((kind, str(from_api_version), to_api_version))
    if fn is None:
        raise ConversionError(f"cannot convert {kind} from {from_api_version!r} to {to_api_version!r}")
    return fn(obj)


def event_field_label(label: str) -> str | None:
    """The core field an ``events.k8s.io/v1`` field selector names, or None when upstream rejects it
    (``field label not supported: <label>``)."""
    return EVENTS_V1_FIELD_LABELS.get(label)


def drop_round_trip_annotations(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without the v1 round-trip annotations (a copy when there were any).

    Upstream drops them from every HPA it decodes in any version, so an ``autoscaling/v2`` write that
    carries one does not keep it; ``convert`` does this itself on the way to either version.
    """
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not any(k in annotations for k in ROUND_TRIP_ANNOTATIONS):
        return obj
    out = dict(obj)
    out["metadata"] = dict(meta)  # type: ignore[arg-type]
    kept = {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}
    if kept:
        out["metadata"]["annotations"] = kept
    else:
        del out["metadata"]["annotations"]
    return out


def _convert_list(obj: dict[str, Any], kind: str, to_api_version: str) -> dict[str, Any]:
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k != "items"}
    out["apiVersion"] = to_api_version
    item_kind = kind[: -len("List")]
    items = []
    for item in obj["items"]:
        # Items of built-in lists usually carry no apiVersion/kind of their own (the list's apply);
        # they are converted as typed objects and given back in the same form.
        typed = {**item, "apiVersion": item.get("apiVersion") or obj.get("apiVersion"),
                 "kind": item.get("kind") or item_kind}
        converted = convert(typed, to_api_version)
        if converted is typed:
            converted = copy.deepcopy(item)
        for key in ("apiVersion", "kind"):
            if key not in item:
                converted.pop(key, None)
        items.append(converted)
    out["items"] = items
    return out


# ---------------------------------------------------------------------------------------------
# Go-shaped values: one layout per struct builds output and decodes annotations.

STR, INT32, INT64, QTY, TIME, ANY = "string", "int32", "int64", "quantity", "time", "any"
# How encoding/json treats a field that holds its zero value.
REQ = "req"    # no omitempty: the zero value is written ("", 0, "0", null, {})
OMIT = "omit"  # omitempty on a value: "", 0 and empty lists/maps are left out (structs never are)
PTR = "ptr"    # omitempty on a pointer: left out only when nil
NULL = "null"  # pointer without omitempty (internal types have no tags): nil is written as null


@dataclass(frozen=True)
class _List:
    item: Any


@dataclass(frozen=True)
class _Map:
    value: Any


@dataclass(frozen=True)
class _Struct:
    fields: tuple[tuple[str, Any, str], ...]  # (json name, type, zero-value rule), in Go's order


class _Malformed(Exception):
    """What json.Unmarshal would report as an error."""


_QUANTITY = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?")
_INT_RANGES = {INT32: (-(2**31), 2**31 - 1), INT64: (-(2**63), 2**63 - 1)}


def _zero(typ: Any) -> Any:
    if isinstance(typ, _Struct):
        return _shape({}, typ)
    if typ == ANY:
        return {}  # only metadata is opaque, and a zero ObjectMeta is written as {}
    return {STR: "", INT32: 0, INT64: 0, QTY: "0"}.get(typ) if isinstance(typ, str) else None


def _empty(value: Any) -> bool:
    return value in ("", 0) and not isinstance(value, bool) or value in ([], {})


def _shape(value: Any, typ: Any) -> Any:
    """``value`` as encoding/json writes the Go value of type ``typ`` decoded from it."""
    if value is None:
        return _zero(typ)
    if isinstance(typ, _Struct):
        src = value if isinstance(value, dict) else {}
        out: dict[str, Any] = {}
        for name, ftyp, rule in typ.fields:
            v = src.get(name)
            struct_like = isinstance(ftyp, _Struct) or ftyp == TIME
            if v is None:
                if rule == PTR or (rule == OMIT and not struct_like):
                    continue
                out[name] = None if rule == NULL else _zero(ftyp)
                continue
            shaped = _shape(v, ftyp)
            if rule == OMIT and not struct_like and _empty(shaped):
                continue
            out[name] = shaped
        return out
    if isinstance(typ, _List):
        return [_shape(v, typ.item) for v in value] if isinstance(value, list) else None
    if isinstance(typ, _Map):
        return {k: _shape(v, typ.value) for k, v in value.items()} if isinstance(value, dict) else None
    if typ == QTY and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if typ == ANY:
        return _copy(value)
    return value


def _copy(value: Any) -> Any:
    # orjson's round trip copies JSON-shaped data several times faster than deepcopy.
    try:
        return orjson.loads(orjson.dumps(value))
    except TypeError:
        return copy.deepcopy(value)


def _decode(value: Any, typ: Any) -> Any:
    """What json.Unmarshal leaves in a Go value of type ``typ``, as JSON-shaped data (nil as None)."""
    if value is None:
        return None
    if isinstance(typ, _Struct):
        if not isinstance(value, dict):
            raise _Malformed(f"cannot decode {type(value).__name__} into a struct")
        exact = {name: (name, ftyp) for name, ftyp, _ in typ.fields}
        folded = {name.lower(): (name, ftyp) for name, ftyp, _ in reversed(typ.fields)}
        out: dict[str, Any] = {}
        for key, v in value.items():
            # encoding/json prefers an exact name and falls back to a case-insensitive one.
            hit = exact.get(key) or folded.get(key.lower())
            if hit is None:
                continue
            decoded = _decode(v, hit[1])
            if decoded is None:
                out.pop(hit[0], None)
            else:
                out[hit[0]] = decoded
        return out
    if isinstance(typ, _List):
        if not isinstance(value, list):
            raise _Malformed("cannot decode into a list")
        return [_decode(v, typ.item) for v in value]
    if isinstance(typ, _Map):
        if not isinstance(value, dict):
            raise _Malformed("cannot decode into a map")
        return {k: _decode(v, typ.value) for k, v in value.items()}
    if typ == STR:
        if not isinstance(value, str):
            raise _Malformed("cannot decode into a string")
        return value
    if typ in _INT_RANGES:
        lo, hi = _INT_RANGES[typ]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Malformed(f"cannot decode {value!r} into {typ}")
        return value
    if typ == QTY:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Malformed("cannot decode into a quantity")
        if isinstance(value, str) and not _QUANTITY.fullmatch(value):
            raise _Malformed(f"quantity {value!r} is not valid")
        return value
    if typ == TIME:
        if not isinstance(value, str) or _parse_time(value) is None:
            raise _Malformed(f"time {value!r} is not RFC 3339")
        return value
    return value


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def go_json(value: Any) -> str:
    """Compact JSON as Go's json.Marshal writes it (HTML-sensitive characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


_UNREADABLE = object()


def _read_annotation(annotations: dict[str, Any], key: str, typ: Any) -> Any:
    """The decoded annotation, or ``_UNREADABLE`` when absent or malformed (upstream ignores those).

    A JSON ``null`` decodes fine (to None), as json.Unmarshal leaves a nil slice without error.
    """
    text = annotations.get(key)
    if not isinstance(text, str):
        return _UNREADABLE
    try:
        return _decode(json.loads(text), typ)
    except (ValueError, RecursionError, _Malformed):
        return _UNREADABLE


def _s(*fields: tuple[str, Any, str]) -> _Struct:
    return _Struct(tuple(fields))


# ---------------------------------------------------------------------------------------------
# Event: core v1 <-> events.k8s.io/v1

_OBJECT_REFERENCE = _s(("kind", STR, OMIT), ("namespace", STR, OMIT), ("name", STR, OMIT),
                       ("uid", STR, OMIT), ("apiVersion", STR, OMIT), ("resourceVersion", STR, OMIT),
                       ("fieldPath", STR, OMIT))
_EVENT_SOURCE = _s(("component", STR, OMIT), ("host", STR, OMIT))
_CORE_EVENT_SERIES = _s(("count", INT32, OMIT), ("lastObservedTime", TIME, OMIT))
_EVENTS_EVENT_SERIES = _s(("count", INT32, REQ), ("lastObservedTime", TIME, REQ))

_CORE_EVENT = _s(
    ("kind", STR, OMIT), ("apiVersion", STR, OMIT), ("metadata", ANY, REQ),
    ("involvedObject", _OBJECT_REFERENCE, REQ), ("reason", STR, OMIT), ("message", STR, OMIT),
    ("source", _EVENT_SOURCE, OMIT), ("firstTimestamp", TIME, OMIT), ("lastTimestamp", TIME, OMIT),
    ("count", INT32, OMIT), ("type", STR, OMIT), ("eventTime", TIME, OMIT),
    ("series", _CORE_EVENT_SERIES, PTR), ("action", STR, OMIT), ("related", _OBJECT_REFERENCE, PTR),
    ("reportingComponent", STR, REQ), ("reportingInstance", STR, REQ),
)
_EVENTS_EVENT = _s(
    ("kind", STR, OMIT), ("apiVersion", STR, OMIT), ("metadata", ANY, REQ),
    ("eventTime", TIME, REQ), ("series", _EVENTS_EVENT_SERIES, PTR),
    ("reportingController", STR, OMIT), ("reportingInstance", STR, OMIT), ("action", STR, OMIT),
    ("reason", STR, OMIT), ("regarding", _OBJECT_REFERENCE, OMIT), ("related", _OBJECT_REFERENCE, PTR),
    ("note", STR, OMIT), ("type", STR, OMIT), ("deprecatedSource", _EVENT_SOURCE, OMIT),
    ("deprecatedFirstTimestamp", TIME, OMIT), ("deprecatedLastTimestamp", TIME, OMIT),
    ("deprecatedCount", INT32, OMIT),
)
# core name -> events.k8s.io name; the rest share their names.
_EVENT_RENAMES = {
    "involvedObject": "regarding", "message": "note", "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp", "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount", "reportingComponent": "reportingController",
}
_EVENT_RENAMES_BACK = {v: k for k, v in _EVENT_RENAMES.items()}


def _event_core_to_events(obj: dict[str, Any]) -> dict[str, Any]:
    renamed = {_EVENT_RENAMES.get(k, k): v for k, v in obj.items()}
    renamed["apiVersion"] = EVENTS_V1
    return _shape(renamed, _EVENTS_EVENT)  # type: ignore[no-any-return]


def _event_events_to_core(obj: dict[str, Any]) -> dict[str, Any]:
    renamed = {_EVENT_RENAMES_BACK.get(k, k): v for k, v in obj.items()}
    renamed["apiVersion"] = CORE_V1
    return _shape(renamed, _CORE_EVENT)  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# HorizontalPodAutoscaler: autoscaling/v2 <-> autoscaling/v1

_XREF = _s(("kind", STR, REQ), ("name", STR, REQ), ("apiVersion", STR, OMIT))
_SELECTOR = _s(
    ("matchLabels", _Map(STR), OMIT),
    ("matchExpressions", _List(_s(("key", STR, REQ), ("operator", STR, REQ),
                                  ("values", _List(STR), OMIT))), OMIT),
)

# autoscaling/v1's annotation-only types (k8s.io/api/autoscaling/v1, "used in the alpha metrics
# annotation"): the v2beta1 shapes.
_V1_OBJECT_SOURCE = _s(("target", _XREF, REQ), ("metricName", STR, REQ), ("targetValue", QTY, REQ),
                       ("selector", _SELECTOR, PTR), ("averageValue", QTY, PTR))
_V1_PODS_SOURCE = _s(("metricName", STR, REQ), ("targetAverageValue", QTY, REQ),
                     ("selector", _SELECTOR, PTR))
_V1_RESOURCE_SOURCE = _s(("name", STR, REQ), ("targetAverageUtilization", INT32, PTR),
                         ("targetAverageValue", QTY, PTR))
_V1_CONTAINER_RESOURCE_SOURCE = _s(("name", STR, REQ), ("targetAverageUtilization", INT32, PTR),
                                   ("targetAverageValue", QTY, PTR), ("container", STR, REQ))
_V1_EXTERNAL_SOURCE = _s(("metricName", STR, REQ), ("metricSelector", _SELECTOR, PTR),
                         ("targetValue", QTY, PTR), ("targetAverageValue", QTY, PTR))
_V1_METRIC_SPEC = _s(("type", STR, REQ), ("object", _V1_OBJECT_SOURCE, PTR), ("pods", _V1_PODS_SOURCE, PTR),
                     ("resource", _V1_RESOURCE_SOURCE, PTR),
                     ("containerResource", _V1_CONTAINER_RESOURCE_SOURCE, PTR),
                     ("external", _V1_EXTERNAL_SOURCE, PTR))
_V1_OBJECT_STATUS = _s(("target", _XREF, REQ), ("metricName", STR, REQ), ("currentValue", QTY, REQ),
                       ("selector", _SELECTOR, PTR), ("averageValue", QTY, PTR))
_V1_PODS_STATUS = _s(("metricName", STR, REQ), ("currentAverageValue", QTY, REQ),
                     ("selector", _SELECTOR, PTR))
_V1_RESOURCE_STATUS = _s(("name", STR, REQ), ("currentAverageUtilization", INT32, PTR),
                         ("currentAverageValue", QTY, REQ))
_V1_CONTAINER_RESOURCE_STATUS = _s(("name", STR, REQ), ("currentAverageUtilization", INT32, PTR),
                                   ("currentAverageValue", QTY, REQ), ("container", STR, REQ))
_V1_EXTERNAL_STATUS = _s(("metricName", STR, REQ), ("metricSelector", _SELECTOR, PTR),
                         ("currentValue", QTY, REQ), ("currentAverageValue", QTY, PTR))
_V1_METRIC_STATUS = _s(("type", STR, REQ), ("object", _V1_OBJECT_STATUS, PTR), ("pods", _V1_PODS_STATUS, PTR),
                       ("resource", _V1_RESOURCE_STATUS, PTR),
                       ("containerResource", _V1_CONTAINER_RESOURCE_STATUS, PTR),
                       ("external", _V1_EXTERNAL_STATUS, PTR))
_CONDITION = _s(("type", STR, REQ), ("status", STR, REQ), ("lastTransitionTime", TIME, OMIT),
                ("reason", STR, OMIT), ("message", STR, OMIT))
_V1_SPEC = _s(("scaleTargetRef", _XREF, REQ), ("minReplicas", INT32, PTR), ("maxReplicas", INT32, REQ),
              ("targetCPUUtilizationPercentage", INT32, PTR))
_V1_STATUS = _s(("observedGeneration", INT64, PTR), ("lastScaleTime", TIME, PTR),
                ("currentReplicas", INT32, REQ), ("desiredReplicas", INT32, REQ),
                ("currentCPUUtilizationPercentage", INT32, PTR))
_V1_HPA = _s(("kind", STR, OMIT), ("apiVersion", STR, OMIT), ("metadata", ANY, REQ),
             ("spec", _V1_SPEC, OMIT), ("status", _V1_STATUS, OMIT))

# The behavior annotation holds the *internal* type marshalled as is (upstream's own TODO says so):
# Go field names as keys, nil pointers as null.
_INTERNAL_POLICY = _s(("Type", STR, REQ), ("Value", INT32, REQ), ("PeriodSeconds", INT32, REQ))
_INTERNAL_RULES = _s(("StabilizationWindowSeconds", INT32, NULL), ("SelectPolicy", STR, NULL),
                     ("Policies", _List(_INTERNAL_POLICY), NULL), ("Tolerance", QTY, NULL))
_INTERNAL_BEHAVIOR = _s(("ScaleUp", _INTERNAL_RULES, NULL), ("ScaleDown", _INTERNAL_RULES, NULL))
_RULES_NAMES = {"StabilizationWindowSeconds": "stabilizationWindowSeconds", "SelectPolicy": "selectPolicy",
                "Policies": "policies", "Tolerance": "tolerance"}
_POLICY_NAMES = {"Type": "type", "Value": "value", "PeriodSeconds": "periodSeconds"}

_V2_IDENTIFIER = _s(("name", STR, REQ), ("selector", _SELECTOR, PTR))
_V2_TARGET = _s(("type", STR, REQ), ("value", QTY, PTR), ("averageValue", QTY, PTR),
                ("averageUtilization", INT32, PTR))
_V2_VALUE_STATUS = _s(("value", QTY, PTR), ("averageValue", QTY, PTR), ("averageUtilization", INT32, PTR))
_V2_METRIC_SPEC = _s(
    ("type", STR, REQ),
    ("object", _s(("describedObject", _XREF, REQ), ("target", _V2_TARGET, REQ),
                  ("metric", _V2_IDENTIFIER, REQ)), PTR),
    ("pods", _s(("metric", _V2_IDENTIFIER, REQ), ("target", _V2_TARGET, REQ)), PTR),
    ("resource", _s(("name", STR, REQ), ("target", _V2_TARGET, REQ)), PTR),
    ("containerResource", _s(("name", STR, REQ), ("target", _V2_TARGET, REQ), ("container", STR, REQ)), PTR),
    ("external", _s(("metric", _V2_IDENTIFIER, REQ), ("target", _V2_TARGET, REQ)), PTR),
)
_V2_METRIC_STATUS = _s(
    ("type", STR, REQ),
    ("object", _s(("metric", _V2_IDENTIFIER, REQ), ("current", _V2_VALUE_STATUS, REQ),
                  ("describedObject", _XREF, REQ)), PTR),
    ("pods", _s(("metric", _V2_IDENTIFIER, REQ), ("current", _V2_VALUE_STATUS, REQ)), PTR),
    ("resource", _s(("name", STR, REQ), ("current", _V2_VALUE_STATUS, REQ)), PTR),
    ("containerResource", _s(("name", STR, REQ), ("current", _V2_VALUE_STATUS, REQ),
                             ("container", STR, REQ)), PTR),
    ("external", _s(("metric", _V2_IDENTIFIER, REQ), ("current", _V2_VALUE_STATUS, REQ)), PTR),
)
_V2_RULES = _s(("stabilizationWindowSeconds", INT32, PTR), ("selectPolicy", STR, PTR),
               ("policies", _List(_s(("type", STR, REQ), ("value", INT32, REQ), ("periodSeconds", INT32, REQ))),
                OMIT),
               ("tolerance", QTY, PTR))
_V2_SPEC = _s(("scaleTargetRef", _XREF, REQ), ("minReplicas", INT32, PTR), ("maxReplicas", INT32, REQ),
              ("metrics", _List(_V2_METRIC_SPEC), OMIT),
              ("behavior", _s(("scaleUp", _V2_RULES, PTR), ("scaleDown", _V2_RULES, PTR)), PTR))
_V2_STATUS = _s(("observedGeneration", INT64, PTR), ("lastScaleTime", TIME, PTR),
                ("currentReplicas", INT32, OMIT), ("desiredReplicas", INT32, REQ),
                ("currentMetrics", _List(_V2_METRIC_STATUS), OMIT), ("conditions", _List(_CONDITION), OMIT))
_V2_HPA = _s(("kind", STR, OMIT), ("apiVersion", STR, OMIT), ("metadata", ANY, REQ),
             ("spec", _V2_SPEC, OMIT), ("status", _V2_STATUS, OMIT))


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_cpu(metric: dict[str, Any], source: str) -> bool:
    res = metric.get(source)
    return metric.get("type") == "Resource" and isinstance(res, dict) and res.get("name") == "cpu"


def _v1_xref(ref: Any) -> dict[str, Any]:
    ref = _d(ref)
    return {"kind": ref.get("kind"), "name": ref.get("name"), "apiVersion": ref.get("apiVersion")}


# v2 (internal) -> v1 annotation shapes: Convert_autoscaling_*_To_v1_* in upstream.

def _metric_spec_to_v1(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.get("type")}
    if (src := m.get("object")) is not None:
        target, metric = _d(src.get("target")), _d(src.get("metric"))
        out["object"] = {"target": _v1_xref(src.get("describedObject")), "metricName": metric.get("name"),
                         "targetValue": target.get("value"), "selector": metric.get("selector"),
                         "averageValue": target.get("averageValue")}
    if (src := m.get("pods")) is not None:
        target, metric = _d(src.get("target")), _d(src.get("metric"))
        out["pods"] = {"metricName": metric.get("name"), "targetAverageValue": target.get("averageValue"),
                       "selector": metric.get("selector")}
    for key in ("resource", "containerResource"):
        if (src := m.get(key)) is not None:
            target = _d(src.get("target"))
            out[key] = {"name": src.get("name"), "targetAverageUtilization": target.get("averageUtilization"),
                        "targetAverageValue": target.get("averageValue"), "container": src.get("container")}
    if (src := m.get("external")) is not None:
        target, metric = _d(src.get("target")), _d(src.get("metric"))
        out["external"] = {"metricName": metric.get("name"), "metricSelector": metric.get("selector"),
                           "targetValue": target.get("value"), "targetAverageValue": target.get("averageValue")}
    return out


def _metric_status_to_v1(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.get("type")}
    if (src := m.get("object")) is not None:
        current, metric = _d(src.get("current")), _d(src.get("metric"))
        out["object"] = {"target": _v1_xref(src.get("describedObject")), "metricName": metric.get("name"),
                         "currentValue": current.get("value"), "selector": metric.get("selector"),
                         "averageValue": current.get("averageValue")}
    if (src := m.get("pods")) is not None:
        current, metric = _d(src.get("current")), _d(src.get("metric"))
        out["pods"] = {"metricName": metric.get("name"), "currentAverageValue": current.get("averageValue"),
                       "selector": metric.get("selector")}
    for key in ("resource", "containerResource"):
        if (src := m.get(key)) is not None:
            current = _d(src.get("current"))
            out[key] = {"name": src.get("name"),
                        "currentAverageUtilization": current.get("averageUtilization"),
                        "currentAverageValue": current.get("averageValue"), "container": src.get("container")}
    if (src := m.get("external")) is not None:
        current, metric = _d(src.get("current")), _d(src.get("metric"))
        out["external"] = {"metricName": metric.get("name"), "metricSelector": metric.get("selector"),
                           "currentValue": current.get("value"),
                           "currentAverageValue": current.get("averageValue")}
    return out


def _behavior_to_internal(behavior: dict[str, Any]) -> dict[str, Any]:
    def rules(r: Any) -> dict[str, Any] | None:
        if not isinstance(r, dict):
            return None
        out = {go: r.get(js) for go, js in _RULES_NAMES.items()}
        if isinstance(out["Policies"], list):
            out["Policies"] = [{go: _d(p).get(js) for go, js in _POLICY_NAMES.items()} for p in out["Policies"]]
        return out
    return {"ScaleUp": rules(behavior.get("scaleUp")), "ScaleDown": rules(behavior.get("scaleDown"))}


# v1 annotation shapes -> v2 (internal): Convert_v1_*_To_autoscaling_* in upstream.

def _v2_identifier(name: Any, selector: Any) -> dict[str, Any]:
    return {"name": name, "selector": selector}


def _metric_spec_from_v1(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.get("type")}
    if (src := m.get("object")) is not None:
        average = src.get("averageValue")
        out["object"] = {
            "describedObject": src.get("target"),
            # v1's targetValue is not a pointer, so a v2 target always gets a value ("0" when unset).
            "target": {"type": "Value" if average is None else "AverageValue",
                       "value": src.get("targetValue", "0"), "averageValue": average},
            "metric": _v2_identifier(src.get("metricName"), src.get("selector")),
        }
    if (src := m.get("pods")) is not None:
        out["pods"] = {"metric": _v2_identifier(src.get("metricName"), src.get("selector")),
                       "target": {"type": "AverageValue", "averageValue": src.get("targetAverageValue", "0")}}
    for key in ("resource", "containerResource"):
        if (src := m.get(key)) is not None:
            utilization = src.get("targetAverageUtilization")
            out[key] = {"name": src.get("name"), "container": src.get("container"),
                        "target": {"type": "AverageValue" if utilization is None else "Utilization",
                                   "averageValue": src.get("targetAverageValue"),
                                   "averageUtilization": utilization}}
    if (src := m.get("external")) is not None:
        value = src.get("targetValue")
        out["external"] = {"metric": _v2_identifier(src.get("metricName"), src.get("metricSelector")),
                           "target": {"type": "AverageValue" if value is None else "Value", "value": value,
                                      "averageValue": src.get("targetAverageValue")}}
    return out


def _metric_status_from_v1(m: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": m.get("type")}
    if (src := m.get("object")) is not None:
        out["object"] = {"metric": _v2_identifier(src.get("metricName"), src.get("selector")),
                         "current": {"value": src.get("currentValue", "0"), "averageValue": src.get("averageValue")},
                         "describedObject": src.get("target")}
    if (src := m.get("pods")) is not None:
        out["pods"] = {"metric": _v2_identifier(src.get("metricName"), src.get("selector")),
                       "current": {"averageValue": src.get("currentAverageValue", "0")}}
    for key in ("resource", "containerResource"):
        if (src := m.get(key)) is not None:
            out[key] = {"name": src.get("name"), "container": src.get("container"),
                        "current": {"averageValue": src.get("currentAverageValue", "0"),
                                    "averageUtilization": src.get("currentAverageUtilization")}}
    if (src := m.get("external")) is not None:
        out["external"] = {"metric": _v2_identifier(src.get("metricName"), src.get("metricSelector")),
                           "current": {"value": src.get("currentValue", "0"),
                                       "averageValue": src.get("currentAverageValue")}}
    return out


def _behavior_from_internal(behavior: dict[str, Any]) -> dict[str, Any]:
    def rules(r: Any) -> dict[str, Any] | None:
        if r is None:
            return None
        out = {js: r.get(go) for go, js in _RULES_NAMES.items()}
        if out["policies"] is not None:
            out["policies"] = [{js: _d(p).get(go) for go, js in _POLICY_NAMES.items()} for p in out["policies"]]
        return out
    return {"scaleUp": rules(behavior.get("ScaleUp")), "scaleDown": rules(behavior.get("ScaleDown"))}


def _cpu_utilization_metric(percent: int) -> dict[str, Any]:
    return {"type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}


def _hpa_metadata(obj: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    meta: dict[str, Any] = _copy(_d(obj.get("metadata")))
    if annotations:
        meta["annotations"] = annotations
    else:
        # An emptied (or empty) map is left out by omitempty.
        meta.pop("annotations", None)
    return meta


def _hpa_v2_to_v1(obj: dict[str, Any]) -> dict[str, Any]:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    metrics = [m for m in spec.get("metrics") or [] if isinstance(m, dict)]
    current = [m for m in status.get("currentMetrics") or [] if isinstance(m, dict)]
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    annotations = {k: v for k, v in _d(_d(obj.get("metadata")).get("annotations")).items()
                   if k not in ROUND_TRIP_ANNOTATIONS}

    target_cpu = None
    for m in metrics:
        if _is_cpu(m, "resource"):
            # Only the first CPU metric can become the v1 target (kubernetes#80481).
            target_cpu = _d(m["resource"].get("target")).get("averageUtilization")
            break
    others = [_metric_spec_to_v1(m) for m in metrics
              if not (_is_cpu(m, "resource") and _d(m["resource"].get("target")).get("averageUtilization") is not None)]
    current_cpu = None
    for m in current:
        if _is_cpu(m, "resource"):
            value = _d(m["resource"].get("current")).get("averageUtilization")
            if value is not None:
                current_cpu = value  # upstream keeps looping: the last one wins

    if others:
        annotations[METRICS_ANNOTATION] = go_json(_shape(others, _List(_V1_METRIC_SPEC)))
    if current:
        # Kept even when it is only the CPU figure: it also carries the raw value.
        annotations[CURRENT_METRICS_ANNOTATION] = go_json(
            _shape([_metric_status_to_v1(m) for m in current], _List(_V1_METRIC_STATUS)))
    if isinstance(spec.get("behavior"), dict):
        annotations[BEHAVIOR_ANNOTATION] = go_json(
            _shape(_behavior_to_internal(spec["behavior"]), _INTERNAL_BEHAVIOR))
    if conditions:
        annotations[CONDITIONS_ANNOTATION] = go_json(_shape(conditions, _List(_CONDITION)))

    out = {
        "kind": obj.get("kind"), "apiVersion": AUTOSCALING_V1,
        "metadata": _hpa_metadata(obj, annotations),
        "spec": {"scaleTargetRef": spec.get("scaleTargetRef"), "minReplicas": spec.get("minReplicas"),
                 "maxReplicas": spec.get("maxReplicas"), "targetCPUUtilizationPercentage": target_cpu},
        "status": {"observedGeneration": status.get("observedGeneration"),
                   "lastScaleTime": status.get("lastScaleTime"),
                   "currentReplicas": status.get("currentReplicas"),
                   "desiredReplicas": status.get("desiredReplicas"),
                   "currentCPUUtilizationPercentage": current_cpu},
    }
    return _shape(out, _V1_HPA)  # type: ignore[no-any-return]


def _hpa_v1_to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    spec, status = _d(obj.get("spec")), _d(obj.get("status"))
    annotations = _d(_d(obj.get("metadata")).get("annotations"))

    metrics: list[dict[str, Any]] = []
    if spec.get("targetCPUUtilizationPercentage") is not None:
        metrics = [_cpu_utilization_metric(spec["targetCPUUtilizationPercentage"])]
    others = _read_annotation(annotations, METRICS_ANNOTATION, _List(_V1_METRIC_SPEC))
    if others is not _UNREADABLE:
        # The CPU target, if any, goes after the metrics that came through the annotation.
        metrics = [_metric_spec_from_v1(m or {}) for m in others or []] + metrics[:1]
    behavior = None
    internal = _read_annotation(annotations, BEHAVIOR_ANNOTATION, _INTERNAL_BEHAVIOR)
    if isinstance(internal, dict) and (internal.get("ScaleUp") is not None or internal.get("ScaleDown") is not None):
        behavior = _behavior_from_internal(internal)  # a zero behavior is not moved into the spec

    current: list[dict[str, Any]] = []
    if status.get("currentCPUUtilizationPercentage") is not None:
        current = [{"type": "Resource", "resource": {
            "name": "cpu", "current": {"averageUtilization": status["currentCPUUtilizationPercentage"]}}}]
    from_annotation = _read_annotation(annotations, CURRENT_METRICS_ANNOTATION, _List(_V1_METRIC_STATUS))
    if from_annotation is not _UNREADABLE:
        # These replace the CPU figure: they carry more than it does.
        current = [_metric_status_from_v1(m or {}) for m in from_annotation or []]
    if not metrics:
        metrics = [_cpu_utilization_metric(DEFAULT_CPU_UTILIZATION)]
    conditions = _read_annotation(annotations, CONDITIONS_ANNOTATION, _List(_CONDITION))
    if conditions is _UNREADABLE:
        conditions = None

    kept = {k: v for k, v in annotations.items() if k not in ROUND_TRIP_ANNOTATIONS}
    out = {
        "kind": obj.get("kind"), "apiVersion": AUTOSCALING_V2,
        "metadata": _hpa_metadata(obj, kept),
        "spec": {"scaleTargetRef": spec.get("scaleTargetRef"), "minReplicas": spec.get("minReplicas"),
                 "maxReplicas": spec.get("maxReplicas"), "metrics": metrics, "behavior": behavior},
        "status": {"observedGeneration": status.get("observedGeneration"),
                   "lastScaleTime": status.get("lastScaleTime"),
                   "currentReplicas": status.get("currentReplicas"),
                   "desiredReplicas": status.get("desiredReplicas"),
                   "currentMetrics": current, "conditions": conditions},
    }
    return _shape(out, _V2_HPA)  # type: ignore[no-any-return]


_CONVERTERS = {
    ("Event", CORE_V1, EVENTS_V1): _event_core_to_events,
    ("Event", EVENTS_V1, CORE_V1): _event_events_to_core,
    ("HorizontalPodAutoscaler", AUTOSCALING_V2, AUTOSCALING_V1): _hpa_v2_to_v1,
    ("HorizontalPodAutoscaler", AUTOSCALING_V1, AUTOSCALING_V2): _hpa_v1_to_v2,
}


# Version pairs whose objects differ in shape and convert through ``convert``.
CONVERTIBLE = frozenset({(CORE_V1, EVENTS_V1), (EVENTS_V1, CORE_V1),
                         (AUTOSCALING_V1, AUTOSCALING_V2), (AUTOSCALING_V2, AUTOSCALING_V1)})

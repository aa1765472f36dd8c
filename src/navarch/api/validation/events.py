"""Upstream's Event validation (``pkg/apis/core/validation/events.go``), for both APIs that write events.

Upstream validates the stored (core) shape whichever API the request came through, so causes name
core fields (``involvedObject.namespace``, ``message``, ``source``) even for ``events.k8s.io/v1``
requests; only ``reportingController`` is spelt ``reportingComponent`` for core ``v1`` requests.
Core ``v1`` keeps the loose legacy rules for compatibility; ``events.k8s.io/v1`` adds strict create
rules (``eventTime``, ``type``, no deprecated fields) and makes most fields immutable on update.

Objects may be given in either shape (by their ``apiVersion``); ObjectMeta rules are left to the
generic metadata validation, which runs for every kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from navarch.api import conversion, errors
from navarch.api.errors import Cause
from navarch.api.validation import names

REPORTING_INSTANCE_LENGTH_LIMIT = 128
ACTION_LENGTH_LIMIT = 128
REASON_LENGTH_LIMIT = 128
NOTE_LENGTH_LIMIT = 1024
EVENT_TYPES = ("Normal", "Warning")


def validate_event_create(obj: dict[str, Any], request_api_version: str) -> list[Cause]:
    """The causes upstream reports for creating ``obj`` through ``request_api_version``."""
    ev = _core(obj)
    out = _legacy(ev, request_api_version)
    if request_api_version == conversion.CORE_V1:
        return out  # no further rules, for backwards compatibility
    out += _series(ev)
    if _time(ev.get("eventTime")) is None:
        out.append(errors.field_required("eventTime"))
    if ev.get("type") not in EVENT_TYPES:
        out.append(errors.field_invalid("type", "", f"has invalid value: {_str(ev, 'type')}"))
    for name in ("firstTimestamp", "lastTimestamp"):
        if _time(ev.get(name)) is not None:
            out.append(errors.field_invalid(name, "", "needs to be unset"))
    if ev.get("count"):
        out.append(errors.field_invalid("count", "", "needs to be unset"))
    source = ev.get("source") or {}
    if source.get("component") or source.get("host"):
        out.append(errors.field_invalid("source", "", "needs to be unset"))
    return out


def validate_events_v1(obj: dict[str, Any]) -> list[Cause]:
    """Create rules for an ``events.k8s.io/v1`` request (``reportingController``, ``action``,
    ``reason``, ``eventTime`` required, ...)."""
    return validate_event_create(obj, conversion.EVENTS_V1)


def validate_event_update(new: dict[str, Any], old: dict[str, Any], request_api_version: str) -> list[Cause]:
    """The causes upstream reports for replacing ``old`` with ``new`` through ``request_api_version``."""
    ev, prev = _core(new), _core(old)
    out = _legacy(ev, request_api_version)
    if request_api_version == conversion.CORE_V1:
        return out
    if _series_key(ev) != _series_key(prev):
        out += _series(ev)
    checks = [
        ("involvedObject", _ref_key(ev.get("involvedObject")), _ref_key(prev.get("involvedObject"))),
        ("reason", _str(ev, "reason"), _str(prev, "reason")),
        ("message", _str(ev, "message"), _str(prev, "message")),
        ("source", _source_key(ev), _source_key(prev)),
        ("firstTimestamp", _time(ev.get("firstTimestamp")), _time(prev.get("firstTimestamp"))),
        ("lastTimestamp", _time(ev.get("lastTimestamp")), _time(prev.get("lastTimestamp"))),
        ("count", ev.get("count") or 0, prev.get("count") or 0),
        # Upstream checks reason twice, so a changed reason is reported twice.
        ("reason", _str(ev, "reason"), _str(prev, "reason")),
        ("type", _str(ev, "type"), _str(prev, "type")),
        # Compared at microsecond precision, what every client can serialize (kubernetes#111928).
        ("eventTime", _time(ev.get("eventTime")), _time(prev.get("eventTime"))),
        ("action", _str(ev, "action"), _str(prev, "action")),
        ("related", _ref_key(ev.get("related"), pointer=True), _ref_key(prev.get("related"), pointer=True)),
        ("reportingController", _str(ev, "reportingComponent"), _str(prev, "reportingComponent")),
        ("reportingInstance", _str(ev, "reportingInstance"), _str(prev, "reportingInstance")),
    ]
    for path, new_value, old_value in checks:
        if new_value != old_value:
            out.append(Cause("FieldValueInvalid", f"Invalid value: {_go_value(path, ev)}: field is immutable",
                             path))
    return out


def _core(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("apiVersion") == conversion.EVENTS_V1:
        return conversion.convert(obj, conversion.CORE_V1)
    return obj


def _legacy(ev: dict[str, Any], request_api_version: str) -> list[Cause]:
    """legacyValidateEvent: the rules every event write passes, whichever API it came through."""
    out: list[Cause] = []
    controller_path = "reportingComponent" if request_api_version == conversion.CORE_V1 else "reportingController"
    namespace = _str(ev.get("metadata") or {}, "namespace")
    involved_ns = _str(ev.get("involvedObject") or {}, "namespace")
    mismatch = errors.field_invalid("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if _time(ev.get("eventTime")) is None:
        # An old-style event: its namespace must agree with the involved object's
        # ("default" stays allowed for cluster-scoped objects, for old clients).
        if (not involved_ns and namespace not in ("", "default")) or (involved_ns and namespace != involved_ns):
            out.append(mismatch)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            out.append(mismatch)
        controller = _str(ev, "reportingComponent")
        if not controller:
            out.append(errors.field_required(controller_path))
        out += [errors.field_invalid(controller_path, controller, m) for m in names.is_qualified_name(controller)]
        for path, value, limit in (("reportingInstance", _str(ev, "reportingInstance"), REPORTING_INSTANCE_LENGTH_LIMIT),
                                   ("action", _str(ev, "action"), ACTION_LENGTH_LIMIT),
                                   ("reason", _str(ev, "reason"), REASON_LENGTH_LIMIT)):
            if not value:
                out.append(errors.field_required(path))
            if len(value.encode()) > limit:
                out.append(errors.field_invalid(path, "", f"can have at most {limit} characters"))
        if len(_str(ev, "message").encode()) > NOTE_LENGTH_LIMIT:
            out.append(errors.field_invalid("message", "", f"can have at most {NOTE_LENGTH_LIMIT} characters"))
    out += [errors.field_invalid("namespace", namespace, m) for m in names.is_dns1123_subdomain(namespace)]
    return out


def _series(ev: dict[str, Any]) -> list[Cause]:
    series = ev.get("series")
    if not isinstance(series, dict):
        return []
    out: list[Cause] = []
    if (series.get("count") or 0) < 2:
        out.append(errors.field_invalid("series.count", "", "should be at least 2"))
    if _time(series.get("lastObservedTime")) is None:
        out.append(errors.field_required("series.lastObservedTime"))
    return out


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _time(value: Any) -> datetime | None:
    """The instant a Time/MicroTime field holds (None for the zero time), in UTC as upstream decodes it."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


_REF_FIELDS = (("kind", "Kind"), ("namespace", "Namespace"), ("name", "Name"), ("uid", "UID"),
               ("apiVersion", "APIVersion"), ("resourceVersion", "ResourceVersion"), ("fieldPath", "FieldPath"))


def _ref_key(ref: Any, pointer: bool = False) -> tuple[str, ...] | None:
    if not isinstance(ref, dict):
        return None if pointer else ("",) * len(_REF_FIELDS)
    return tuple(_str(ref, k) for k, _ in _REF_FIELDS)


def _source_key(ev: dict[str, Any]) -> tuple[str, str]:
    source = ev.get("source") or {}
    return _str(source, "component"), _str(source, "host")


def _series_key(ev: dict[str, Any]) -> tuple[int, datetime | None] | None:
    series = ev.get("series")
    if not isinstance(series, dict):
        return None
    return series.get("count") or 0, _time(series.get("lastObservedTime"))


def _go_value(path: str, ev: dict[str, Any]) -> str:
    """The new value as upstream prints it in ``Invalid value: ...``: ``%q`` for strings, ``%v`` for
    numbers, the Stringer for times and ``%#v`` for the internal structs."""
    if path in ("involvedObject", "related"):
        ref = ev.get(path)
        if path == "related" and not isinstance(ref, dict):
            return "null"
        ref = ref if isinstance(ref, dict) else {}
        body = ", ".join(f"{go}:{_quote(_str(ref, js))}" for js, go in _REF_FIELDS)
        return f"core.ObjectReference{{{body}}}"
    if path == "source":
        component, host = _source_key(ev)
        return f"core.EventSource{{Component:{_quote(component)}, Host:{_quote(host)}}}"
    if path in ("firstTimestamp", "lastTimestamp", "eventTime"):
        return _go_time(_time(ev.get(path)))
    if path == "count":
        return str(ev.get("count") or 0)
    key = "reportingComponent" if path == "reportingController" else path
    return _quote(_str(ev, key))


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_time(t: datetime | None) -> str:
    """Go's time.Time.String() for a UTC time (``2006-01-02 15:04:05.999999999 -0700 MST``)."""
    if t is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    text = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        text += f".{t.microsecond:06d}".rstrip("0")
    return text + " +0000 UTC"

"""Kubernetes protobuf request bodies to the JSON-shaped dicts the rest of the API server handles.

A body is ``k8s\\0`` then a ``runtime.Unknown`` envelope {1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
3: contentEncoding, 4: contentType}; ``raw`` is the object's own message from upstream's
``generated.proto``. The apiVersion and kind pick the OpenAPI definition (``io.k8s.api.apps.v1.Deployment``),
whose protobuf message (``k8s.io.api.apps.v1.Deployment``) is read with the field numbers in ``fields``.

What JSON would have omitted: gogo-protobuf writes every non-pointer Go field, zero or not, while the
JSON encoding drops zero ``omitempty`` fields. Neither the wire nor the schema says which fields are
``omitempty``, so the decoder uses this rule (it reproduces kubectl's JSON bodies, minus their
``null``/``{}`` noise):
- a field the Go type holds by pointer (gogo ``nullable``, recorded in ``fields``) is kept whenever it is
  on the wire, zero or empty included (``replicas: 0``, ``emptyDir: {}``);
- a non-pointer field is kept when it is not zero ("" / 0 / false / empty message, list or map, zero
  Time), or when the schema lists it as required (openapi-gen marks a field required exactly when its
  JSON tag has no ``omitempty``, so Go JSON would keep its zero too).
"""

from __future__ import annotations

import base64
import datetime
import functools
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from navarch.api import errors
from navarch.api.durations import go_duration
from navarch.api.schema import Schema, load_schema
from navarch.apiserver.protobuf import fields, wire

PROTOBUF_CONTENT_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

_META = "k8s.io.apimachinery.pkg.apis.meta.v1."
_QUANTITY = "k8s.io.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "k8s.io.apimachinery.pkg.util.intstr.IntOrString"
_TIME = _META + "Time"
_MICRO_TIME = _META + "MicroTime"
_DURATION = _META + "Duration"
_FIELDS_V1 = _META + "FieldsV1"
_RAW_EXTENSION = "k8s.io.apimachinery.pkg.runtime.RawExtension"

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
# Go's zero time.Time (year 1) as Unix seconds: Time values at it are "unset".
_GO_ZERO_SECONDS = -62135596800

_SCALARS: dict[str, tuple[int, Callable[[int], Any]]] = {
    "int32": (wire.VARINT, lambda v: wire.signed(v, 32)),
    "int64": (wire.VARINT, lambda v: wire.signed(v, 64)),
    "uint32": (wire.VARINT, lambda v: v & 0xFFFFFFFF),
    "uint64": (wire.VARINT, int),
    "sint32": (wire.VARINT, wire.zigzag),
    "sint64": (wire.VARINT, wire.zigzag),
    "bool": (wire.VARINT, bool),
    "enum": (wire.VARINT, lambda v: wire.signed(v, 32)),
    "fixed32": (wire.FIXED32, int),
    "sfixed32": (wire.FIXED32, lambda v: wire.signed(v, 32)),
    "float": (wire.FIXED32, wire.as_float),
    "fixed64": (wire.FIXED64, int),
    "sfixed64": (wire.FIXED64, lambda v: wire.signed(v, 64)),
    "double": (wire.FIXED64, wire.as_double),
}
_MAP_DEFAULTS: dict[str, Any] = {"string": "", "bytes": "", "bool": False}


def decode(body: bytes) -> dict[str, Any]:
    """The object a ``application/vnd.kubernetes.protobuf`` body carries, shaped as its JSON would be.

    Raises ``StatusError`` 400 for malformed bodies and unknown kinds, 415 for kinds or envelopes
    navarch cannot read as protobuf.
    """
    return _default_decoder().decode(body)


@functools.cache
def _default_decoder() -> Decoder:
    return Decoder(load_schema())


class Decoder:
    """Reads protobuf bodies with ``messages`` (field numbers) and ``schema`` (kinds, required fields)."""

    def __init__(self, schema: Schema, messages: Mapping[str, Mapping[int, fields.Field]] = fields.MESSAGES) -> None:
        self.schema = schema
        self.messages = messages
        self.required: dict[str, frozenset[str]] = {
            name: frozenset(schema.definitions.get(_definition(name), {}).get("required", ()))
            for name in messages
        }
        # An embedded struct (VolumeSource) has no definition of its own; its parent's says what is required.
        for name, spec in messages.items():
            for _, _, flags, ref in spec.values():
                if flags & fields.INLINE:
                    self.required[ref] = self.required.get(ref, frozenset()) | self.required[name]

    def decode(self, body: bytes) -> dict[str, Any]:
        if not body.startswith(MAGIC):
            raise errors.bad_request("provided data does not appear to be a protobuf message, "
                                     f"expected prefix {list(MAGIC)}")
        try:
            api_version, kind, raw = self._envelope(body[len(MAGIC):])
            message = self._message_for(api_version, kind)
            obj = self._message(message, raw)
        except wire.WireError as e:
            raise errors.bad_request(f"unable to decode protobuf body: {e}") from None
        except UnicodeDecodeError:
            raise errors.bad_request("unable to decode protobuf body: a string field is not valid UTF-8") from None
        except orjson.JSONDecodeError as e:
            raise errors.bad_request(f"unable to decode protobuf body: embedded JSON is invalid: {e}") from None
        except RecursionError:
            raise errors.bad_request("unable to decode protobuf body: nested too deeply") from None
        return {"kind": kind, "apiVersion": api_version, **obj}

    def _envelope(self, data: bytes) -> tuple[str, str, bytes]:
        """apiVersion, kind and raw object bytes of a ``runtime.Unknown``."""
        type_meta, raw, encoding, content_type = b"", b"", "", ""
        for number, wire_type, value in wire.fields(data):
            if wire_type != wire.LENGTH:
                continue
            assert isinstance(value, bytes)
            if number == 1:
                type_meta = value
            elif number == 2:
                raw = value
            elif number == 3:
                encoding = value.decode()
            elif number == 4:
                content_type = value.decode()
        api_version = kind = ""
        for number, wire_type, value in wire.fields(type_meta):
            if wire_type == wire.LENGTH and isinstance(value, bytes):
                if number == 1:
                    api_version = value.decode()
                elif number == 2:
                    kind = value.decode()
        if encoding:
            raise errors.StatusError(415, "UnsupportedMediaType",
                                     f'protobuf content encoding "{encoding}" is not supported')
        if content_type and content_type != PROTOBUF_CONTENT_TYPE:
            raise errors.StatusError(415, "UnsupportedMediaType",
                                     f'protobuf envelope carries content type "{content_type}", '
                                     f"expected {PROTOBUF_CONTENT_TYPE}")
        if not api_version or not kind:
            raise errors.bad_request("Object 'Kind' or 'apiVersion' is missing in the protobuf body")
        return api_version, kind, raw

    def _message_for(self, api_version: str, kind: str) -> str:
        group, _, version = api_version.rpartition("/")
        definition = self.schema.definition_for(group, version, kind)
        if definition is None and version == "v1":
            # DeleteOptions and friends are meta types usable under any group.
            core = self.schema.definition_for("", "v1", kind)
            if core is not None and core.startswith("io.k8s.apimachinery.pkg.apis.meta."):
                definition = core
        if definition is None:
            raise errors.bad_request(f'no kind "{kind}" is registered for version "{api_version}"')
        message = "k8s.io." + definition[len("io.k8s."):]
        if message not in self.messages:
            raise errors.StatusError(415, "UnsupportedMediaType",
                                     f"protobuf bodies of {api_version} {kind} are not supported by navarch; "
                                     "send application/json")
        return message

    def _message(self, name: str, data: bytes) -> dict[str, Any]:
        spec = self.messages[name]
        out: dict[str, Any] = {}
        inline: list[dict[str, Any]] = []
        seen: dict[str, fields.Field] = {}
        for number, wire_type, value in wire.fields(data):
            field = spec.get(number)
            if field is None:
                continue  # newer than our table: ignored, as an unknown JSON field would be
            json_name, kind, flags, ref = field
            if kind == "map":
                key, item = self._map_entry(ref, flags, _length(wire_type, value, json_name))
                out.setdefault(json_name, {})[key] = item
            elif flags & fields.REPEATED:
                items = out.setdefault(json_name, [])
                if kind in _SCALARS and wire_type == wire.LENGTH:
                    want, convert = _SCALARS[kind]
                    items.extend(convert(v) for v in wire.packed(_length(wire_type, value, json_name), want))
                else:
                    items.append(self._value(kind, ref, flags, wire_type, value, json_name))
            elif flags & fields.INLINE:
                inline.append(self._message(ref, _length(wire_type, value, json_name)))
            else:
                out[json_name] = self._value(kind, ref, flags, wire_type, value, json_name)
                seen[json_name] = field
        required = self.required[name]
        for json_name, (_, kind, flags, _) in seen.items():
            value = out[json_name]
            # A []byte is never a Go pointer, and omitempty drops it when empty, nil or not.
            pointer = flags & fields.POINTER and kind != "bytes"
            if value is None or not (pointer or json_name in required or not _is_zero(value)):
                del out[json_name]
        for embedded in inline:
            out.update(embedded)
        return out

    def _value(self, kind: str, ref: str, flags: int, wire_type: int, value: int | bytes, name: str) -> Any:
        if kind == "message":
            data = _length(wire_type, value, name)
            if flags & fields.WRAPPED:
                return self._wrapped(ref, data)
            return self._special(ref, data) if ref in _SPECIAL else self._message(ref, data)
        if kind == "string":
            return _length(wire_type, value, name).decode()
        if kind == "bytes":
            return base64.b64encode(_length(wire_type, value, name)).decode()
        scalar = _SCALARS.get(kind)
        if scalar is None:
            raise wire.WireError(f"field {name}: unsupported protobuf type {kind}")
        want, convert = scalar
        if wire_type != want or not isinstance(value, int):
            raise wire.WireError(f"field {name}: wire type {wire_type} does not fit {kind}")
        return convert(value)

    def _map_entry(self, value_type: str, flags: int, data: bytes) -> tuple[str, Any]:
        """One ``{1: key, 2: value}`` entry; an absent value is its type's zero, as protobuf says."""
        key, item, have_item = "", None, False
        for number, wire_type, value in wire.fields(data):
            if number == 1:
                key = _length(wire_type, value, "map key").decode()
            elif number == 2:
                kind = "message" if "." in value_type else value_type
                item = self._value(kind, value_type, flags, wire_type, value, f"map value {key!r}")
                have_item = True
        if not have_item:
            if "." in value_type:
                item = self._value("message", value_type, flags, wire.LENGTH, b"", f"map value {key!r}")
            else:
                item = _MAP_DEFAULTS.get(value_type, 0)
        return key, item

    def _wrapped(self, name: str, data: bytes) -> list[Any]:
        """A named slice (``ExtraValue``): its message has one repeated field, shown as a bare list."""
        return self._message(name, data).get(next(iter(self.messages[name].values()))[0], [])

    def _special(self, name: str, data: bytes) -> Any:
        """Types whose Go JSON encoding is not their field-by-field shape."""
        values: dict[int, int | bytes] = {}
        for number, _, value in wire.fields(data):
            values[number] = value
        if name == _QUANTITY:
            return _text(values.get(1, b""))
        if name == _INT_OR_STRING:
            if _int(values.get(1, 0)) == 1:
                return _text(values.get(3, b""))
            return wire.signed(_int(values.get(2, 0)), 32)
        if name in (_TIME, _MICRO_TIME):
            return _timestamp(wire.signed(_int(values.get(1, 0)), 64), wire.signed(_int(values.get(2, 0)), 32),
                              micro=name == _MICRO_TIME)
        if name == _DURATION:
            return go_duration(wire.signed(_int(values.get(1, 0)), 64))
        raw = values.get(1, b"")
        if not isinstance(raw, bytes):
            raise wire.WireError(f"{name}: raw field is not length-delimited")
        if not raw:
            return None
        if name == _RAW_EXTENSION and raw.startswith(MAGIC):
            return self.decode(raw)
        return orjson.loads(raw)


_SPECIAL = frozenset({_QUANTITY, _INT_OR_STRING, _TIME, _MICRO_TIME, _DURATION, _FIELDS_V1, _RAW_EXTENSION})


def _definition(message: str) -> str:
    return "io.k8s." + message[len("k8s.io."):]


def _length(wire_type: int, value: int | bytes, name: str) -> bytes:
    if wire_type != wire.LENGTH or not isinstance(value, bytes):
        raise wire.WireError(f"field {name}: expected a length-delimited value, got wire type {wire_type}")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise wire.WireError("expected a varint")
    return value


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise wire.WireError("expected a string")
    return value.decode()


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value == 0 or value in ("", {}, [])


def _timestamp(seconds: int, nanos: int, *, micro: bool) -> str | None:
    """RFC 3339 in UTC, as metav1.Time (whole seconds) and MicroTime (6 digits) marshal; None for zero."""
    if (seconds == 0 and nanos == 0) or seconds == _GO_ZERO_SECONDS:
        return None
    try:
        when = _EPOCH + datetime.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise wire.WireError(f"timestamp {seconds}s out of range") from None
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    if micro:
        text += f".{when.microsecond:06d}"
    return text + "Z"



"""What upstream's JSON decoder does to a request body, driven by the schema.

Upstream decodes a built-in kind into Go structs with ``sigs.k8s.io/json``. Two things come out of
that decode which clients see:

- fields the struct does not have. Under ``fieldValidation=Strict`` they fail the request with a 400
  (``strict decoding error: unknown field "spec.foo", ...``); under ``Warn`` each becomes a
  ``Warning`` header (``unknown field "spec.foo"``); under ``Ignore`` (and always, for the stored
  object) they are dropped.
- values of the wrong JSON type. They always fail the request with a 400 carrying Go's
  ``json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32``,
  and so do a few leaf types whose own decoders reject bad text (quantities, base64 bytes).

The schema is compiled once per definition into a small tree of ``_Node`` (cached per ``Schema``),
so every request walks only its own object.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from navarch.api import errors
from navarch.api.schema import Schema

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_TIMES = ("io.k8s.apimachinery.pkg.apis.meta.v1.Time", "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime")
# Types whose Go decoders keep the raw JSON, whatever its shape.
_OPEN = (
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSON",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Patch",
)
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}

# Go types that are named string types upstream: Go prints them, not "string", in type errors.
# (struct, json field) -> Go type; only the fields kubectl users commonly get wrong.
_NAMED_STRINGS = {
    ("PodSpec", "restartPolicy"): "v1.RestartPolicy",
    ("PodSpec", "dnsPolicy"): "v1.DNSPolicy",
    ("PodSpec", "preemptionPolicy"): "v1.PreemptionPolicy",
    ("Container", "imagePullPolicy"): "v1.PullPolicy",
    ("Container", "terminationMessagePolicy"): "v1.TerminationMessagePolicy",
    ("ContainerPort", "protocol"): "v1.Protocol",
    ("ServicePort", "protocol"): "v1.Protocol",
    ("EndpointPort", "protocol"): "v1.Protocol",
    ("ServiceSpec", "type"): "v1.ServiceType",
    ("ServiceSpec", "sessionAffinity"): "v1.ServiceAffinity",
    ("ServiceSpec", "externalTrafficPolicy"): "v1.ServiceExternalTrafficPolicy",
    ("ServiceSpec", "internalTrafficPolicy"): "v1.ServiceInternalTrafficPolicy",
    ("ServiceSpec", "ipFamilyPolicy"): "v1.IPFamilyPolicy",
    ("Secret", "type"): "v1.SecretType",
    ("DeploymentStrategy", "type"): "v1.DeploymentStrategyType",
    ("StatefulSetSpec", "podManagementPolicy"): "v1.PodManagementPolicyType",
    ("JobSpec", "completionMode"): "v1.CompletionMode",
    ("CronJobSpec", "concurrencyPolicy"): "v1.ConcurrencyPolicy",
    ("HTTPIngressPath", "pathType"): "v1.PathType",
    ("Toleration", "operator"): "v1.TolerationOperator",
    ("Toleration", "effect"): "v1.TaintEffect",
}


@dataclass(eq=False)
class _Node:
    """One compiled schema position.

    ``kind``: struct (fixed ``fields``), map (``value``), list (``item``), scalar (``json`` kinds
    accepted), any (raw JSON), intstr, quantity.
    """

    kind: str
    go_type: str = ""
    go_struct: str = ""
    fields: dict[str, _Node] = field(default_factory=dict)
    value: _Node | None = None
    item: _Node | None = None
    scalar: str = ""  # string, integer, number, boolean, bytes
    int_format: str = ""


_ANY = _Node("any", go_type="interface {}")


class _Compiler:
    """Compiles definitions lazily; one per Schema (see ``_compiler``)."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.defs: dict[str, _Node] = {}

    def definition(self, name: str) -> _Node:
        node = self.defs.get(name)
        if node is not None:
            return node
        if name in _OPEN:
            node = _ANY
        elif name == _INT_OR_STRING:
            node = _Node("intstr", go_type="int32")
        elif name == _QUANTITY:
            node = _Node("quantity", go_type="resource.Quantity")
        elif name in _TIMES:
            node = _Node("scalar", go_type="string", scalar="string")
        else:
            d = self.schema.definitions.get(name, {})
            go_name = name.rsplit(".", 1)[-1]
            pkg = name.rsplit(".", 2)[-2] if name.count(".") >= 2 else ""
            go_type = f"{pkg}.{go_name}" if pkg else go_name
            if "properties" in d or "object" in Schema.types(d):
                node = _Node("struct", go_type=go_type, go_struct=go_name)
                # Register before filling the fields: definitions can be recursive.
                self.defs[name] = node
                if "x-kubernetes-preserve-unknown-fields" in d and not d.get("properties"):
                    node.kind = "any"
                elif not d.get("properties") and isinstance(d.get("additionalProperties"), dict):
                    node.kind = "map"
                    node.value = self.inline(d["additionalProperties"], go_name, "")
                else:
                    for prop, sub in d.get("properties", {}).items():
                        node.fields[prop] = self.inline(sub, go_name, prop)
                    if d.get("x-kubernetes-preserve-unknown-fields"):
                        node.kind = "open-struct"
                return node
            node = self.inline(d, "", "") if d else _ANY
        self.defs[name] = node
        return node

    def inline(self, sub: dict[str, Any], parent: str, prop: str) -> _Node:
        ref = Schema.ref_name(sub)
        if ref is not None:
            return self.definition(ref)
        if sub.get("x-kubernetes-preserve-unknown-fields") and "properties" not in sub:
            return _ANY
        if "x-kubernetes-int-or-string" in sub:
            return _Node("intstr", go_type="int32")
        types = Schema.types(sub) - {"null"}
        if "array" in types:
            item = self.inline(sub.get("items") or {}, parent, prop)
            return _Node("list", go_type="[]" + item.go_type, item=item)
        if "object" in types:
            extra = sub.get("additionalProperties")
            if isinstance(extra, dict):
                value = self.inline(extra, parent, prop)
                go = "v1.ResourceList" if value.kind == "quantity" else f"map[string]{value.go_type}"
                return _Node("map", go_type=go, value=value)
            if sub.get("properties"):
                node = _Node("struct", go_type=parent, go_struct=parent)
                for p, s in sub["properties"].items():
                    node.fields[p] = self.inline(s, parent, p)
                return node
            return _Node("any", go_type="map[string]interface {}")
        if "string" in types:
            if sub.get("format") == "byte":
                return _Node("scalar", go_type="[]uint8", scalar="bytes")
            return _Node("scalar", go_type=_NAMED_STRINGS.get((parent, prop), "string"), scalar="string")
        if "integer" in types:
            fmt = sub.get("format") or "int"
            return _Node("scalar", go_type=fmt, scalar="integer", int_format=fmt)
        if "number" in types:
            return _Node("scalar", go_type="float64", scalar="number")
        if "boolean" in types:
            return _Node("scalar", go_type="bool", scalar="boolean")
        if "oneOf" in sub:
            return _ANY
        return _ANY


@functools.cache
def _compiler(schema: Schema) -> _Compiler:
    return _Compiler(schema)


def _root(schema: Schema, definition: str) -> _Node:
    return _compiler(schema).definition(definition)


# ---------------------------------------------------------------------------------------------
# Unknown fields and pruning


def unknown_fields(schema: Schema, definition: str, obj: dict[str, Any], changed: Any = None) -> list[str]:
    """Paths of fields the schema does not know, as upstream's strict decoder names them.

    ``spec.foo``, ``spec.template.spec.containers[0].bogus``; map keys appear as ``.key``. At most
    100 distinct paths, as upstream caps them. ``changed``: see ``type_errors``.
    """
    out: list[str] = []
    if isinstance(changed, dict):
        _unknown_changed(_root(schema, definition), obj, changed, "", out)
    else:
        _unknown(_root(schema, definition), obj, "", out)
    return out[:100]


def _unknown_changed(node: _Node, value: Any, changed: dict[str, Any], path: str, out: list[str]) -> None:
    """``_unknown`` over the keys ``changed`` names at each level of objects; a subtree the patch
    replaced (any value but an object) is walked whole."""
    kind = node.kind
    if kind in ("struct", "open-struct", "map") and isinstance(value, dict):
        for k, v in value.items():
            if k not in changed:
                continue
            sub = node.value if kind == "map" else node.fields.get(k)
            if sub is None:
                if kind == "struct":
                    out.append(_join(path, k))
                continue
            if not isinstance(v, (dict, list)):
                continue
            c = changed[k]
            if isinstance(c, dict):
                _unknown_changed(sub, v, c, _join(path, k), out)
            else:
                _unknown(sub, v, _join(path, k), out)
        return
    _unknown(node, value, path, out)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _unknown(node: _Node, value: Any, path: str, out: list[str]) -> None:
    kind = node.kind
    if kind in ("struct", "open-struct"):
        if not isinstance(value, dict):
            return
        fields = node.fields
        for k, v in value.items():
            sub = fields.get(k)
            if sub is None:
                if kind == "struct":
                    out.append(_join(path, k))
                continue
            if isinstance(v, (dict, list)):
                _unknown(sub, v, _join(path, k), out)
    elif kind == "list":
        if not isinstance(value, list):
            return
        item = node.item
        assert item is not None
        if item.kind in ("struct", "list", "map"):
            for i, v in enumerate(value):
                _unknown(item, v, f"{path}[{i}]", out)
    elif kind == "map":
        if not isinstance(value, dict):
            return
        sub = node.value
        assert sub is not None
        if sub.kind in ("struct", "list", "map"):
            for k, v in value.items():
                _unknown(sub, v, _join(path, k), out)


def prune(schema: Schema, definition: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without its unknown fields (what upstream stores under Ignore/Warn).

    Returns ``obj`` itself when nothing is unknown; otherwise new containers along the changed
    paths only, sharing the untouched subtrees (the input is never mutated).
    """
    return _prune(_root(schema, definition), obj)


def _prune(node: _Node, value: Any) -> Any:
    kind = node.kind
    if kind in ("struct", "open-struct") and isinstance(value, dict):
        fields = node.fields
        changed = False
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = fields.get(k)
            if sub is None:
                if kind == "struct":
                    changed = True
                    continue
                out[k] = v
                continue
            nv = _prune(sub, v) if isinstance(v, (dict, list)) else v
            if nv is not v:
                changed = True
            out[k] = nv
        return out if changed else value
    if kind == "list" and isinstance(value, list):
        item = node.item
        assert item is not None
        if item.kind not in ("struct", "list", "map", "open-struct"):
            return value
        items = [_prune(item, v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if kind == "map" and isinstance(value, dict):
        sub = node.value
        assert sub is not None
        if sub.kind not in ("struct", "list", "map", "open-struct"):
            return value
        pruned = {k: _prune(sub, v) for k, v in value.items()}
        return pruned if any(pruned[k] is not value[k] for k in value) else value
    return value


def _decode_prefix(kind: str, version: str) -> str:
    # apiserver's transformDecodeError: how a decode failure of a typed body is worded.
    return f'{kind} in version "{version}" cannot be handled as a {kind}: ' if kind else ""


def strict_error(paths: list[str], kind: str = "", version: str = "") -> errors.StatusError:
    """The 400 of ``fieldValidation=Strict`` for these unknown fields.

    With ``kind``/``version`` (create/update of a typed body) the message carries upstream's
    ``Deployment in version "v1" cannot be handled as a Deployment: `` prefix; patches answer
    without it.
    """
    listed = ", ".join(f'unknown field "{p}"' for p in paths)
    return errors.bad_request(f"{_decode_prefix(kind, version)}strict decoding error: {listed}")


def warnings(paths: list[str]) -> list[str]:
    """``Warning`` header texts of ``fieldValidation=Warn`` (the header layer adds ``299 - "..."``)."""
    return [f'unknown field "{p}"' for p in paths]


# ---------------------------------------------------------------------------------------------
# Type errors


def type_errors(schema: Schema, definition: str, obj: dict[str, Any], changed: Any = None) -> list[errors.Cause]:
    """Values the Go decoder would refuse, in document order.

    Each cause's ``message`` is upstream's decoder text and ``field`` the JSON path (with list
    indices, for logs); upstream reports only the first (see ``decode_error``).

    ``changed``: the merge or strategic merge patch that made ``obj`` out of a stored object, which
    was checked when it was written. Such a patch changes nothing outside the keys it names, so only
    those are walked: a kubelet's status patch does not walk the pod's spec.
    """
    out: list[errors.Cause] = []
    if isinstance(changed, dict):
        _types_changed(_root(schema, definition), obj, changed, "", [], "", out)
    else:
        _types(_root(schema, definition), obj, "", [], "", out)
    return out


def _types_changed(node: _Node, value: Any, changed: dict[str, Any], struct: str, stack: list[str], path: str,
                   out: list[errors.Cause]) -> None:
    """``_types`` over the keys ``changed`` names at each level of objects, in document order; a
    subtree the patch replaced (any value but an object) is walked whole."""
    kind = node.kind
    if kind in ("struct", "open-struct", "map") and isinstance(value, dict):
        inner = node.go_struct if kind != "map" else struct
        for k, v in value.items():
            if k not in changed or v is None:
                continue
            sub = node.value if kind == "map" else node.fields.get(k)
            if sub is None:
                continue
            if kind != "map":
                stack.append(k)
            c = changed[k]
            if isinstance(c, dict):
                _types_changed(sub, v, c, inner, stack, _join(path, k), out)
            else:
                _types(sub, v, inner, stack, _join(path, k), out)
            if kind != "map":
                stack.pop()
        return
    _types(node, value, struct, stack, path, out)


def decode_error(causes: list[errors.Cause], kind: str = "", version: str = "") -> errors.StatusError:
    """The 400 upstream answers for a body with type errors: the first one, as Go's decoder does."""
    return errors.bad_request(_decode_prefix(kind, version) + causes[0].message)


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_cause(got: str, go_type: str, struct: str, stack: list[str], path: str) -> errors.Cause:
    if struct:
        msg = f"json: cannot unmarshal {got} into Go struct field {struct}.{'.'.join(stack)} of type {go_type}"
    else:
        msg = f"json: cannot unmarshal {got} into Go value of type {go_type}"
    return errors.Cause("FieldValueTypeInvalid", msg, path)


def _types(node: _Node, value: Any, struct: str, stack: list[str], path: str,
           out: list[errors.Cause]) -> None:
    """``struct``/``stack`` mirror Go's errorContext: the innermost struct, and the JSON field names
    from the root (no list indices, no map keys)."""
    if value is None:
        return  # null decodes into anything (it leaves Go's zero value)
    kind = node.kind
    if kind == "any":
        return
    if kind in ("struct", "open-struct"):
        if not isinstance(value, dict):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))
            return
        fields = node.fields
        for k, v in value.items():
            sub = fields.get(k)
            if sub is None or v is None:
                continue
            # Most fields are strings and booleans that are what they should be: settled here, without
            # a call and a path string each (only ``scalar`` nodes have ``scalar`` set).
            vt = type(v)
            if (vt is str and sub.scalar == "string") or (vt is bool and sub.scalar == "boolean"):
                continue
            stack.append(k)
            _types(sub, v, node.go_struct, stack, _join(path, k), out)
            stack.pop()
        return
    if kind == "list":
        if not isinstance(value, list):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))
            return
        assert node.item is not None
        for i, v in enumerate(value):
            _types(node.item, v, struct, stack, f"{path}[{i}]", out)
        return
    if kind == "map":
        if not isinstance(value, dict):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))
            return
        assert node.value is not None
        for k, v in value.items():
            _types(node.value, v, struct, stack, _join(path, k), out)
        return
    if kind == "intstr":
        if isinstance(value, str):
            return
        bad = _int_problem(value, "int32")
        if bad:
            out.append(_type_cause(bad, "int32", struct, stack, path))
        return
    if kind == "quantity":
        text = value if isinstance(value, str) else _go_literal(value)
        problem = quantity_error(text.strip())
        if problem:
            out.append(errors.Cause("FieldValueTypeInvalid", problem, path))
        return
    # scalars
    scalar = node.scalar
    if scalar in ("string", "bytes"):
        if not isinstance(value, str):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))
        elif scalar == "bytes":
            at = base64_error_at(value)
            if at is not None:
                out.append(errors.Cause("FieldValueTypeInvalid", f"illegal base64 data at input byte {at}", path))
    elif scalar == "integer":
        bad = _int_problem(value, node.int_format)
        if bad:
            out.append(_type_cause(bad, node.go_type, struct, stack, path))
    elif scalar == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))
    elif scalar == "boolean":
        if not isinstance(value, bool):
            out.append(_type_cause(_json_kind(value), node.go_type, struct, stack, path))


def _go_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return "{"
    return str(value)


def _int_problem(value: Any, fmt: str) -> str:
    """What Go's decoder calls a value it cannot store in an integer ("" when it can)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _json_kind(value)
    lo, hi = _INT_RANGES.get(fmt, _INT_RANGES["int64"])
    if isinstance(value, float) or not lo <= value <= hi:
        return f"number {value}"
    return ""


# ---------------------------------------------------------------------------------------------
# Leaf decoders whose own errors reach the client


_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_QUANTITY_FORMAT = ("quantities must match the regular expression "
                    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
_SUFFIXES = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E"}
_EXPONENT = re.compile(r"^[eE][-+]?[0-9]+$")


def quantity_error(text: str) -> str:
    """Upstream's ParseQuantity error for ``text``, or "" when it parses."""
    m = _QUANTITY_RE.match(text)
    if not m:
        return _QUANTITY_FORMAT
    number, suffix = m.group(1), m.group(2)
    digits = number.lstrip("+-")
    if digits.count(".") > 1 or digits in (".", ""):
        return "unable to parse numeric part of quantity"
    if suffix not in _SUFFIXES and not _EXPONENT.match(suffix):
        return "unable to parse quantity's suffix"
    return ""


_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error_at(text: str) -> int | None:
    """The byte offset Go's padded standard base64 decoder reports as illegal, or None if valid.

    Mirrors Go's quantum-by-quantum decode: CR/LF are skipped, ``=`` is only legal as the
    third/fourth character of the last quantum, and input may not stop mid-quantum.
    """
    src = text.encode("utf-8", "surrogatepass")
    n = len(src)
    si = 0
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return si - j
            ch = src[si]
            si += 1
            if chr(ch) in _B64:
                j += 1
                continue
            if ch in (0x0A, 0x0D):
                continue
            if ch != 0x3D:  # '='
                return si - 1
            if j in (0, 1):
                return si - 1
            if j == 2:
                while si < n and src[si] in (0x0A, 0x0D):
                    si += 1
                if si == n:
                    return n
                if src[si] != 0x3D:
                    return si - 1
                si += 1
            while si < n and src[si] in (0x0A, 0x0D):
                si += 1
            return si if si < n else None

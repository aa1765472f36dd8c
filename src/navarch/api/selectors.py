"""Label and field selectors, parsed and evaluated as apimachinery does.

Label selectors follow ``pkg/labels/selector.go``: a small lexer (whitespace and the symbols
``= ! ( ) , > <`` end identifiers; ``in``/``notin`` are keywords only where an operator is expected),
a recursive-descent parser and requirements ANDed together. Field selectors follow
``pkg/fields/selector.go``: comma-joined ``field(=|==|!=)value`` terms whose values escape ``\\``,
``,`` and ``=`` with a backslash. The fields each resource can be selected on follow upstream's
``pkg/registry/*/strategy.go`` (GetAttrs) and the per-kind field label conversion functions.

Errors carry upstream's wording, because clients print them verbatim
(``unable to parse requirement: found 'x', expected: in, notin, =, ==, !=, gt, lt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from navarch.api import errors
from navarch.api.resources import ResourceInfo

# ---------------------------------------------------------------------------------------------
# Label key/value syntax (apimachinery pkg/util/validation)

_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

_QUALIFIED_NAME_FMT = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                       "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                       "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def qualified_name_errors(value: str) -> list[str]:
    """Upstream IsQualifiedName: ``[prefix/]name`` with a DNS-subdomain prefix."""
    parts = value.split("/")
    out: list[str] = []
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            out.append("prefix part must be non-empty")
        else:
            out.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    else:
        return ["a qualified name " + _QUALIFIED_NAME_FMT
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        out.append("name part must be non-empty")
    elif len(name) > 63:
        out.append("name part must be no more than 63 characters")
    if name and not _QUALIFIED_NAME.fullmatch(name):
        out.append("name part " + _QUALIFIED_NAME_FMT)
    return out


def label_value_errors(value: str) -> list[str]:
    out: list[str] = []
    if len(value) > 63:
        out.append("must be no more than 63 characters")
    if not _LABEL_VALUE.fullmatch(value):
        out.append("a valid label must be an empty string or consist of alphanumeric characters, '-', "
                   "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
                   "or 'my_value',  or '12345', regex used for validation is "
                   "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    return out


def dns1123_subdomain_errors(value: str) -> list[str]:
    out: list[str] = []
    if len(value) > 253:
        out.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        out.append("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                   "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                   "regex used for validation is "
                   "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    return out


def _field_error(path: str, value: Any, detail: str) -> str:
    """A field.Error's text; upstream prints a nil path as ``<nil>``."""
    return f"{path or '<nil>'}: Invalid value: {_go_value(value)}: {detail}"


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[]string{" + ", ".join(_go_value(v) for v in value) + "}"
    return str(value)


def _aggregate(messages: list[str]) -> str:
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


# ---------------------------------------------------------------------------------------------
# Label selectors

IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)


class _SelectorError(Exception):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    @classmethod
    def new(cls, key: str, operator: str, values: list[str]) -> "Requirement":
        """Validated construction, as upstream NewRequirement (errors aggregated)."""
        errs: list[str] = []
        key_errs = qualified_name_errors(key)
        if key_errs:
            errs.append(_field_error("key", key, "; ".join(key_errs)))
        if operator in (IN, NOT_IN):
            if not values:
                errs.append(_field_error("values", values, "for 'in', 'notin' operators, values set can't be empty"))
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(values) != 1:
                errs.append(_field_error("values", values, "exact-match compatibility requires one single value"))
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if values:
                errs.append(_field_error("values", values, "values set must be empty for exists and does not exist"))
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(values) != 1:
                errs.append(_field_error("values", values, "for 'Gt', 'Lt' operators, exactly one value is required"))
            for i, v in enumerate(values):
                if not _is_int64(v):
                    errs.append(_field_error(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"))
        else:
            errs.append(f'operator: Unsupported value: "{operator}"')
        for i, v in enumerate(values):
            value_errs = label_value_errors(v)
            if value_errs:
                errs.append(_field_error(f"values[{i}][{key}]", v, "; ".join(value_errs)))
        if errs:
            raise _SelectorError(_aggregate(errs))
        return cls(key, operator, tuple(values))

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN):
            if self.key not in labels or len(self.values) != 1:
                return False
            if not _is_int64(labels[self.key]) or not _is_int64(self.values[0]):
                return False
            have, want = int(labels[self.key]), int(self.values[0])
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        prefix = "!" if self.operator == DOES_NOT_EXIST else ""
        if self.operator in (EXISTS, DOES_NOT_EXIST):
            return prefix + self.key
        values = ",".join(sorted(self.values)) if len(self.values) > 1 else "".join(self.values)
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


def _is_int64(s: str) -> bool:
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return False
    return -(2 ** 63) <= int(s) < 2 ** 63


@dataclass(frozen=True)
class LabelSelector:
    """ANDed requirements, sorted by key as upstream. ``nothing`` matches no object at all."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, if the selector pins it (lets callers narrow lookups)."""
        for r in self.requirements:
            if r.key == key:
                if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                    return r.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)

# Token kinds
_EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN, _ERR = range(14)
_SYMBOLS = {")": _CLOSE, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN, "<": _LT,
            "!=": _NEQ, "notin": _NOTIN, "(": _OPEN}
_SPECIAL = set("=!(),><")
_WHITESPACE = set(" \t\r\n")


def _lex(s: str) -> list[tuple[int, str]]:
    items: list[tuple[int, str]] = []
    pos, n = 0, len(s)
    while True:
        while pos < n and s[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            items.append((_EOS, ""))
            return items
        if s[pos] in _SPECIAL:
            # Longest run of special characters that still spells a known symbol.
            buf, last = "", None
            while pos < n and s[pos] in _SPECIAL:
                buf += s[pos]
                if buf in _SYMBOLS:
                    last = (_SYMBOLS[buf], buf)
                    pos += 1
                elif last is not None:
                    break
                else:
                    pos += 1
            items.append(last if last else (_ERR, f"error expected: keyword found '{buf}'"))
            continue
        start = pos
        while pos < n and s[pos] not in _SPECIAL and s[pos] not in _WHITESPACE:
            pos += 1
        word = s[start:pos]
        items.append((_SYMBOLS[word], word) if word in _SYMBOLS else (_ID, word))


class _LabelParser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.items[self.pos]
        return (_ID, lit) if values and tok in (_IN, _NOTIN) else (tok, lit)

    def consume(self, values: bool = True) -> tuple[int, str]:
        tok, lit = self.lookahead(values)
        self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in (_ID, _NOT):
                try:
                    reqs.append(self.requirement())
                except _SelectorError as e:
                    raise _SelectorError(f"unable to parse requirement: {e}") from None
                t, l = self.consume()
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, l2 = self.lookahead()
                    if t2 not in (_ID, _NOT):
                        raise _SelectorError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise _SelectorError(f"found '{l}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return reqs
            else:
                raise _SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        operator = ""
        tok, lit = self.consume()
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _ID:
            raise _SelectorError(f"found '{lit}', expected: identifier")
        key_errs = qualified_name_errors(lit)
        if key_errs:
            raise _SelectorError(_field_error("", lit, "; ".join(key_errs)))
        key = lit
        if self.lookahead()[0] in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator, [])
        tok, lit = self.consume(values=False)
        operator = {_IN: IN, _NOTIN: NOT_IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _NEQ: NOT_EQUALS,
                    _GT: GREATER_THAN, _LT: LESS_THAN}.get(tok, "")
        if not operator:
            raise _SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return Requirement.new(key, operator, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN:
            raise _SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok in (_ID, _COMMA):
            values = self.identifiers()
            if self.consume()[0] != _CLOSE:
                raise _SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume()
            return {""}
        raise _SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == _CLOSE:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    self.consume()
                    values.add("")
            else:
                raise _SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead()[0] in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume()
        if tok == _ID:
            return {lit}
        raise _SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query value; raises a 400 BadRequest StatusError on bad input."""
    try:
        reqs = _LabelParser(text).parse()
    except _SelectorError as e:
        raise errors.bad_request(str(e)) from None
    # Stable sort by key, as upstream, so that String() and evaluation order are deterministic.
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


_EXPRESSION_OPERATORS = {"In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST}


def label_selector_from_object(sel: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector`` as a matcher (upstream LabelSelectorAsSelector).

    None selects nothing; an empty selector selects everything. Bad keys, values or operators raise a
    400 StatusError with upstream's message.
    """
    if sel is None:
        return NOTHING
    match_labels = sel.get("matchLabels") or {}
    expressions = sel.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    reqs: list[Requirement] = []
    try:
        for key, value in match_labels.items():
            reqs.append(Requirement.new(str(key), EQUALS, [str(value)]))
        for expr in expressions:
            op = _EXPRESSION_OPERATORS.get(expr.get("operator", ""))
            if op is None:
                raise _SelectorError(f'"{expr.get("operator", "")}" is not a valid label selector operator')
            reqs.append(Requirement.new(str(expr.get("key", "")), op, [str(v) for v in expr.get("values") or []]))
    except _SelectorError as e:
        raise errors.bad_request(str(e)) from None
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def label_selector_from_set(labels: Mapping[str, str]) -> LabelSelector:
    """Exact-match selector for a set of labels (e.g. a ReplicationController's ``spec.selector``)."""
    if not labels:
        return EVERYTHING
    return LabelSelector(tuple(Requirement(k, EQUALS, (v,)) for k, v in sorted(labels.items())))


# ---------------------------------------------------------------------------------------------
# Field selectors


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    operator: str  # "=", "==" or "!="
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        have = fields.get(self.field, "")
        return have != self.value if self.operator == NOT_EQUALS else have == self.value

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{escape_field_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(r.matches(fields) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal (``metadata.name=x`` lets the server read one key)."""
        for r in self.requirements:
            if r.field == field and r.operator != NOT_EQUALS:
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _unescape_field_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out: list[str] = []
    in_slash = False
    for c in value:
        if in_slash:
            if c not in "\\,=":
                raise _SelectorError(f"invalid field selector: invalid escape sequence: \\{c}")
            out.append(c)
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c in ",=":
            # Upstream formats the offending rune with %v, i.e. as its code point.
            raise _SelectorError(f"invalid field selector: unescaped character in value: {ord(c)}")
        else:
            out.append(c)
    if in_slash:
        raise _SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    start, in_slash = 0, False
    for i, c in enumerate(text):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def parse_field_selector(text: str) -> FieldSelector:
    """Parse a ``fieldSelector`` query value; raises a 400 BadRequest StatusError on bad input."""
    if not text:
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    try:
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            for i in range(len(part)):
                op = next((o for o in (NOT_EQUALS, DOUBLE_EQUALS, EQUALS) if part.startswith(o, i)), None)
                if op is not None:
                    reqs.append(FieldRequirement(part[:i], op, _unescape_field_value(part[i + len(op):])))
                    break
            else:
                raise _SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
    except _SelectorError as e:
        raise errors.bad_request(str(e)) from None
    return FieldSelector(tuple(reqs))


# ---------------------------------------------------------------------------------------------
# Selectable fields per resource

_META = ("metadata.name", "metadata.namespace")
_EVENT_FIELDS = (
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type",
)

# The field labels each kind's conversion function accepts (upstream pkg/apis/*/v1/conversion.go);
# kinds without their own function accept only metadata.name and metadata.namespace.
_SUPPORTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): _META + ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                           "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                           "status.podIPs", "status.nominatedNodeName"),
    ("", "nodes"): ("metadata.name", "spec.unschedulable"),
    ("", "events"): _META + _EVENT_FIELDS,
    ("", "namespaces"): ("metadata.name", "status.phase"),
    ("", "secrets"): _META + ("type",),
    ("", "replicationcontrollers"): _META + ("status.replicas",),
    ("", "services"): _META + ("spec.clusterIP", "spec.type"),
    ("apps", "replicasets"): _META + ("status.replicas",),
    ("batch", "jobs"): _META + ("status.successful",),
    ("certificates.k8s.io", "certificatesigningrequests"): ("metadata.name", "spec.signerName"),
}
# Old names upstream still accepts and rewrites.
_ALIASES: dict[tuple[str, str], dict[str, str]] = {
    ("", "pods"): {"spec.host": "spec.nodeName"},
}


def supported_fields(resource: ResourceInfo) -> tuple[str, ...]:
    return _SUPPORTED.get((resource.group, resource.plural), _META)


def unsupported_field_error(resource: ResourceInfo, field: str) -> errors.StatusError:
    return errors.bad_request(f"field label not supported: {field}")


def check_field_selector(resource: ResourceInfo, selector: FieldSelector) -> FieldSelector:
    """Reject fields the resource cannot be selected on and rewrite legacy aliases (``spec.host``)."""
    allowed = supported_fields(resource)
    aliases = _ALIASES.get((resource.group, resource.plural), {})
    out: list[FieldRequirement] = []
    for r in selector.requirements:
        name = aliases.get(r.field, r.field)
        if name not in allowed:
            raise unsupported_field_error(resource, r.field)
        out.append(FieldRequirement(name, r.operator, r.value) if name != r.field else r)
    return FieldSelector(tuple(out))


def _get(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def object_fields(resource: ResourceInfo, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of ``obj`` with their string values, as upstream GetAttrs computes them."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": _str(meta.get("name"))}
    if resource.namespaced:
        fields["metadata.namespace"] = _str(meta.get("namespace"))
    key = (resource.group, resource.plural)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if key == ("", "pods"):
        pod_ips = status.get("podIPs") or []
        first_ip = pod_ips[0].get("ip", "") if pod_ips and isinstance(pod_ips[0], Mapping) else ""
        fields.update({
            "spec.nodeName": _str(spec.get("nodeName")),
            "spec.restartPolicy": _str(spec.get("restartPolicy")),
            "spec.schedulerName": _str(spec.get("schedulerName")),
            "spec.serviceAccountName": _str(spec.get("serviceAccountName")),
            "spec.hostNetwork": _str(bool(spec.get("hostNetwork"))),
            "status.phase": _str(status.get("phase")),
            "status.podIP": _str(first_ip or status.get("podIP")),
            "status.podIPs": ",".join(_str(p.get("ip")) for p in pod_ips if isinstance(p, Mapping)),
            "status.nominatedNodeName": _str(status.get("nominatedNodeName")),
        })
    elif key == ("", "nodes"):
        fields["spec.unschedulable"] = _str(bool(spec.get("unschedulable")))
    elif key == ("", "events"):
        involved = obj.get("involvedObject") or {}
        for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
            fields[f"involvedObject.{name}"] = _str(involved.get(name))
        fields["reason"] = _str(obj.get("reason"))
        fields["reportingComponent"] = _str(obj.get("reportingComponent"))
        fields["source"] = _str((obj.get("source") or {}).get("component"))
        fields["type"] = _str(obj.get("type"))
    elif key == ("", "namespaces"):
        fields["status.phase"] = _str(status.get("phase"))
    elif key == ("", "secrets"):
        fields["type"] = _str(obj.get("type"))
    elif key in (("", "replicationcontrollers"), ("apps", "replicasets")):
        fields["status.replicas"] = str(int(status.get("replicas") or 0))
    elif key == ("batch", "jobs"):
        fields["status.successful"] = str(int(status.get("succeeded") or 0))
    elif key == ("", "services"):
        fields["spec.clusterIP"] = _str(spec.get("clusterIP"))
        fields["spec.type"] = _str(spec.get("type"))
    elif key == ("certificates.k8s.io", "certificatesigningrequests"):
        fields["spec.signerName"] = _str(spec.get("signerName"))
    return fields

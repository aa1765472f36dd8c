"""The OpenAPI documents: ``/openapi/v2`` (Swagger 2.0, JSON and gnostic protobuf) and ``/openapi/v3``.

Both are generated from the schema (``navarch.api.schema``, upstream's definitions in the
kubernetes-validate JSON-schema dialect) and the resource registry, then cached: they never change
while the process runs.

What clients rely on, and therefore what this module takes care to produce:

- kubectl 1.27/1.28 fetch ``/openapi/v2`` as a gnostic ``openapi_v2.Document`` protobuf and abort if
  kube-openapi cannot build its models from it, so every definition must parse: one type per schema
  (the dialect's ``["string", "null"]`` lists are collapsed), arrays with exactly one item schema, refs
  only to definitions that are present (we ship the closure of what the kinds reference).
- ``kubectl explain`` (v3) finds a resource's GVK on the ``get``/``post``/... operation of the paths with
  literal ``{namespace}``/``{name}`` placeholders, then the schema whose ``x-kubernetes-group-version-kind``
  array holds it.
- kubectl decides that the server validates fields itself when the PATCH operation of the kind carries an
  operation-level ``fieldValidation`` query parameter; and client-side apply picks strategic merge when
  the patch request body lists ``application/strategic-merge-patch+json``.
- Per-GV v3 documents are addressed by the uppercase hex SHA-512 of their body; kubectl caches them as
  immutable, so the hash is always computed from the exact bytes served.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

import orjson

from navarch.api.resources import REGISTRY, Registry, ResourceInfo, Subresource
from navarch.api.schema import SCHEMA_VERSION, Schema, load_schema

# kubectl asks for the "@" spelling; the response must carry the dotted one, because Go's mime parser
# (which client-go runs on the response Content-Type) rejects the "@" (kube-openapi answers the same way).
PROTOBUF_V2_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_V2 = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
JSON = "application/json"

_DIALECT_REF = "#/$defs/"
_V2_REF = "#/definitions/"
_V3_REF = "#/components/schemas/"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_DELETE_OPTIONS = _META + "DeleteOptions"
_STATUS = _META + "Status"
_PATCH = _META + "Patch"

PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)
_PRODUCES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
_CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})


# ---------------------------------------------------------------------------------------------
# Schema conversion from the kubernetes-validate dialect


def _ref_target(ref: str) -> str:
    return ref[len(_DIALECT_REF):] if ref.startswith(_DIALECT_REF) else ref.rsplit("/", 1)[-1]


def _convert(node: Any, prefix: str, v3: bool, prop_name: str = "") -> Any:
    """One schema node in upstream's shape: single types, our ref prefix, no added enums."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = prefix + _ref_target(value)
        elif key == "type":
            if isinstance(value, list):
                kept = [t for t in value if t != "null"]
                if kept:
                    out[key] = kept[0]
            else:
                out[key] = value
        elif key == "enum" and prop_name in ("apiVersion", "kind"):
            # kubernetes-validate pins apiVersion/kind to the definition's own; upstream does not.
            continue
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(sub, prefix, v3, name) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, prefix, v3)
        elif key in ("allOf", "oneOf", "anyOf") and isinstance(value, list):
            out[key] = [_convert(v, prefix, v3) for v in value]
        else:
            out[key] = value
    if v3 and "$ref" in out and len(out) > 1:
        # OpenAPI 3.0 ignores siblings of $ref; upstream wraps the ref so descriptions survive.
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _convert_definition(name: str, definition: dict[str, Any], v3: bool) -> dict[str, Any]:
    description = definition.get("description")
    head = {"description": description} if description else {}
    if name == _INT_OR_STRING:
        # v3 keeps the alternatives (kubectl explain then names the type IntOrString, as upstream);
        # Swagger 2.0 has no oneOf, and kube-openapi's v2 models read this format instead.
        if v3:
            return {**head, "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
        return {**head, "type": "string", "format": "int-or-string"}
    if name == _QUANTITY:
        if v3:
            return {**head, "oneOf": [{"type": "string"}, {"type": "number"}]}
        return {**head, "type": "string"}
    return _convert(definition, _V3_REF if v3 else _V2_REF, v3)


def _refs(node: Any) -> Iterable[str]:
    """Names of the definitions a dialect-shaped node refers to."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield _ref_target(value)
            elif key == "properties" and isinstance(value, dict):
                for sub in value.values():
                    yield from _refs(sub)
            elif isinstance(value, (dict, list)) and key not in ("enum", "default", "example",
                                                                   "x-kubernetes-group-version-kind"):
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def closure(schema: Schema, roots: Iterable[str]) -> list[str]:
    """Every definition reachable from ``roots``, sorted, so that no ref dangles."""
    seen: set[str] = set()
    todo = [r for r in roots if r in schema.definitions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(r for r in _refs(schema.definitions[name]) if r in schema.definitions and r not in seen)
    return sorted(seen)


# ---------------------------------------------------------------------------------------------
# Operations, described once and rendered in both dialects

_PARAMS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', then the output is pretty printed."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted. The only "
                         "valid value is All, which processes the request without persisting it."),
    "fieldManager": ("string", "A name associated with the actor or entity making these changes."),
    "fieldValidation": ("string", "How the server treats unknown or duplicate fields in the request "
                                  "body: Ignore, Warn (the default) or Strict."),
    "force": ("boolean", "Force is going to \"force\" Apply requests: it re-acquires conflicting fields "
                         "owned by other managers. It must be unset for non-apply patch requests."),
    "allowWatchBookmarks": ("boolean", "Requests watch events with type BOOKMARK."),
    "continue": ("string", "The continue token returned by a previous, limited list call."),
    "fieldSelector": ("string", "Restrict the returned objects by their fields."),
    "labelSelector": ("string", "Restrict the returned objects by their labels."),
    "limit": ("integer", "The maximum number of objects to return in one list call."),
    "resourceVersion": ("string", "Constrains which resource versions the request may be served from."),
    "resourceVersionMatch": ("string", "How resourceVersion is applied to list calls."),
    "sendInitialEvents": ("boolean", "Start a watch with synthetic events for the current state."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources and return them as a stream of "
                         "add, update, and remove notifications."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object should be deleted."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "propagationPolicy": ("string", "Whether and how garbage collection is performed: Orphan, "
                                    "Background or Foreground."),
    "container": ("string", "The container for which to stream logs or run the command."),
    "follow": ("boolean", "Follow the log stream of the pod."),
    "limitBytes": ("integer", "The number of bytes to read from the server before terminating the "
                              "log output."),
    "previous": ("boolean", "Return previous terminated container logs."),
    "sinceSeconds": ("integer", "A relative time in seconds before the current time from which to show "
                                "logs."),
    "tailLines": ("integer", "The number of lines from the end of the logs to show."),
    "timestamps": ("boolean", "Prefix every line of log output with an RFC3339 timestamp."),
    "command": ("string", "Command is the remote command to execute."),
    "stdin": ("boolean", "Redirect the standard input stream of the pod for this call."),
    "stdout": ("boolean", "Redirect the standard output stream of the pod for this call."),
    "stderr": ("boolean", "Redirect the standard error stream of the pod for this call."),
    "tty": ("boolean", "Allocate a terminal for this call."),
    "ports": ("integer", "List of ports to forward."),
    "path": ("string", "Path is the URL path to use for the proxied request."),
}
_LIST_QUERY = ("allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
               "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch")
_WRITE_QUERY = ("dryRun", "fieldManager", "fieldValidation")
_DELETE_QUERY = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_SUB_QUERY = {
    "log": ("container", "follow", "limitBytes", "previous", "sinceSeconds", "tailLines", "timestamps"),
    "exec": ("command", "container", "stderr", "stdin", "stdout", "tty"),
    "attach": ("container", "stderr", "stdin", "stdout", "tty"),
    "portforward": ("ports",),
    "proxy": ("path",),
}
_VERB_METHOD = {"get": "get", "update": "put", "patch": "patch", "create": "post", "delete": "delete"}
_METHOD_WORD = {"get": "read", "put": "replace", "patch": "patch", "post": "create", "delete": "delete"}


@dataclass
class _Operation:
    method: str
    action: str
    operation_id: str
    description: str
    gvk: dict[str, str]
    query: tuple[str, ...] = ()
    body: str | None = None
    # A definition name; None means a plain string body (logs, connect operations).
    response: str | None = None
    patch: bool = False


@dataclass
class _Path:
    url: str
    params: tuple[str, ...]  # path parameters, in URL order
    operations: list[_Operation] = field(default_factory=list)


def _group_prefix(group: str) -> str:
    if not group:
        return "core"
    parts = group.removesuffix(".k8s.io").split(".")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _tag(group: str, version: str) -> str:
    return f"{_group_prefix(group)}_{version}"


def _id_part(group: str, version: str) -> str:
    prefix = _group_prefix(group)
    return prefix[:1].upper() + prefix[1:] + version[:1].upper() + version[1:]


def _base_url(group: str, version: str) -> str:
    return f"/api/{version}" if not group else f"/apis/{group}/{version}"


class _PathBuilder:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def _definition(self, group: str, version: str, kind: str) -> str | None:
        return self.schema.definition_for(group, version, kind)

    def paths(self, resources: list[ResourceInfo]) -> list[_Path]:
        out: list[_Path] = []
        for r in sorted(resources, key=lambda r: r.plural):
            out.extend(self._resource(r))
        return out

    def _resource(self, r: ResourceInfo) -> list[_Path]:
        base = _base_url(r.group, r.version)
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        ident = _id_part(r.group, r.version)
        scoped = "Namespaced" if r.namespaced else ""
        if r.namespaced:
            collection = _Path(f"{base}/namespaces/{{namespace}}/{r.plural}", ("namespace",))
        else:
            collection = _Path(f"{base}/{r.plural}", ())
        item = _Path(collection.url + "/{name}", collection.params + ("name",))
        kind_def = self._definition(r.group, r.version, r.kind)
        list_def = self._definition(r.group, r.version, r.list_kind)
        verbs = set(r.verbs)
        name = f"{ident}{scoped}{r.kind}"
        if "list" in verbs:
            collection.operations.append(_Operation(
                "get", "list", f"list{name}", f"list or watch objects of kind {r.kind}", gvk,
                _LIST_QUERY, response=list_def))
        if "create" in verbs:
            collection.operations.append(_Operation(
                "post", "post", f"create{name}", f"create {_article(r.kind)}", gvk,
                _WRITE_QUERY, body=kind_def, response=kind_def))
        if "deletecollection" in verbs:
            collection.operations.append(_Operation(
                "delete", "deletecollection", f"deleteCollection{name}", f"delete collection of {r.kind}",
                gvk, _LIST_QUERY + _DELETE_QUERY, body=_DELETE_OPTIONS, response=_STATUS))
        if "get" in verbs:
            item.operations.append(_Operation(
                "get", "get", f"read{name}", f"read the specified {r.kind}", gvk, response=kind_def))
        if "update" in verbs:
            item.operations.append(_Operation(
                "put", "put", f"replace{name}", f"replace the specified {r.kind}", gvk,
                _WRITE_QUERY, body=kind_def, response=kind_def))
        if "patch" in verbs:
            item.operations.append(_Operation(
                "patch", "patch", f"patch{name}", f"partially update the specified {r.kind}", gvk,
                _WRITE_QUERY + ("force",), body=_PATCH, response=kind_def, patch=True))
        if "delete" in verbs:
            item.operations.append(_Operation(
                "delete", "delete", f"delete{name}", f"delete {_article(r.kind)}", gvk,
                _DELETE_QUERY, body=_DELETE_OPTIONS, response=_STATUS))
        paths = [p for p in (collection, item) if p.operations]
        if r.namespaced and "list" in verbs:
            paths.append(_Path(f"{base}/{r.plural}", (), [_Operation(
                "get", "list", f"list{ident}{r.kind}ForAllNamespaces",
                f"list or watch objects of kind {r.kind}", gvk, _LIST_QUERY, response=list_def)]))
        for sub in sorted(r.subresources, key=lambda s: s.name):
            paths.append(self._subresource(r, sub, item, name))
        return paths

    def _subresource(self, r: ResourceInfo, sub: Subresource, item: _Path, name: str) -> _Path:
        path = _Path(f"{item.url}/{sub.name}", item.params)
        gvk = {"group": sub.group, "version": sub.version, "kind": sub.kind}
        connect = sub.name in _CONNECT_SUBRESOURCES
        sub_def = None if connect or sub.name == "log" else self._definition(sub.group, sub.version, sub.kind)
        suffix = sub.name[:1].upper() + sub.name[1:]
        extra = _SUB_QUERY.get(sub.name, ())
        for verb in sorted(sub.verbs, key=lambda v: list(_VERB_METHOD).index(v) if v in _VERB_METHOD else 9):
            method = _VERB_METHOD.get(verb)
            if method is None:
                continue
            if connect:
                path.operations.append(_Operation(
                    method, "connect", f"connect{method.capitalize()}{name}{suffix}",
                    f"connect {method.upper()} requests to {sub.name} of {r.kind}", gvk, extra))
                continue
            query: tuple[str, ...] = extra
            body = None
            if method in ("put", "post"):
                query, body = _WRITE_QUERY, sub_def
            elif method == "patch":
                query, body = _WRITE_QUERY + ("force",), _PATCH
            path.operations.append(_Operation(
                method, method, f"{_METHOD_WORD[method]}{name}{suffix}",
                f"{_METHOD_WORD[method]} {sub.name} of the specified {r.kind}", gvk, query,
                body=body, response=sub_def, patch=method == "patch"))
        return path


def _article(kind: str) -> str:
    return ("an " if kind[:1] in "AEIOU" else "a ") + kind


def _virtual_paths(r: ResourceInfo, schema: Schema) -> list[_Path]:
    """Review kinds: one POST, answered and never stored."""
    base = _base_url(r.group, r.version)
    url = f"{base}/namespaces/{{namespace}}/{r.plural}" if r.namespaced else f"{base}/{r.plural}"
    params = ("namespace",) if r.namespaced else ()
    kind_def = schema.definition_for(r.group, r.version, r.kind)
    scoped = "Namespaced" if r.namespaced else ""
    op = _Operation("post", "post", f"create{_id_part(r.group, r.version)}{scoped}{r.kind}",
                    f"create {_article(r.kind)}", {"group": r.group, "version": r.version, "kind": r.kind},
                    _WRITE_QUERY, body=kind_def, response=kind_def)
    return [_Path(url, params, [op])]


def _operation_refs(paths: list[_Path]) -> set[str]:
    return {name for p in paths for op in p.operations for name in (op.body, op.response) if name}


# ---------------------------------------------------------------------------------------------
# Rendering


_PATH_PARAMS = {"name": "name of the resource",
                "namespace": "object name and auth scope, such as for teams and projects"}


def _v2_param(name: str, where: str) -> dict[str, Any]:
    if where == "path":
        return {"uniqueItems": True, "type": "string", "description": _PATH_PARAMS[name],
                "name": name, "in": "path", "required": True}
    kind, description = _PARAMS[name]
    return {"uniqueItems": True, "type": kind, "description": description, "name": name, "in": where}


def _v3_param(name: str, where: str) -> dict[str, Any]:
    if where == "path":
        return {"name": name, "in": "path", "description": _PATH_PARAMS[name], "required": True,
                "schema": {"type": "string", "uniqueItems": True}}
    kind, description = _PARAMS[name]
    return {"name": name, "in": where, "description": description,
            "schema": {"type": kind, "uniqueItems": True}}


def _v2_operation(op: _Operation, tag: str) -> dict[str, Any]:
    params: list[dict[str, Any]] = []
    if op.body:
        params.append({"name": "body", "in": "body", "required": op.method in ("post", "put", "patch"),
                       "schema": {"$ref": _V2_REF + op.body}})
    params.extend(_v2_param(q, "query") for q in op.query)
    response: dict[str, Any] = {"description": "OK",
                                "schema": {"$ref": _V2_REF + op.response} if op.response else {"type": "string"}}
    out: dict[str, Any] = {
        "description": op.description,
        "consumes": list(PATCH_TYPES) if op.patch else ["*/*"],
        "produces": list(_PRODUCES) if op.response else ["*/*"],
        "schemes": ["https"],
        "tags": [tag],
        "operationId": op.operation_id,
    }
    if params:
        out["parameters"] = params
    out["responses"] = {"200": response, "401": {"description": "Unauthorized"}}
    out["x-kubernetes-action"] = op.action
    out["x-kubernetes-group-version-kind"] = dict(op.gvk)
    return out


def _v3_operation(op: _Operation, tag: str) -> dict[str, Any]:
    out: dict[str, Any] = {"tags": [tag], "description": op.description, "operationId": op.operation_id}
    if op.query:
        out["parameters"] = [_v3_param(q, "query") for q in op.query]
    if op.body:
        schema = {"$ref": _V3_REF + op.body}
        types = PATCH_TYPES if op.patch else ("*/*",)
        out["requestBody"] = {"content": {t: {"schema": schema} for t in types},
                              "required": op.method in ("post", "put", "patch")}
    if op.response:
        content = {t: {"schema": {"$ref": _V3_REF + op.response}} for t in _PRODUCES}
    else:
        content = {"*/*": {"schema": {"type": "string"}}}
    out["responses"] = {"200": {"description": "OK", "content": content},
                        "401": {"description": "Unauthorized"}}
    out["x-kubernetes-action"] = op.action
    out["x-kubernetes-group-version-kind"] = dict(op.gvk)
    return out


def _path_item(p: _Path, tag: str, v3: bool) -> dict[str, Any]:
    param = _v3_param if v3 else _v2_param
    item: dict[str, Any] = {}
    for op in p.operations:
        item[op.method] = (_v3_operation if v3 else _v2_operation)(op, tag)
    item["parameters"] = [param(n, "path") for n in p.params] + [param("pretty", "query")]
    return item


# ---------------------------------------------------------------------------------------------
# gnostic openapi_v2.Document protobuf (field numbers from google/gnostic openapiv2/OpenAPIv2.proto)


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class _Message:
    """Append-only protobuf message writer; proto3 defaults are skipped unless ``force``d (oneofs)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def bytes_field(self, number: int, data: bytes, force: bool = False) -> "_Message":
        if data or force:
            self.parts += (_varint(number << 3 | 2), _varint(len(data)), data)
        return self

    def string(self, number: int, value: str | None) -> "_Message":
        if value:
            self.bytes_field(number, value.encode())
        return self

    def strings(self, number: int, values: Iterable[str]) -> "_Message":
        for v in values:
            self.bytes_field(number, str(v).encode(), force=True)
        return self

    def message(self, number: int, sub: "_Message | bytes | None") -> "_Message":
        # Sub-messages are written even when empty: their presence is meaningful (an empty
        # ``properties`` makes a struct, an empty ``items`` schema is still the one item schema).
        if sub is not None:
            self.bytes_field(number, sub if isinstance(sub, bytes) else sub.encode(), force=True)
        return self

    def boolean(self, number: int, value: Any, force: bool = False) -> "_Message":
        if value or force:
            self.parts += (_varint(number << 3), _varint(1 if value else 0))
        return self

    def int64(self, number: int, value: Any) -> "_Message":
        if value:
            self.parts += (_varint(number << 3), _varint(int(value)))
        return self

    def double(self, number: int, value: Any) -> "_Message":
        if value is not None:
            self.parts += (_varint(number << 3 | 1), struct.pack("<d", float(value)))
        return self

    def encode(self) -> bytes:
        return b"".join(self.parts)


def _pb_any(value: Any) -> _Message:
    # gnostic keeps free-form values as YAML text; JSON is valid YAML, which is what kube-openapi parses.
    return _Message().string(2, orjson.dumps(value).decode())


def _pb_extensions(msg: _Message, number: int, node: dict[str, Any]) -> None:
    for key, value in node.items():
        if key.startswith("x-"):
            msg.message(number, _Message().string(1, key).message(2, _pb_any(value)))


def _pb_schema(s: dict[str, Any]) -> _Message:
    m = _Message()
    m.string(1, s.get("$ref")).string(2, s.get("format")).string(3, s.get("title"))
    m.string(4, s.get("description"))
    if "default" in s:
        m.message(5, _pb_any(s["default"]))
    m.double(6, s.get("multipleOf")).double(7, s.get("maximum")).boolean(8, s.get("exclusiveMaximum"))
    m.double(9, s.get("minimum")).boolean(10, s.get("exclusiveMinimum"))
    m.int64(11, s.get("maxLength")).int64(12, s.get("minLength")).string(13, s.get("pattern"))
    m.int64(14, s.get("maxItems")).int64(15, s.get("minItems")).boolean(16, s.get("uniqueItems"))
    m.int64(17, s.get("maxProperties")).int64(18, s.get("minProperties"))
    m.strings(19, s.get("required") or ())
    for value in s.get("enum") or ():
        m.message(20, _pb_any(value))
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        m.message(21, _Message().message(1, _pb_schema(extra)))
    elif isinstance(extra, bool):
        m.message(21, _Message().boolean(2, extra, force=True))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        m.message(22, _Message().strings(1, types))
    if isinstance(s.get("items"), dict):
        m.message(23, _Message().message(1, _pb_schema(s["items"])))
    for sub in s.get("allOf") or ():
        m.message(24, _pb_schema(sub))
    if isinstance(s.get("properties"), dict):
        props = _Message()
        for name, sub in s["properties"].items():
            props.message(1, _Message().string(1, name).message(2, _pb_schema(sub)))
        m.message(25, props)
    m.string(26, s.get("discriminator")).boolean(27, s.get("readOnly"))
    if "example" in s:
        m.message(30, _pb_any(s["example"]))
    _pb_extensions(m, 31, s)
    return m


def _pb_parameter(p: dict[str, Any]) -> _Message:
    if p["in"] == "body":
        body = (_Message().string(1, p.get("description")).string(2, p["name"]).string(3, "body")
                .boolean(4, p.get("required")).message(5, _pb_schema(p["schema"])))
        parameter = _Message().message(1, body)
    elif p["in"] == "path":
        sub = (_Message().boolean(1, p.get("required")).string(2, "path").string(3, p.get("description"))
               .string(4, p["name"]).string(5, p.get("type")).string(6, p.get("format"))
               .boolean(19, p.get("uniqueItems")))
        parameter = _Message().message(2, _Message().message(4, sub))
    else:
        sub = (_Message().boolean(1, p.get("required")).string(2, "query").string(3, p.get("description"))
               .string(4, p["name"]).string(6, p.get("type")).string(7, p.get("format"))
               .boolean(20, p.get("uniqueItems")))
        parameter = _Message().message(2, _Message().message(3, sub))
    return _Message().message(1, parameter)


def _pb_operation(op: dict[str, Any]) -> _Message:
    m = _Message().strings(1, op.get("tags") or ()).string(2, op.get("summary"))
    m.string(3, op.get("description")).string(5, op.get("operationId"))
    m.strings(6, op.get("produces") or ()).strings(7, op.get("consumes") or ())
    for p in op.get("parameters") or ():
        m.message(8, _pb_parameter(p))
    responses = _Message()
    for code, resp in (op.get("responses") or {}).items():
        r = _Message().string(1, resp.get("description"))
        if "schema" in resp:
            r.message(2, _Message().message(1, _pb_schema(resp["schema"])))
        responses.message(1, _Message().string(1, code).message(2, _Message().message(1, r)))
    m.message(9, responses)
    m.strings(10, op.get("schemes") or ()).boolean(11, op.get("deprecated"))
    _pb_extensions(m, 13, op)
    return m


_PATH_ITEM_FIELDS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _pb_path_item(item: dict[str, Any]) -> _Message:
    m = _Message()
    for method, number in _PATH_ITEM_FIELDS.items():
        if method in item:
            m.message(number, _pb_operation(item[method]))
    for p in item.get("parameters") or ():
        m.message(9, _pb_parameter(p))
    _pb_extensions(m, 10, item)
    return m


def encode_v2_protobuf(doc: dict[str, Any]) -> bytes:
    """Our Swagger 2.0 JSON document as a gnostic ``openapi_v2.Document`` message."""
    m = _Message().string(1, doc.get("swagger"))
    info = doc.get("info") or {}
    m.message(2, _Message().string(1, info.get("title")).string(2, info.get("version")))
    m.strings(6, doc.get("consumes") or ()).strings(7, doc.get("produces") or ())
    paths = _Message()
    for url, item in (doc.get("paths") or {}).items():
        paths.message(2, _Message().string(1, url).message(2, _pb_path_item(item)))
    m.message(8, paths)
    definitions = _Message()
    for name, schema in (doc.get("definitions") or {}).items():
        definitions.message(1, _Message().string(1, name).message(2, _pb_schema(schema)))
    m.message(9, definitions)
    for requirement in doc.get("security") or ():
        req = _Message()
        for name, scopes in requirement.items():
            req.message(1, _Message().string(1, name).message(2, _Message().strings(1, scopes)))
        m.message(12, req)
    security_definitions = _Message()
    for name, sd in (doc.get("securityDefinitions") or {}).items():
        if sd.get("type") == "apiKey":
            key = (_Message().string(1, "apiKey").string(2, sd.get("name")).string(3, sd.get("in"))
                   .string(4, sd.get("description")))
            item = _Message().message(2, key)
            security_definitions.message(1, _Message().string(1, name).message(2, item))
    m.message(13, security_definitions)
    return m.encode()


# ---------------------------------------------------------------------------------------------
# The documents


def _hash(body: bytes) -> str:
    return hashlib.sha512(body).hexdigest().upper()


def _gv_key(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


class OpenAPI:
    """All OpenAPI documents for one registry and schema; each is built on first use and kept."""

    def __init__(self, registry: Registry = REGISTRY, schema: Schema | None = None,
                 version: str = SCHEMA_VERSION) -> None:
        self.registry = registry
        self.schema = schema or load_schema()
        self.version = version
        self._builder = _PathBuilder(self.schema)
        self._v2_json: bytes | None = None
        self._v2_protobuf: bytes | None = None
        self._v3: dict[str, tuple[bytes, str]] = {}
        self._v3_root: bytes | None = None

    def group_versions(self) -> list[tuple[str, str]]:
        return [(g, v) for g in self.registry.ordered_groups() for v in self.registry.groups[g]]

    def _gv_paths(self, group: str, version: str) -> list[_Path]:
        resources = self.registry.in_group_version(group, version)
        paths = self._builder.paths([r for r in resources if not r.virtual])
        for r in sorted((r for r in resources if r.virtual), key=lambda r: r.plural):
            paths.extend(_virtual_paths(r, self.schema))
        return paths

    def _roots(self, group: str, version: str, paths: list[_Path]) -> set[str]:
        roots = _operation_refs(paths)
        for r in self.registry.in_group_version(group, version):
            for kind in (r.kind, r.list_kind):
                name = self.schema.definition_for(r.group, r.version, kind)
                if name:
                    roots.add(name)
        return roots

    def _definitions(self, names: list[str], v3: bool) -> dict[str, Any]:
        return {n: _convert_definition(n, self.schema.definitions[n], v3) for n in names}

    def v2_document(self) -> dict[str, Any]:
        paths: dict[str, Any] = {}
        roots: set[str] = set()
        for group, version in self.group_versions():
            gv_paths = self._gv_paths(group, version)
            roots |= self._roots(group, version, gv_paths)
            tag = _tag(group, version)
            for p in gv_paths:
                paths[p.url] = _path_item(p, tag, v3=False)
        return {
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": self.version},
            "paths": paths,
            "definitions": self._definitions(closure(self.schema, roots), v3=False),
            "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication",
                                                    "type": "apiKey", "name": "authorization",
                                                    "in": "header"}},
            "security": [{"BearerToken": []}],
        }

    def v2_json(self) -> bytes:
        if self._v2_json is None:
            self._v2_json = orjson.dumps(self.v2_document())
        return self._v2_json

    def v2_protobuf(self) -> bytes:
        if self._v2_protobuf is None:
            self._v2_protobuf = encode_v2_protobuf(orjson.loads(self.v2_json()))
        return self._v2_protobuf

    def v3_document(self, group: str, version: str) -> dict[str, Any]:
        gv_paths = self._gv_paths(group, version)
        tag = _tag(group, version)
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": self.version},
            "paths": {p.url: _path_item(p, tag, v3=True) for p in gv_paths},
            "components": {
                "schemas": self._definitions(closure(self.schema, self._roots(group, version, gv_paths)), v3=True),
                "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication",
                                                    "name": "authorization", "in": "header"}},
            },
        }

    def v3_group_version(self, path: str) -> tuple[bytes, str] | None:
        """``(body, hash)`` of the document at ``api/v1``, ``apis/apps/v1`` (a leading ``/`` or
        ``/openapi/v3/`` and any query are tolerated), or None for an unknown group-version."""
        key = path.split("?", 1)[0].strip("/").removeprefix("openapi/v3/")
        cached = self._v3.get(key)
        if cached is not None:
            return cached
        for group, version in self.group_versions():
            if _gv_key(group, version) == key:
                body = orjson.dumps(self.v3_document(group, version))
                cached = self._v3[key] = (body, _hash(body))
                return cached
        return None

    def v3_root(self) -> bytes:
        if self._v3_root is None:
            paths: dict[str, Any] = {}
            for group, version in self.group_versions():
                key = _gv_key(group, version)
                found = self.v3_group_version(key)
                assert found is not None
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={found[1]}"}
            self._v3_root = orjson.dumps({"paths": paths})
        return self._v3_root

    def v2_for_accept(self, accept: str | None) -> tuple[str, bytes]:
        """``(content_type, body)`` for ``GET /openapi/v2``: the protobuf form when Accept names it
        (either spelling), JSON otherwise."""
        if accept and "com.github.proto-openapi.spec.v2" in accept:
            return PROTOBUF_V2, self.v2_protobuf()
        return JSON, self.v2_json()

    @staticmethod
    def etag(body: bytes) -> str:
        return '"' + _hash(body) + '"'


@functools.cache
def default_openapi() -> OpenAPI:
    """The process-wide documents over the built-in registry and schema."""
    return OpenAPI()


def openapi_v2_json() -> bytes:
    return default_openapi().v2_json()


def openapi_v2_protobuf() -> bytes:
    return default_openapi().v2_protobuf()


def openapi_v3_root() -> bytes:
    return default_openapi().v3_root()


def openapi_v3_gv(path: str) -> tuple[bytes, str] | None:
    return default_openapi().v3_group_version(path)

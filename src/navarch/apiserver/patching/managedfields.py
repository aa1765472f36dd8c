"""Field management: ``metadata.managedFields`` and server-side apply.

Follows upstream's structured-merge-diff (``typed``/``merge``/``fieldpath``) and apiserver's field manager
(``k8s.io/apimachinery/pkg/util/managedfields/internal``), over plain JSON dicts and the OpenAPI schema:

- A *path* is a tuple of FieldsV1 path elements: ``f:<name>`` (struct field or map key),
  ``k:<json>`` (list-map item by its key fields), ``v:<json>`` (set-list item). A *field set* is a set of
  paths; FieldsV1 is its trie, where ``.`` marks a node that is itself a member.
- Every non-apply write is an ``Update``: the fields it changed (added or modified, compared with the
  live object) move to the writer's entry and leave everyone else's; removed fields leave every entry.
  Nothing changed: nothing is touched, not even a timestamp, so a no-op write stays a no-op.
- ``Apply`` merges the configuration into the live object, makes the configuration's field set the
  applier's, removes fields the applier owned before and no longer applies (unless someone else owns
  them), and refuses, unless forced, to change a value another manager owns (409 with one
  ``FieldManagerConflict`` cause per field).

Lists are typed as upstream's schema converter types them: ``x-kubernetes-list-type`` map (keys from
``x-kubernetes-list-map-keys``) or set; otherwise a ``merge`` patch strategy with a merge key makes a
list-map; anything else is atomic. Maps with ``x-kubernetes-map-type: atomic`` and values the schema does
not describe (``deduced``: granular maps, atomic lists) follow upstream too.

Nothing here does I/O; callers pass the current time.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from navarch.api import errors
from navarch.api.schema import Schema

Path = tuple[str, ...]
FieldSet = frozenset[Path]
Json = dict[str, Any]

APPLY = "Apply"
UPDATE = "Update"
FIELDS_V1 = "FieldsV1"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# The manager upstream credits with an object's fields when it is first applied without managedFields.
BEFORE_FIRST_APPLY = "before-first-apply"
# Older Update entries beyond this many are merged into one (upstream: capmanagers.go).
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"
# kubectl's server-side apply manager, which upstream lets take over client-side-applied fields.
KUBECTL_SSA_MANAGER = "kubectl"

# Fields nobody owns (upstream: stripmeta.go). Exact paths: children of metadata stay owned.
_STRIPPED: FieldSet = frozenset({
    ("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name"),
    ("f:metadata", "f:namespace"), ("f:metadata", "f:creationTimestamp"), ("f:metadata", "f:selfLink"),
    ("f:metadata", "f:uid"), ("f:metadata", "f:clusterName"), ("f:metadata", "f:generation"),
    ("f:metadata", "f:managedFields"), ("f:metadata", "f:resourceVersion"),
})

# List-map key fields the API defaults; upstream's schema carries these defaults, the packaged one not.
_KEY_DEFAULTS = {"protocol": "TCP"}

_ABSENT: Any = object()


# ----------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    """One ``managedFields`` item. Identity is (manager, operation, subresource, and apiVersion for
    Update), as upstream's manager identifier: an applier keeps one entry whatever version it uses."""

    manager: str
    operation: str
    api_version: str
    fields: FieldSet
    time: str | None = None
    subresource: str = ""
    # The FieldsV1 this entry was decoded from, reused while ``fields`` is unchanged.
    v1: Json | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.manager, self.operation, self.api_version if self.operation == UPDATE else "",
                self.subresource)

    def describe(self) -> str:
        """How a conflict names this manager (upstream: printManager)."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text


Managed = dict[tuple[str, str, str, str], Entry]


def manager_name(field_manager: str, user_agent: str) -> str:
    """The ``fieldManager`` parameter, else the user agent's product (``kubectl/v1.33 (...)`` -> ``kubectl``),
    printable characters only and at most 128 of them, as upstream's managerOrUserAgent."""
    if field_manager:
        return field_manager
    head = (user_agent or "").split("/", 1)[0]
    return "".join(c for c in head if c.isprintable())[:128] or "unknown"


def decode(items: Any) -> Managed:
    """``metadata.managedFields`` as entries; ValueError or TypeError when they are not valid."""
    managed: Managed = {}
    if items is None:
        return managed
    if not isinstance(items, list):
        raise TypeError("managedFields must be a list")
    for raw in items:
        if not isinstance(raw, dict):
            raise TypeError("managedFields entries must be objects")
        op = raw.get("operation") or ""
        ftype = raw.get("fieldsType") or ""
        if op not in (APPLY, UPDATE, ""):
            raise ValueError(f"invalid operation {op!r}")
        if ftype not in (FIELDS_V1, ""):
            raise ValueError(f"invalid fieldsType {ftype!r}")
        fields = fields_from_v1(raw.get("fieldsV1") or {})
        entry = Entry(manager=str(raw.get("manager") or ""), operation=op,
                      api_version=str(raw.get("apiVersion") or ""), fields=fields,
                      time=raw.get("time"), subresource=str(raw.get("subresource") or ""),
                      v1=raw.get("fieldsV1") or {})
        if entry.key in managed:
            raise ValueError(f"duplicate entry for manager {entry.manager!r}")
        managed[entry.key] = entry
    return managed


_OP_ORDER = {APPLY: 0, UPDATE: 1}


def encode(managed: Managed) -> list[Json]:
    """Entries in upstream's order: Apply before Update, then oldest first, then by manager."""
    def order(e: Entry) -> tuple[Any, ...]:
        return (_OP_ORDER.get(e.operation, 2), e.operation, e.time or "", e.manager, e.api_version, e.subresource)

    out: list[Json] = []
    for e in sorted(managed.values(), key=order):
        if not e.fields:
            continue
        item: Json = {"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version}
        if e.time:
            item["time"] = e.time
        item["fieldsType"] = FIELDS_V1
        item["fieldsV1"] = e.v1 if e.v1 is not None else fields_to_v1(e.fields)
        if e.subresource:
            item["subresource"] = e.subresource
        out.append(item)
    return out


# ----------------------------------------------------------------------------- FieldsV1


def fields_to_v1(fields: Iterable[Path]) -> Json:
    """A FieldsV1 tree (a fresh one the caller may keep). A manager's set is usually the one its last
    write to a sibling object had (every kubelet status write of a one-container pod owns the same
    fields), so the sorted tree is remembered by set and handed out as a decoded copy."""
    key = fields if isinstance(fields, frozenset) else frozenset(fields)
    return orjson.loads(_fields_v1_text(key))


@functools.lru_cache(maxsize=1024)
def _fields_v1_text(fields: frozenset[Path]) -> bytes:
    return orjson.dumps(_build_v1(fields))


def _build_v1(fields: Iterable[Path]) -> Json:
    # One pass builds the tree; members are marked with a key no path element can be (not a str).
    root: Json = {}
    for path in fields:
        node = root
        for pe in path:
            child = node.get(pe)
            if child is None:
                child = node[pe] = {}
            node = child
        node[_MEMBER] = True
    return _sorted_v1(root)


_MEMBER: Any = 0


def _sorted_v1(node: Json) -> Json:
    member = node.pop(_MEMBER, False)
    out: Json = {".": {}} if member and node else {}
    for pe in sorted(node, key=_pe_order):
        out[pe] = _sorted_v1(node[pe])
    return out


@functools.lru_cache(maxsize=8192)
def _pe_order(pe: str) -> tuple[int, Any]:
    kind, _, rest = pe.partition(":")
    rank = {"f": 0, "k": 1, "v": 2, "i": 3}.get(kind, 4)
    if kind == "i" and rest.isdigit():
        return (rank, int(rest))
    return (rank, rest)


def fields_from_v1(v1: Any) -> FieldSet:
    """The paths a FieldsV1 tree names. Every write decodes the stored object's entries again, and
    they rarely change between writes: decoded sets are remembered by the tree's JSON text."""
    try:
        text = orjson.dumps(v1)
    except TypeError:
        return _fields_from_v1(v1)
    return _fields_from_v1_text(text)


# Objects made from one template share their trees (all pods of a Deployment): a small cache does.
@functools.lru_cache(maxsize=1024)
def _fields_from_v1_text(text: bytes) -> FieldSet:
    return _fields_from_v1(orjson.loads(text))


def _fields_from_v1(v1: Any) -> FieldSet:
    out: set[Path] = set()

    def walk(node: Any, path: Path) -> None:
        if not isinstance(node, dict):
            raise TypeError("FieldsV1 must be a tree of objects")
        if not node and path:
            out.add(path)
        for key, child in node.items():
            if key == ".":
                if path:
                    out.add(path)
                continue
            walk(child, path + (_canonical_pe(key),))

    walk(v1, ())
    return frozenset(out)


@functools.lru_cache(maxsize=8192)
def _canonical_pe(pe: str) -> str:
    kind, sep, rest = pe.partition(":")
    if not sep or kind not in ("f", "k", "v", "i"):
        raise ValueError(f"invalid path element {pe!r}")
    if kind in ("k", "v"):
        try:
            return f"{kind}:{_dump(json.loads(rest))}"
        except ValueError:
            raise ValueError(f"invalid path element {pe!r}") from None
    return pe


def _dump(value: Any) -> str:
    # Compact, keys sorted, UTF-8 unescaped: the canonical text of a key or value path element.
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # integers past 64 bits
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def path_string(path: Path) -> str:
    """A path as upstream prints it in conflicts: ``.spec.containers[name="c"].image``."""
    out = []
    for pe in path:
        kind, _, rest = pe.partition(":")
        if kind == "f":
            out.append("." + rest)
        elif kind == "k":
            keys = json.loads(rest)
            out.append("[" + ",".join(f"{k}={_show(v)}" for k, v in sorted(keys.items())) + "]")
        elif kind == "v":
            out.append(f"[={_show(json.loads(rest))}]")
        else:
            out.append(f"[{rest}]")
    return "".join(out)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) or value is None:
        return json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _dump(value)


# ----------------------------------------------------------------------------- the schema, typed


@dataclass(frozen=True, eq=False)
class _Shape:
    """How a value is tracked: ``leaf`` (scalar, atomic list or map), ``struct`` (named fields),
    ``map`` (granular map), ``deduced`` (no schema: granular map), ``listmap`` or ``set``."""

    kind: str
    keys: tuple[str, ...] = ()
    items: Any = None  # schema node of list items / map values
    node: Any = None  # the resolved object schema of a struct

    def child(self, schema: Schema, name: str) -> tuple[Any, bool]:
        """The schema of field/key ``name`` and whether it is a declared (named) struct field."""
        if self.kind == "struct":
            props = self.node.get("properties") or {}
            if name in props:
                return props[name], True
            extra = self.node.get("additionalProperties")
            return (extra if isinstance(extra, dict) else None), False
        if self.kind == "map":
            return self.items, False
        return None, False


_LEAF = _Shape("leaf")
_DEDUCED = _Shape("deduced")


class _Types:
    """Shapes of schema nodes, memoised: classifying the schema is most of a write's field tracking."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self._memo: dict[int, _Shape] = {}
        # Created objects' FieldsV1 by (root node, ignored prefixes, skeleton): see _skeleton.
        self.created_memo: dict[tuple[Any, ...], bytes] = {}

    def shape(self, node: Any, value: Any) -> _Shape:
        """The shape of ``value`` at schema ``node``; a value of another JSON type than the schema says
        is a leaf (it is replaced whole), and a value with no schema is deduced from its type."""
        s = self.schema_shape(node)
        if s.kind in ("struct", "map", "deduced"):
            if isinstance(value, dict):
                return s
            return _LEAF
        if s.kind in ("listmap", "set"):
            return s if isinstance(value, list) else _LEAF
        if node is None and isinstance(value, dict):
            return _DEDUCED
        return _LEAF

    def schema_shape(self, node: Any) -> _Shape:
        if node is None:
            return _DEDUCED
        memo = self._memo.get(id(node))
        if memo is None:
            memo = self._memo[id(node)] = self._classify(node)
        return memo

    def _classify(self, node: dict[str, Any]) -> _Shape:
        resolved = self.schema.resolve(node)

        def ext(name: str) -> Any:
            return node.get(name, resolved.get(name))

        if ext("x-kubernetes-preserve-unknown-fields") or ext("x-kubernetes-embedded-resource"):
            return _DEDUCED
        if ext("x-kubernetes-int-or-string"):
            return _LEAF
        types = Schema.types(resolved)
        if "array" in types:
            items = resolved.get("items")
            list_type = ext("x-kubernetes-list-type")
            if list_type == "map":
                return _Shape("listmap", keys=tuple(ext("x-kubernetes-list-map-keys") or ()), items=items)
            if list_type == "set":
                return _Shape("set", items=items)
            if list_type is None and "merge" in str(ext("x-kubernetes-patch-strategy") or "").split(","):
                key = ext("x-kubernetes-patch-merge-key")
                if key:
                    return _Shape("listmap", keys=(key,), items=items)
            return _LEAF
        if "object" in types or "properties" in resolved:
            if ext("x-kubernetes-map-type") == "atomic":
                return _LEAF
            if resolved.get("properties"):
                return _Shape("struct", node=resolved)
            extra = resolved.get("additionalProperties")
            if isinstance(extra, dict):
                return _Shape("map", items=extra)
            return _DEDUCED
        return _LEAF

    def item_pe(self, shape: _Shape, item: Any) -> str:
        if shape.kind == "listmap" and isinstance(item, dict):
            key = {}
            for k in shape.keys:
                if k in item and item[k] is not None:
                    key[k] = item[k]
                elif k in _KEY_DEFAULTS:
                    key[k] = _KEY_DEFAULTS[k]
            return "k:" + _dump(key)
        return "v:" + _dump(item)

    def node_at(self, root: Any, path: Path) -> tuple[Any, bool]:
        """The schema node at ``path`` and whether its last element is a named struct field."""
        node, named = root, False
        for pe in path:
            s = self.schema_shape(node)
            if pe.startswith("f:"):
                node, named = s.child(self.schema, pe[2:])
            elif s.kind in ("listmap", "set"):
                node, named = s.items, False
            else:
                node, named = None, False
        return node, named


CREATED_MEMO_SIZE = 512  # distinct object skeletons


_SCALAR = 0


def _skeleton(value: Any) -> Any:
    """What of a created object decides the fields it sets: the keys of its objects, all the way
    down (null members set nothing), and lists whole (their items are identified by content: merge
    keys, set values). Any scalar stands for any other: every scalar is a leaf, whatever the schema
    expects there."""
    if isinstance(value, dict):
        return tuple((k, _skeleton(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        try:
            return orjson.dumps(value)
        except TypeError:  # not JSON orjson can write (an integer past 64 bits): no memo key
            return object()
    return _SCALAR


@functools.lru_cache(maxsize=4)
def _types_for(schema: Schema) -> _Types:
    # One memo per (process-wide, never changing) schema, shared by every request.
    return _Types(schema)


# ----------------------------------------------------------------------------- the typed walks


@dataclass
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def without(self, prefixes: tuple[Path, ...]) -> Comparison:
        if not prefixes:
            return self
        return Comparison(_drop_under(self.added, prefixes), _drop_under(self.modified, prefixes),
                          _drop_under(self.removed, prefixes))


def _member(sub: Json) -> Json:
    """A member path's node: "." first when it also has children."""
    return {".": {}, **sub} if sub else sub


def _drop_under(paths: Iterable[Path], prefixes: tuple[Path, ...]) -> set[Path]:
    if not prefixes:
        return set(paths)
    if all(len(q) == 1 for q in prefixes):
        tops = {q[0] for q in prefixes}
        return {p for p in paths if not p or p[0] not in tops}
    return {p for p in paths if not any(p[:len(q)] == q for q in prefixes)}


def _same(a: Any, b: Any) -> bool:
    """Equality as Go compares decoded JSON: 1, 1.0 and true differ."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


class _Walker:
    def __init__(self, types: _Types, root: Any) -> None:
        self.types = types
        self.root = root

    # ToFieldSet
    def field_set(self, obj: Any) -> set[Path]:
        out: set[Path] = set()
        self._to_set(obj, self.root, (), out)
        return out

    def _to_set(self, value: Any, node: Any, path: Path, out: set[Path]) -> None:
        shape = self.types.shape(node, value)
        if shape.kind == "leaf":
            if path:
                out.add(path)
            return
        if shape.kind in ("listmap", "set"):
            for item in value:
                if item is None:
                    continue
                p = path + (self.types.item_pe(shape, item),)
                self._to_set(item, shape.items, p, out)
                out.add(p)
            return
        for key, child in value.items():
            p = path + ("f:" + key,)
            child_node, named = shape.child(self.types.schema, key)
            if child is None:
                out.add(p)
                continue
            self._to_set(child, child_node, p, out)
            if not named or (isinstance(child, dict) and not child):
                out.add(p)

    # Compare with nothing: every path under ``value``, which only one side has (``compare``'s
    # added, or removed, subtrees; a create), in one walk of ``value``.
    def added(self, value: Any, node: Any, path: Path, out: set[Path]) -> None:
        shape = self.types.shape(node, value)
        kind = shape.kind
        if kind == "leaf":
            if path:
                out.add(path)
            return
        if kind in ("listmap", "set"):
            items_node = shape.items
            for pe, item in self._index(shape, value).items():
                self.added(item, items_node, path + (pe,), out)
        else:
            schema = self.types.schema
            for key, child in value.items():
                if child is not None:
                    self.added(child, shape.child(schema, key)[0], path + ("f:" + key,), out)
        if path:
            out.add(path)

    # The FieldsV1 tree of ``added``'s paths under ``value``, built directly (sorted, with "."
    # members), or None when a list holds two items with one key (then the path sets must merge).
    def added_v1(self, value: Any, node: Any) -> Json | None:
        shape = self.types.shape(node, value)
        kind = shape.kind
        if kind == "leaf":
            return {}
        children: dict[str, Json] = {}
        if kind in ("listmap", "set"):
            item_pe, items_node = self.types.item_pe, shape.items
            count = 0
            for item in value:
                if item is not None:
                    count += 1
                    sub = self.added_v1(item, items_node)
                    if sub is None:
                        return None
                    children[item_pe(shape, item)] = _member(sub)
            if len(children) != count:
                return None
        else:
            schema = self.types.schema
            for key, child in value.items():
                if child is not None:
                    sub = self.added_v1(child, shape.child(schema, key)[0])
                    if sub is None:
                        return None
                    children["f:" + key] = _member(sub)
        return {pe: children[pe] for pe in sorted(children, key=_pe_order)}

    # Compare
    def compare(self, old: Any, new: Any) -> Comparison:
        acc = Comparison()
        self._cmp(old, new, self.root, (), acc)
        return acc

    def _cmp(self, old: Any, new: Any, node: Any, path: Path, acc: Comparison) -> None:
        if old is None:
            old = _ABSENT
        if new is None:
            new = _ABSENT
        if old is _ABSENT:
            if new is not _ABSENT:
                self.added(new, node, path, acc.added)
            return
        if new is _ABSENT:
            self.added(old, node, path, acc.removed)
            return
        shape = self.types.shape(node, new)
        if self.types.shape(node, old) is not shape:
            shape = _LEAF  # a value that changed its JSON type is replaced whole
        elif shape.kind != "leaf" and old == new:
            # Equal subtrees hold no change (Python's == conflates 1, 1.0 and true, as does the
            # handlers' no-op check); skipping them keeps tracking cheap for small writes.
            return
        if shape.kind == "leaf":
            if path and not _same(old, new):
                acc.modified.add(path)
            return
        if shape.kind in ("listmap", "set"):
            olds = self._index(shape, old)
            news = self._index(shape, new)
            for pe in {**olds, **news}:
                self._cmp(olds.get(pe, _ABSENT), news.get(pe, _ABSENT), shape.items, path + (pe,), acc)
        else:
            schema = self.types.schema
            for key in {**old, **new}:
                child_node, _ = shape.child(schema, key)
                self._cmp(old.get(key, _ABSENT), new.get(key, _ABSENT), child_node, path + ("f:" + key,), acc)

    def _index(self, shape: _Shape, items: Any) -> dict[str, Any]:
        if items is _ABSENT:
            return {}
        out: dict[str, Any] = {}
        for item in items:
            if item is not None:
                out[self.types.item_pe(shape, item)] = item
        return out

    # Merge
    def merge(self, live: Any, config: Any) -> Any:
        return self._merge(live, config, self.root)

    def _merge(self, live: Any, config: Any, node: Any) -> Any:
        if live is None or live is _ABSENT:
            return _without_nulls(config)
        shape = self.types.shape(node, config)
        if shape is not self.types.shape(node, live) or shape.kind == "leaf":
            return _without_nulls(config)
        if shape.kind in ("listmap", "set"):
            return self._merge_list(live, config, shape)
        out = dict(live)
        for key, value in config.items():
            if value is None:
                continue
            child_node, _ = shape.child(self.types.schema, key)
            out[key] = self._merge(live.get(key, _ABSENT), value, child_node)
        return out

    def _merge_list(self, live: list[Any], config: list[Any], shape: _Shape) -> list[Any]:
        """Config items in config order; live-only items keep their place between them (upstream's
        visitListItems)."""
        config = [c for c in config if c is not None]
        live_pes = [self.types.item_pe(shape, x) if x is not None else None for x in live]
        cfg_pes = [self.types.item_pe(shape, x) for x in config]
        live_by_pe = {pe: x for pe, x in zip(live_pes, live) if pe is not None}
        in_config = set(cfg_pes)
        out: list[Any] = []
        done: set[str] = set()
        ci = 0

        def take_config_until(stop: str | None) -> None:
            nonlocal ci
            while ci < len(config):
                pe, item = cfg_pes[ci], config[ci]
                ci += 1
                if pe in done:
                    continue
                done.add(pe)
                if shape.kind == "set":
                    out.append(_without_nulls(item))
                else:
                    out.append(self._merge(live_by_pe.get(pe, _ABSENT), item, shape.items))
                if pe == stop:
                    return

        for pe, item in zip(live_pes, live):
            if pe is None:
                continue
            if pe not in in_config:
                out.append(item)
            elif pe not in done:
                take_config_until(pe)
        take_config_until(None)
        return out

    # RemoveItems
    def remove(self, obj: Json, paths: set[Path]) -> Json:
        if not paths:
            return obj
        prefixes = {p[:i] for p in paths for i in range(1, len(p))}
        result: Json = self._remove(obj, self.root, (), paths, prefixes)
        return result

    def _remove(self, value: Any, node: Any, path: Path, paths: set[Path], prefixes: set[Path]) -> Any:
        shape = self.types.shape(node, value)
        if shape.kind == "leaf":
            return value
        if shape.kind in ("listmap", "set"):
            kept = []
            for item in value:
                if item is None:
                    continue
                p = path + (self.types.item_pe(shape, item),)
                if p in paths:
                    continue
                kept.append(self._remove(item, shape.items, p, paths, prefixes) if p in prefixes else item)
            return kept
        out = {}
        for key, child in value.items():
            p = path + ("f:" + key,)
            if p in paths:
                continue
            if p in prefixes:
                child_node, _ = shape.child(self.types.schema, key)
                child = self._remove(child, child_node, p, paths, prefixes)
            out[key] = child
        return out

    # EnsureNamedFieldsAreMembers
    def with_named(self, paths: Iterable[Path]) -> set[Path]:
        out = set(paths)
        seen: dict[Path, bool] = {}
        for p in list(out):
            for i in range(1, len(p)):
                prefix = p[:i]
                named = seen.get(prefix)
                if named is None:
                    named = seen[prefix] = self.types.node_at(self.root, prefix)[1]
                if named:
                    out.add(prefix)
        return out


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _without_managed_fields(obj: Json | None) -> Json:
    if not obj:
        return {}
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        out["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return out


# ----------------------------------------------------------------------------- conflicts


@dataclass(frozen=True)
class Conflict:
    manager: Entry
    path: Path


def conflict_error(conflicts: list[Conflict]) -> errors.StatusError:
    """Upstream's NewConflictError: 409 Conflict, one FieldManagerConflict cause per field."""
    causes = [errors.Cause("FieldManagerConflict", f"conflict with {c.manager.describe()}", path_string(c.path))
              for c in conflicts]
    if len(conflicts) == 1:
        c = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {c.manager.describe()}: {path_string(c.path)}"
    else:
        lines: list[str] = []
        by_manager: dict[str, list[Conflict]] = {}
        for c in conflicts:
            by_manager.setdefault(c.manager.describe(), []).append(c)
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {path_string(c.path)}" for c in by_manager[name])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.StatusError(409, "Conflict", message, causes=causes)


# ----------------------------------------------------------------------------- the field manager


class FieldManager:
    """Field management for one kind, as written through one endpoint.

    ``ignored`` are the subtrees a write through this endpoint cannot change and so never owns
    (upstream's reset fields: ``status`` for a kind's main resource when it has a status subresource).
    """

    def __init__(self, schema: Schema, definition: str, api_version: str, *, subresource: str = "",
                 ignored: tuple[Path, ...] = ()) -> None:
        self.types = _types_for(schema)
        self.root = schema.definitions.get(definition)
        self.walker = _Walker(self.types, self.root)
        self.api_version = api_version
        self.subresource = subresource
        self.ignored = ignored
        self._zero_keys: tuple[str, ...] | None = None

    # sets

    def field_set(self, obj: Json) -> set[Path]:
        """The fields ``obj`` sets (upstream: TypedValue.ToFieldSet)."""
        return self.walker.field_set(obj)

    def compare(self, old: Json | None, new: Json) -> Comparison:
        return self.walker.compare(old if old is not None else _ABSENT, new)

    def _zero(self) -> Json:
        """The empty object upstream compares a create with: Go's zero value keeps non-pointer structs."""
        if self._zero_keys is None:
            self._zero_keys = tuple(self._make_zero())
        return {k: {} for k in self._zero_keys}

    def _make_zero(self) -> Json:
        zero: Json = {"metadata": {}}
        props = (self.types.schema.resolve(self.root) or {}).get("properties") or {}
        for name in ("spec", "status"):
            if name in props and self.types.schema_shape(props[name]).kind == "struct":
                zero[name] = {}
        return zero

    def _created(self, new: Json) -> set[Path]:
        """The fields a create sets: ``compare(self._zero(), new)``'s added and modified, walked once.
        The zero object's structs (metadata, spec, status) are there already, so their own paths
        are not added; only what is under them."""
        zero = self._zero()
        out: set[Path] = set()
        walker = self.walker
        root_shape = self.types.shape(walker.root, new)
        for key, value in new.items():
            if key == "metadata" and isinstance(value, dict) and "managedFields" in value:
                value = {k: v for k, v in value.items() if k != "managedFields"}
            if key in zero:
                if not isinstance(value, dict):
                    cmp = walker.compare(zero, _without_managed_fields(new))
                    return cmp.added | cmp.modified
                node, _ = root_shape.child(self.types.schema, key)
                shape = self.types.shape(node, value)
                schema = self.types.schema
                for child_key, child in value.items():
                    if child is not None:
                        walker.added(child, shape.child(schema, child_key)[0], ("f:" + key, "f:" + child_key), out)
            elif value is not None:
                walker.added(value, root_shape.child(self.types.schema, key)[0], ("f:" + key,), out)
        return out

    def _created_v1(self, new: Json) -> Json | None:
        """``fields_to_v1(self._owned(self._created(new)))`` without the path sets, for the usual
        create (ignored prefixes of one element); None to take the path-set way.

        Remembered by the object's skeleton: creates of one shape (a component's Events, the pods of
        one template) own the same fields whatever their names, messages and times."""
        if any(len(q) != 1 for q in self.ignored):
            return None
        memo = self.types.created_memo
        key = (id(self.walker.root), self.ignored, _skeleton(new))
        hit = memo.get(key)
        if hit is not None:
            return orjson.loads(hit)
        v1 = self._created_v1_walk(new)
        if v1 is not None:
            if len(memo) >= CREATED_MEMO_SIZE:
                memo.clear()
            memo[key] = orjson.dumps(v1)
        return v1

    def _created_v1_walk(self, new: Json) -> Json | None:
        ignored = {q[0] for q in self.ignored}
        zero = self._zero()
        walker, schema = self.walker, self.types.schema
        root_shape = self.types.shape(walker.root, new)
        out: Json = {}
        for key, value in new.items():
            pe = "f:" + key
            if value is None or pe in ignored or (pe,) in _STRIPPED and key not in zero:
                continue
            node = root_shape.child(schema, key)[0]
            if key in zero:
                if not isinstance(value, dict):
                    return None
                if key == "metadata":
                    value = {k: v for k, v in value.items() if ("f:metadata", "f:" + k) not in _STRIPPED}
                sub = walker.added_v1(value, node)
                if sub is None:
                    return None
                if sub:
                    out[pe] = sub
            else:
                sub = walker.added_v1(value, node)
                if sub is None:
                    return None
                out[pe] = _member(sub)
        return {pe: out[pe] for pe in sorted(out, key=_pe_order)}

    def _owned(self, changed: Iterable[Path]) -> FieldSet:
        return frozenset(p for p in _drop_under(changed, self.ignored) if p not in _STRIPPED)

    # Update

    def update(self, live: Json | None, new: Json, manager: str, now: str) -> list[Json] | None:
        """The managedFields ``new`` gets when ``manager`` writes it over ``live`` (None for a create).

        Entries come from ``new`` when it carries any (a client may rewrite them; a subresource write
        may not), else from ``live``. Returns None when the object is not tracked: an update of an
        object that has no managedFields stays untracked, as upstream.
        """
        provided = (new.get("metadata") or {}).get("managedFields")
        source = provided if (provided and not self.subresource) else None
        managed: Managed
        try:
            managed = decode(source) if source is not None else {}
        except (ValueError, TypeError):
            source, managed = None, {}
        if source is None:
            source = ((live or {}).get("metadata") or {}).get("managedFields")
            try:
                managed = decode(source)
            except (ValueError, TypeError):
                source, managed = None, {}
        if live is not None and not managed:
            return None
        if live is None and not managed:
            v1 = self._created_v1(new)
            if v1 is not None:
                if not v1:
                    return []
                item: Json = {"manager": manager, "operation": UPDATE, "apiVersion": self.api_version}
                if now:
                    item["time"] = now
                item["fieldsType"] = FIELDS_V1
                item["fieldsV1"] = v1
                if self.subresource:
                    item["subresource"] = self.subresource
                return [item]
            owned = self._owned(self._created(new))
            if not owned:
                return []
            return encode({("", ""): Entry(manager, UPDATE, self.api_version, owned, now, self.subresource)})
        # An entry with no fields (``[{}]`` from a client) is how managedFields are reset.
        mutated = False
        for key in [k for k, e in managed.items() if not e.fields]:
            del managed[key]
            mutated = True
        old = _without_managed_fields(live) if live is not None else self._zero()
        cmp = self.walker.compare(old, _without_managed_fields(new)).without(self.ignored)
        changed = cmp.added | cmp.modified
        touched = changed | cmp.removed
        for key, entry in list(managed.items()):
            kept = entry.fields - touched
            if kept != entry.fields:
                mutated = True
                if kept:
                    managed[key] = replace(entry, fields=kept, v1=None)
                else:
                    del managed[key]
        owned = self._owned(changed)
        if owned:
            mutated = True
            mine = Entry(manager, UPDATE, self.api_version, owned, now, self.subresource)
            previous = managed.get(mine.key)
            if previous is not None:
                mine = replace(mine, fields=owned | previous.fields, v1=None)
            managed[mine.key] = mine
        if not mutated:
            return source if isinstance(source, list) else []
        return encode(_cap_update_managers(managed))

    # Apply

    def apply(self, live: Json | None, config: Json, manager: str, *, force: bool, now: str) -> Json:
        """``config`` applied by ``manager`` over ``live`` (None: the object does not exist yet).

        Returns the new object with its managedFields; raises the 409 conflict error unless ``force``.
        The caller checks identity (kind, apiVersion, name) and validates the result.
        """
        meta = config.get("metadata")
        if isinstance(meta, dict) and meta.get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        live_clean = _without_managed_fields(live) if live is not None else {}
        managed: Managed = {}
        if live is not None:
            try:
                managed = decode((live.get("metadata") or {}).get("managedFields"))
            except (ValueError, TypeError):
                managed = {}
            if not managed:
                # upstream's skipNonAppliedManager: whoever wrote an untracked object owns what it has
                first = self._owned(self.walker.compare(self._zero(), live_clean).added)
                if first:
                    e = Entry(BEFORE_FIRST_APPLY, UPDATE, self.api_version, first, None, "")
                    managed[e.key] = e
        try:
            return self._apply(live_clean, config, managed, manager, force=force, now=now)
        except _Conflicts as exc:
            if manager != KUBECTL_SSA_MANAGER or force:
                raise conflict_error(exc.conflicts) from None
            allowed = self._allowed_by_last_applied(live_clean)
            rest = [c for c in exc.conflicts if c.path not in allowed]
            if rest:
                raise conflict_error(rest) from None
            return self._apply(live_clean, config, managed, manager, force=True, now=now)

    def _apply(self, live: Json, config: Json, managed: Managed, manager: str, *, force: bool, now: str) -> Json:
        w = self.walker
        merged = w.merge(live, config) if live else _without_nulls(config)
        me = Entry(manager, APPLY, self.api_version,
                   frozenset(_drop_under(w.field_set(config), self.ignored)), None, self.subresource)
        previous = managed.get(me.key)
        managed = dict(managed)
        managed[me.key] = me
        if previous is not None and previous.fields:
            merged = self._prune(merged, managed, previous.fields)

        cmp = w.compare(live if live else _ABSENT, merged).without(self.ignored)
        changed = cmp.added | cmp.modified
        conflicts: list[Conflict] = []
        for key, entry in sorted(managed.items(), key=lambda kv: kv[0]):
            if key == me.key:
                continue
            for path in sorted(entry.fields & changed, key=_path_order):
                conflicts.append(Conflict(entry, path))
        if conflicts and not force:
            raise _Conflicts(conflicts)
        for key, entry in list(managed.items()):
            if key == me.key:
                continue
            kept = entry.fields - changed - cmp.removed
            if not kept:
                del managed[key]
            elif kept != entry.fields:
                managed[key] = replace(entry, fields=kept, v1=None)

        unchanged = _same(merged, live) if live else False
        mine = frozenset(p for p in me.fields if p not in _STRIPPED)
        # upstream stamps the applier only when the object changed
        when = (previous.time if previous is not None else None) if unchanged else now
        if mine:
            managed[me.key] = replace(me, fields=mine, time=when, v1=None)
        else:
            del managed[me.key]
        if unchanged:
            merged = live
        merged = self._sync_last_applied(merged, config, manager)
        out = dict(merged)
        out["metadata"] = dict(out.get("metadata") or {})
        encoded = encode(_cap_update_managers(managed))
        if encoded:
            out["metadata"]["managedFields"] = encoded
        else:
            out["metadata"].pop("managedFields", None)
        return out

    def _prune(self, merged: Json, managed: Managed, last: FieldSet) -> Json:
        """Remove what the applier applied last time and no longer applies, unless anyone else (or
        the new configuration) owns it (upstream: Updater.prune with addBackOwnedItems and
        addBackDanglingItems)."""
        w = self.walker
        last_named = w.with_named(last)
        owned: set[Path] = set()
        for entry in managed.values():
            owned |= entry.fields
        owned_named = w.with_named(owned)
        merged_set = w.with_named(w.field_set(merged))
        pruned = w.remove(merged, last_named)
        pruned_set = w.with_named(w.field_set(pruned))
        pruned = w.remove(merged, merged_set - (pruned_set | owned_named))
        pruned_set = w.with_named(w.field_set(pruned))
        return w.remove(merged, (merged_set - pruned_set) & last_named)

    def _allowed_by_last_applied(self, live: Json) -> set[Path]:
        """Fields client-side apply set and the live object still has unchanged: ``kubectl`` may take
        them over without a conflict (upstream: lastAppliedManager)."""
        annotations = (live.get("metadata") or {}).get("annotations") or {}
        raw = annotations.get(LAST_APPLIED)
        if not raw:
            return set()
        try:
            last = json.loads(raw)
        except ValueError:
            return set()
        if not isinstance(last, dict) or last.get("apiVersion") != self.api_version:
            return set()
        cmp = self.walker.compare(last, live)
        return self.walker.field_set(last) - cmp.modified - cmp.added - cmp.removed

    @staticmethod
    def _sync_last_applied(obj: Json, config: Json, manager: str) -> Json:
        """Server-side apply by ``kubectl`` keeps an existing last-applied annotation current, so that
        going back to client-side apply still works (upstream: lastAppliedUpdater)."""
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if manager != KUBECTL_SSA_MANAGER or LAST_APPLIED not in annotations:
            return obj
        applied = _without_nulls(config)
        cmeta = applied.get("metadata")
        if isinstance(cmeta, dict) and isinstance(cmeta.get("annotations"), dict):
            applied["metadata"] = dict(cmeta)
            applied["metadata"]["annotations"] = {k: v for k, v in cmeta["annotations"].items() if k != LAST_APPLIED}
        value = last_applied_json(applied)
        if annotations.get(LAST_APPLIED) == value:
            return obj
        out = dict(obj)
        out["metadata"] = dict(obj["metadata"])
        out["metadata"]["annotations"] = {**annotations, LAST_APPLIED: value}
        return out


class _Conflicts(Exception):
    def __init__(self, conflicts: list[Conflict]) -> None:
        super().__init__(f"{len(conflicts)} conflicts")
        self.conflicts = conflicts


def last_applied_json(obj: Json) -> str:
    """JSON as Go's encoder writes an unstructured object: sorted keys, HTML-escaped, a newline."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text + "\n"


def _path_order(path: Path) -> tuple[Any, ...]:
    return tuple(_pe_order(pe) for pe in path)


def _cap_update_managers(managed: Managed, cap: int = MAX_UPDATE_MANAGERS) -> Managed:
    """At most ``cap`` Update entries: the oldest are merged, per apiVersion, into ``ancient-changes``."""
    updaters = [e for e in managed.values() if e.operation == UPDATE]
    if len(updaters) <= cap:
        return managed
    out = dict(managed)
    updaters.sort(key=lambda e: (e.time or "", e.manager))
    first_of_version: dict[str, Entry] = {}
    count = len(updaters)
    for e in updaters:
        if count <= cap:
            break
        bucket_key = (ANCIENT_CHANGES, UPDATE, e.api_version, "")
        first = first_of_version.get(e.api_version)
        if first is None:
            first_of_version[e.api_version] = e
            continue
        bucket = out.pop(bucket_key, None)
        if bucket is None:
            out.pop(first.key, None)
            bucket = Entry(ANCIENT_CHANGES, UPDATE, e.api_version, first.fields, first.time)  # fresh v1
        out.pop(e.key, None)
        out[bucket_key] = replace(bucket, fields=bucket.fields | e.fields, time=e.time, v1=None)
        count -= 1
    return out

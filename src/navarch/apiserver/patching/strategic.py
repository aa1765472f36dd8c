"""Strategic merge patch (``application/strategic-merge-patch+json``), server side.

Follows apimachinery's ``pkg/util/strategicpatch`` as ``StrategicMergeMapPatch`` applies it (parallel
lists merged, unmatched nulls ignored), with merge keys and strategies from the schema
(``patchmeta``):

- maps merge recursively; ``null`` deletes a key; ``$patch: replace`` / ``$patch: delete`` in a map
  replace it by the rest of the patch map / by ``{}``; ``$retainKeys`` drops the keys it does not list;
- lists with strategy ``merge`` merge: maps by merge key (``$patch: delete`` elements remove every
  match, a ``$patch: replace`` element makes the other elements the whole list), primitives as a
  de-duplicated union; every other list is replaced;
- ``$deleteFromPrimitiveList/<f>`` removes values from list ``f``; ``$setElementOrder/<f>`` gives the
  order of ``f``'s elements.

Order of a merged list, as upstream: patch elements in the order of the patch (or of
``$setElementOrder``), server-only elements in their original order, the two interleaved by original
position; an element new to the list is placed before the server-only elements that follow it, so
without ``$setElementOrder`` new elements come first (as ``kubectl patch`` shows).

Where upstream copies a patch value as it is (a key the original lacks, a replaced list) and leaves
its decoding into Go structs to drop directive keys and nulls, plain dicts have no such decoding step,
so ``_Merger.fresh`` takes the value with directives applied and nulls removed.

Error codes follow upstream's handler: malformed directives are 400, a list of lists is 422; errors
upstream leaves unclassified (and so answers 500) are 400 here, since the patch caused them.
"""

from __future__ import annotations

from typing import Any

from navarch.api import errors
from navarch.api.schema import Schema
from navarch.apiserver.patching import jsondoc
from navarch.apiserver.patching.patchmeta import MERGE, REPLACE, Node, PatchMeta, PatchSchema

DIRECTIVE = "$patch"
DELETE = "delete"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"
SET_ELEMENT_ORDER = "$setElementOrder"

# upstream's mergepatch error texts
ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
ERR_LIST_OF_LISTS = "lists of lists are not supported"

Json = dict[str, Any]


def strategic_merge_patch(doc: Json, patch_bytes: bytes | str, schema: Schema | None,
                          definition: str | None, *, owned: bool = False) -> Json:
    """``doc`` patched; ``definition`` names the kind's schema (e.g. ``io.k8s.api.apps.v1.Deployment``)."""
    patch = jsondoc.decode(patch_bytes)
    if patch is None:
        # Go decodes `null` into an empty patch map.
        unchanged: Json = jsondoc.copy(doc)
        return unchanged
    if not isinstance(patch, dict):
        raise errors.bad_request(
            f"error decoding patch: a strategic merge patch must be a JSON object, not {_go_type(patch)}")
    walker = PatchSchema(schema)
    return _Merger(walker).merge_map(doc if owned else jsondoc.copy(doc), patch, walker.root(definition))


class _Merger:
    """One patch application. Merges into ``original`` values that it owns (copies of the document)."""

    def __init__(self, schema: PatchSchema) -> None:
        self._schema = schema

    # maps

    def merge_map(self, original: Json, patch: Json, node: Node) -> Json:
        if DIRECTIVE in patch:
            directive = patch[DIRECTIVE]
            if directive == REPLACE:
                return self.fresh_map({k: v for k, v in patch.items() if k != DIRECTIVE}, node)
            if directive == DELETE:
                return {}
            raise _bad_patch_type(directive, patch)
        patch = dict(patch)
        self._retain_keys(original, patch)
        self._set_element_orders(original, patch, node)

        deletions: list[tuple[str, Any]] = []
        for key, value in patch.items():
            if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
                deletions.append((_directive_field(key, DELETE_FROM_PRIMITIVE_LIST, ERR_PRIMITIVE_LIST), value))
                continue
            if value is None:
                original.pop(key, None)
                continue
            child = self._schema.child(node, key)
            current = original.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                if self._schema.meta(child).strategy == REPLACE:
                    original[key] = self.fresh_map(value, child)
                else:
                    original[key] = self.merge_map(current, value, child)
            elif isinstance(current, list) and isinstance(value, list):
                meta = self._schema.meta(child)
                if meta.strategy == MERGE:
                    original[key] = self.merge_list(current, value, child, meta)
                else:
                    original[key] = self.fresh_list(value, child)
            else:
                original[key] = self.fresh(value, child)

        for key, values in deletions:
            self._delete_from_list(original, key, values)
        return original

    @staticmethod
    def _retain_keys(original: Json, patch: Json) -> None:
        if RETAIN_KEYS not in patch:
            return
        retain = patch.pop(RETAIN_KEYS)
        if not isinstance(retain, list):
            raise errors.bad_request(ERR_RETAIN_KEYS)
        kept = {k for k in retain if isinstance(k, str)}
        for key, value in patch.items():
            if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
                continue
            if key not in kept:
                # every field the patch sets must be one of the retained keys
                raise errors.bad_request(ERR_RETAIN_KEYS)
        for key in [k for k in original if k not in kept]:
            del original[key]

    @staticmethod
    def _delete_from_list(original: Json, key: str, values: Any) -> None:
        if values is None:
            original.pop(key, None)
            return
        if not isinstance(values, list):
            raise errors.bad_request(ERR_PRIMITIVE_LIST)
        current = original.get(key)
        if isinstance(current, list):
            original[key] = [v for v in current if not any(jsondoc.same(v, d) for d in values)]

    def _set_element_orders(self, original: Json, patch: Json, node: Node) -> None:
        for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
            order = patch.pop(directive)
            if not isinstance(order, list):
                raise errors.bad_request(ERR_SET_ELEMENT_ORDER)
            key = _directive_field(directive, SET_ELEMENT_ORDER, ERR_SET_ELEMENT_ORDER)

            current = original.get(key)
            if current is not None and not isinstance(current, list):
                raise errors.bad_request(_bad_arg_type([], current))
            has_patch = key in patch
            patch_list = patch.pop(key, None)
            if has_patch and not isinstance(patch_list, list):
                raise errors.bad_request(_bad_arg_type([], patch_list))

            child = self._schema.child(node, key)
            meta = self._schema.meta(child)
            _check_order(patch_list or [], order, meta.merge_key)

            if current is not None and patch_list is not None:
                if meta.strategy == MERGE:
                    merged = self.merge_list(current, patch_list, child, meta)
                else:
                    merged = self.fresh_list(patch_list, child)
            elif current is not None:
                merged = current
            elif patch_list is not None:
                merged = self.fresh_list(patch_list, child)
            else:
                continue

            kind = _element_kind(current or [], patch_list or [])
            if kind is None:
                original[key] = merged
                continue
            if kind == "map" and not meta.merge_key:
                raise errors.bad_request(f"{ERR_SET_ELEMENT_ORDER}: {key} has no merge key")
            in_order, server_only = _partition(merged, order, meta.merge_key)
            original[key] = _normalize_order(in_order, server_only, order, current or [],
                                             meta.merge_key, kind == "map")

    # lists

    def merge_list(self, original: list[Any], patch: list[Any], node: Node, meta: PatchMeta) -> list[Any]:
        if not original and not patch:
            return original
        kind = _element_kind(original, patch)
        merge_key = meta.merge_key
        if kind != "map":
            merged = _dedup(original + patch)
        else:
            if not merge_key:
                raise errors.bad_request("cannot merge lists without merge key for type map")
            items = self._schema.items(node)
            original, patch = self._special_elements(original, patch, merge_key, items)
            merged = self._merge_by_key(list(original), patch, merge_key, items)
        in_patch, server_only = _partition(merged, patch, merge_key)
        return _normalize_order(in_patch, server_only, patch, original, merge_key, kind == "map")

    def _special_elements(self, original: list[Any], patch: list[Any], merge_key: str,
                          items: Node) -> tuple[list[Any], list[Any]]:
        """Apply ``$patch`` elements; returns the original left and the plain patch elements."""
        plain: list[Any] = []
        replace = False
        for element in patch:
            if DIRECTIVE not in element:
                plain.append(element)
                continue
            directive = element[DIRECTIVE]
            if directive == DELETE:
                if merge_key not in element:
                    raise _no_merge_key(element, merge_key)
                value = element[merge_key]
                original = [o for o in original if not _key_matches(o, merge_key, value)]
            elif directive == REPLACE:
                replace = True
            elif directive == MERGE:
                raise errors.bad_request("merging lists cannot yet be specified in the patch")
            else:
                raise _bad_patch_type(directive, element)
        if replace:
            return [self.fresh(e, items) for e in plain], []
        return original, plain

    def _merge_by_key(self, original: list[Any], patch: list[Any], merge_key: str, items: Node) -> list[Any]:
        for element in patch:
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            value = element[merge_key]
            for i, existing in enumerate(original):
                if _key_matches(existing, merge_key, value):
                    original[i] = self.merge_map(existing, element, items)
                    break
            else:
                original.append(self.fresh(element, items))
        return original

    # values the original does not have

    def fresh(self, value: Any, node: Node) -> Any:
        if isinstance(value, dict):
            return self.fresh_map(value, node)
        if isinstance(value, list):
            return self.fresh_list(value, node)
        return value

    def fresh_map(self, value: Json, node: Node) -> Json:
        if value.get(DIRECTIVE, None) == DELETE:
            return {}
        out: Json = {}
        for key, v in value.items():
            if v is None or key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(
                    (SET_ELEMENT_ORDER, DELETE_FROM_PRIMITIVE_LIST)):
                continue
            out[key] = self.fresh(v, self._schema.child(node, key))
        return out

    def fresh_list(self, value: list[Any], node: Node) -> list[Any]:
        items = self._schema.items(node)
        out: list[Any] = []
        for element in value:
            # a deleted element, or a bare `{"$patch": "replace"}` marker, adds nothing
            if isinstance(element, dict) and DIRECTIVE in element and (
                    element[DIRECTIVE] == DELETE or len(element) == 1):
                continue
            out.append(self.fresh(element, items))
        return out


# ordering (upstream: normalizeElementOrder, normalizeSliceOrder, mergeSortedSlice)

def _partition(merged: list[Any], by: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Split ``merged`` into elements present in ``by`` and the rest, keeping their order."""
    inside: list[Any] = []
    outside: list[Any] = []
    if merge_key:
        for i, b in enumerate(by):
            if not isinstance(b, dict):
                raise errors.bad_request(f"value for key {i} is not a map.")
    for element in merged:
        if merge_key:
            if not isinstance(element, dict):
                raise errors.bad_request(_bad_arg_type({}, element))
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
            found = any(_key_matches(b, merge_key, element[merge_key]) for b in by)
        else:
            found = any(jsondoc.same(b, element) for b in by)
        (inside if found else outside).append(element)
    return inside, outside


def _normalize_order(in_patch: list[Any], server_only: list[Any], patch_order: list[Any],
                     server_order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    in_patch = _sort_by(in_patch, patch_order, merge_key, is_map)
    server_only = _sort_by(server_only, server_order, merge_key, is_map)
    return _interleave(server_only, in_patch, server_order, merge_key, is_map)


def _sort_by(elements: list[Any], order: list[Any], merge_key: str, is_map: bool) -> list[Any]:
    deleted: list[Any] = []
    if is_map:
        for element in (*elements, *order):
            if not isinstance(element, dict):
                raise errors.bad_request(_bad_arg_type({}, element))
            if merge_key not in element:
                raise _no_merge_key(element, merge_key)
        deleted = [e for e in elements if e.get(DIRECTIVE) == DELETE]
        elements = [e for e in elements if e.get(DIRECTIVE) != DELETE]
    positions = [_position(order, e, merge_key, is_map) for e in elements]
    ranked = sorted(range(len(elements)),
                    key=lambda i: positions[i] if positions[i] >= 0 else len(order))
    return [elements[i] for i in ranked] + deleted


def _interleave(server_only: list[Any], in_patch: list[Any], server_order: list[Any],
                merge_key: str, is_map: bool) -> list[Any]:
    """Merge two sorted lists; a server-only element goes first only if both are known to the
    original and it came earlier there, so elements new to the list come before the rest."""
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_patch):
        if i >= len(server_only):
            out.append(in_patch[j])
            j += 1
        elif j >= len(in_patch):
            out.append(server_only[i])
            i += 1
        else:
            left = _position(server_order, server_only[i], merge_key, is_map)
            right = _position(server_order, in_patch[j], merge_key, is_map)
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_patch[j])
                j += 1
    return out


def _position(elements: list[Any], value: Any, merge_key: str, is_map: bool) -> int:
    def identity(v: Any) -> Any:
        if is_map:
            return v.get(merge_key) if isinstance(v, dict) else None
        return v

    target = identity(value)
    for i, element in enumerate(elements):
        if jsondoc.same(identity(element), target):
            return i
    return -1


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch list's elements must appear in ``$setElementOrder`` and in the same relative order."""
    if not patch_list or not order:
        return
    if merge_key:
        for element in patch_list:
            if not isinstance(element, dict):
                raise errors.bad_request(_bad_arg_type({}, element))
        plain = [e for e in patch_list if e.get(DIRECTIVE) != DELETE]
    else:
        plain = patch_list
    p = s = 0
    while p < len(plain) and s < len(order):
        element = plain[p]
        if isinstance(element, dict) and DIRECTIVE in element:
            p += 1
            continue
        if _merge_key_equal(element, order[s], merge_key):
            p += 1
        s += 1
    if p < len(plain) and s >= len(order):
        raise errors.bad_request(
            f"The order in patch list:\n{jsondoc.show(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{jsondoc.show(order)}\n")


def _merge_key_equal(left: Any, right: Any, merge_key: str) -> bool:
    if not merge_key:
        return jsondoc.same(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise errors.bad_request(_bad_arg_type({}, side))
        if merge_key not in side:
            raise _no_merge_key(side, merge_key)
    return jsondoc.same(left[merge_key], right[merge_key])


# helpers

def _key_matches(element: Any, merge_key: str, value: Any) -> bool:
    return isinstance(element, dict) and merge_key in element and jsondoc.same(element[merge_key], value)


def _dedup(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(jsondoc.same(v, seen) for seen in out):
            out.append(v)
    return out


def _element_kind(*lists: list[Any]) -> str | None:
    """The one Go type of all elements (upstream: sliceElementType), or None if there are none."""
    kind: str | None = None
    for values in lists:
        for v in values:
            current = _go_type(v)
            if kind is None:
                if current == "[]interface {}":
                    raise jsondoc.unprocessable(ERR_LIST_OF_LISTS)
                kind = current
            elif current != kind:
                raise errors.bad_request(f"list element types are not identical: {jsondoc.show(list(lists))}")
    if kind == "map[string]interface {}":
        return "map"
    return kind


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "<nil>"


def _directive_field(key: str, prefix: str, error: str) -> str:
    head, sep, field = key.partition("/")
    if not sep or head != prefix:
        raise errors.bad_request(error)
    return field


def _no_merge_key(element: Any, merge_key: str) -> errors.StatusError:
    return errors.bad_request(f"map: {jsondoc.show(element)} does not contain declared merge key: {merge_key}")


def _bad_arg_type(expected: Any, actual: Any) -> str:
    return f"expected a {_go_type(expected)}, but received a {_go_type(actual)}"


def _bad_patch_type(directive: Any, element: Json) -> errors.StatusError:
    return errors.bad_request(f"unknown patch type: {jsondoc.show(directive)} in map: {jsondoc.show(element)}")

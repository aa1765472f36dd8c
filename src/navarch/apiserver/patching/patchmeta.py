"""Where strategic merge patch gets its merge keys and strategies: the OpenAPI schema.

Upstream reads the Go struct tags (``patchStrategy``, ``patchMergeKey``); the published schema carries the
same facts as ``x-kubernetes-patch-strategy`` / ``x-kubernetes-patch-merge-key`` on the property that
holds the field. A ``None`` node means "nothing known here" (unknown fields, or inside
``x-kubernetes-preserve-unknown-fields``), where lists replace and maps merge, as in JSON merge patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navarch.api.schema import Schema

Node = dict[str, Any] | None

REPLACE = "replace"
MERGE = "merge"
RETAIN_KEYS = "retainKeys"


@dataclass(frozen=True)
class PatchMeta:
    strategy: str = ""  # "merge", "replace" or "" (replace for lists, merge for maps)
    merge_key: str = ""
    retain_keys: bool = False


NO_META = PatchMeta()


class PatchSchema:
    """Walks the schema alongside the document being patched."""

    def __init__(self, schema: Schema | None) -> None:
        self._schema = schema

    def root(self, definition: str | None) -> Node:
        if self._schema is None or not definition or definition not in self._schema.definitions:
            return None
        return self._schema.definitions[definition]

    def child(self, node: Node, key: str) -> Node:
        """The (unresolved) schema of property ``key``, or of a map's values."""
        if node is None or self._schema is None:
            return None
        found = self._schema.field(node, key)
        if found is None:
            found = self._schema.additional(node)
        return found

    def items(self, node: Node) -> Node:
        if node is None or self._schema is None:
            return None
        return self._schema.items(node)

    @staticmethod
    def meta(node: Node) -> PatchMeta:
        if not node:
            return NO_META
        raw = node.get("x-kubernetes-patch-strategy", "")
        merge_key = node.get("x-kubernetes-patch-merge-key", "") or ""
        strategies = [s for s in str(raw).split(",") if s] if raw else []
        retain = RETAIN_KEYS in strategies
        others = [s for s in strategies if s != RETAIN_KEYS]
        # Upstream allows retainKeys plus at most one other strategy; anything else in a schema is
        # a schema bug, which is read as "no strategy" rather than failing every patch.
        strategy = others[0] if len(others) == 1 else ""
        return PatchMeta(strategy=strategy, merge_key=merge_key, retain_keys=retain)

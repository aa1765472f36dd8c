"""The API's schema: upstream's OpenAPI definitions, as the ``kubernetes-validate`` package ships them.

Definitions are keyed by upstream's names (``io.k8s.api.core.v1.PodSpec``). The package's JSON-schema
dialect writes nullable types as ``["string", "null"]`` and refs as ``#/$defs/<name>``; ``Schema`` offers
them unchanged plus helpers that resolve refs and read the Kubernetes extensions
(``x-kubernetes-patch-merge-key``, ``x-kubernetes-list-type``, ...). It is loaded once per process.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import orjson

SCHEMA_VERSION = "v1.33.0"
_REF_PREFIX = "#/$defs/"


class Schema:
    def __init__(self, definitions: dict[str, dict[str, Any]]) -> None:
        self.definitions = definitions
        self._by_gvk: dict[tuple[str, str, str], str] = {}
        for name, d in definitions.items():
            for gvk in d.get("x-kubernetes-group-version-kind", ()):
                self._by_gvk.setdefault((gvk["group"], gvk["version"], gvk["kind"]), name)

    def definition_for(self, group: str, version: str, kind: str) -> str | None:
        """The definition name of a kind, e.g. ("apps", "v1", "Deployment") -> io.k8s.api.apps.v1.Deployment."""
        return self._by_gvk.get((group, version, kind))

    def resolve(self, node: dict[str, Any] | None) -> dict[str, Any]:
        """Follow ``$ref`` (also one nested under allOf) to the definition it names."""
        while node:
            ref = node.get("$ref")
            if ref is None and len(node.get("allOf", ())) == 1:
                ref = node["allOf"][0].get("$ref")
            if ref is None:
                return node
            node = self.definitions.get(ref[len(_REF_PREFIX):] if ref.startswith(_REF_PREFIX) else ref.rsplit("/", 1)[-1])
        return node or {}

    def get(self, name: str) -> dict[str, Any]:
        return self.definitions[name]

    def field(self, node: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
        """The (unresolved) schema of property ``name`` of object schema ``node``, or None."""
        props = self.resolve(node).get("properties")
        if not props:
            return None
        return props.get(name)

    def items(self, node: dict[str, Any] | None) -> dict[str, Any] | None:
        return self.resolve(node).get("items")

    def additional(self, node: dict[str, Any] | None) -> dict[str, Any] | None:
        """The value schema of a map (``additionalProperties``), or None."""
        extra = self.resolve(node).get("additionalProperties")
        return extra if isinstance(extra, dict) else None

    @staticmethod
    def types(node: dict[str, Any]) -> set[str]:
        t = node.get("type")
        if t is None:
            return set()
        return {t} if isinstance(t, str) else set(t)

    @staticmethod
    def ref_name(node: dict[str, Any]) -> str | None:
        ref = node.get("$ref")
        if ref is None and len(node.get("allOf", ())) == 1:
            ref = node["allOf"][0].get("$ref")
        if ref is None:
            return None
        return ref[len(_REF_PREFIX):] if ref.startswith(_REF_PREFIX) else ref.rsplit("/", 1)[-1]


@functools.cache
def load_schema(version: str = SCHEMA_VERSION) -> Schema:
    import kubernetes_validate

    path = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema",
                        f"{version}-local", "_definitions.json")
    with open(path, "rb") as f:
        doc = orjson.loads(f.read())
    return Schema(doc["$defs"])

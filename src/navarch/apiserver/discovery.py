"""Discovery documents: what kubectl reads to learn which resources exist.

Two shapes are served, both derived from the resource registry:

- legacy: ``/api`` (APIVersions), ``/apis`` (APIGroupList), ``/apis/<g>`` (APIGroup) and one
  APIResourceList per group-version (``/api/v1``, ``/apis/<g>/<v>``);
- aggregated (``apidiscovery.k8s.io``, v2 and v2beta1): one APIGroupDiscoveryList for ``/api`` (the core
  group, named ``""``) and one for ``/apis`` (every other group), chosen by the Accept header.

Every body is static for the life of the process, so each is serialised once, with its ETag (quoted
uppercase hex SHA-512, as kube-apiserver's aggregated discovery handler computes it).
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from navarch.api.resources import REGISTRY, Registry, ResourceInfo

JSON = "application/json"
AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_AS = "APIGroupDiscoveryList"
AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_content_type(version: str) -> str:
    return f"{JSON};g={AGGREGATED_GROUP};v={version};as={AGGREGATED_AS}"


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """Upstream's opaque storage version hash: base64 of the first 8 bytes of sha256("g/v/Kind")."""
    return base64.b64encode(hashlib.sha256(f"{group}/{version}/{kind}".encode()).digest()[:8]).decode()


@dataclass(frozen=True)
class Document:
    """A precomputed discovery answer."""

    content_type: str
    body: bytes
    etag: str
    # Bodies that depend on Accept must say so, or kubectl's HTTP cache mixes them up.
    vary_accept: bool = False

    def headers(self) -> dict[str, str]:
        out = {"Content-Type": self.content_type, "ETag": self.etag, "Cache-Control": "public"}
        if self.vary_accept:
            out["Vary"] = "Accept"
        return out

    def not_modified(self, if_none_match: str | None) -> bool:
        """An exactly equal ``If-None-Match`` earns a 304, as upstream."""
        return bool(if_none_match) and if_none_match == self.etag


def _document(obj: Any, content_type: str = JSON, vary_accept: bool = False) -> Document:
    body = orjson.dumps(obj)
    return Document(content_type, body, etag_of(body), vary_accept)


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _sorted_resources(resources: list[ResourceInfo]) -> list[ResourceInfo]:
    return sorted(resources, key=lambda r: r.plural)


# ---------------------------------------------------------------------------------------------
# Legacy shapes


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(registry: Registry, group: str) -> dict[str, Any]:
    versions = registry.groups[group]
    preferred = versions[0]
    return {
        "name": group,
        "versions": [{"groupVersion": _gv(group, v), "version": v} for v in versions],
        "preferredVersion": {"groupVersion": _gv(group, preferred), "version": preferred},
    }


def api_group_list(registry: Registry) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [api_group(registry, g) for g in registry.ordered_groups() if g],
    }


def _legacy_resource(r: ResourceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular_name,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    if not r.virtual:
        out["storageVersionHash"] = storage_version_hash(r.group, r.version, r.kind)
    return out


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any]:
    entries: list[dict[str, Any]] = []
    for r in _sorted_resources(registry.in_group_version(group, version)):
        entries.append(_legacy_resource(r))
        for sub in sorted(r.subresources, key=lambda s: s.name):
            entry: dict[str, Any] = {
                "name": f"{r.plural}/{sub.name}",
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind,
                "verbs": list(sub.verbs),
            }
            # Group and version appear only where they differ from the list's own (scale, eviction,
            # token): kubectl's scale client and drain read them from here.
            if (sub.group, sub.version) != (group, version):
                entry["group"] = sub.group
                entry["version"] = sub.version
            entries.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": _gv(group, version),
            "resources": entries}


# ---------------------------------------------------------------------------------------------
# Aggregated shapes


def _aggregated_resource(r: ResourceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular_name,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    if r.subresources:
        out["subresources"] = [
            {
                "subresource": s.name,
                "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                "verbs": list(s.verbs),
            }
            for s in sorted(r.subresources, key=lambda s: s.name)
        ]
    return out


def _group_discovery(registry: Registry, group: str) -> dict[str, Any]:
    # Versions in preference order: the client takes the first non-stale one as preferred.
    metadata: dict[str, Any] = {"name": group} if group else {}
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": v,
                "resources": [_aggregated_resource(r)
                              for r in _sorted_resources(registry.in_group_version(group, v))],
                "freshness": "Current",
            }
            for v in registry.groups[group]
        ],
    }


def aggregated_list(registry: Registry, core: bool, version: str = "v2") -> dict[str, Any]:
    """``/api`` (core=True: one item, the group ``""``) or ``/apis`` (every named group)."""
    groups = [""] if core else [g for g in registry.ordered_groups() if g]
    return {
        "kind": AGGREGATED_AS,
        "apiVersion": f"{AGGREGATED_GROUP}/{version}",
        "metadata": {},
        "items": [_group_discovery(registry, g) for g in groups if g in registry.groups],
    }


# ---------------------------------------------------------------------------------------------
# Negotiation


def _accept_clauses(accept: str | None) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for clause in (accept or "").split(","):
        parts = [p.strip() for p in clause.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip().strip('"')
        out.append((parts[0].lower(), params))
    return out


def aggregated_version(accept: str | None) -> str | None:
    """Which aggregated discovery version the Accept header asks for: v2 wins over v2beta1, else None."""
    offered = set()
    for media, params in _accept_clauses(accept):
        if media != JSON:
            continue
        if params.get("g") == AGGREGATED_GROUP and params.get("as") == AGGREGATED_AS:
            offered.add(params.get("v", ""))
    for version in AGGREGATED_VERSIONS:
        if version in offered:
            return version
    return None


@dataclass
class Discovery:
    """Every discovery body for one registry, serialised on first use and then reused."""

    registry: Registry = REGISTRY
    server_address: str = ""
    _cache: dict[tuple[str, ...], Document] = field(default_factory=dict, repr=False)

    def _cached(self, key: tuple[str, ...], build: Any) -> Document:
        doc = self._cache.get(key)
        if doc is None:
            doc = self._cache[key] = build()
        return doc

    def root(self, path_kind: str, accept: str | None) -> Document:
        """``/api`` (path_kind "api") or ``/apis`` ("apis"), aggregated when Accept asks for it."""
        core = path_kind == "api"
        version = aggregated_version(accept)
        if version is not None:
            return self._cached(("aggregated", path_kind, version), lambda: _document(
                aggregated_list(self.registry, core, version), aggregated_content_type(version), True))
        if core:
            return self._cached(("legacy", "api"), lambda: _document(
                api_versions(self.server_address), vary_accept=True))
        return self._cached(("legacy", "apis"), lambda: _document(api_group_list(self.registry), vary_accept=True))

    def group(self, group: str) -> Document | None:
        """``/apis/<group>``: None for an unknown group (the caller answers 404)."""
        if not group or group not in self.registry.groups:
            return None
        return self._cached(("group", group), lambda: _document(
            {"kind": "APIGroup", "apiVersion": "v1", **api_group(self.registry, group)}))

    def group_version(self, group: str, version: str) -> Document | None:
        """``/api/v1`` or ``/apis/<g>/<v>``: None for an unknown group-version."""
        if version not in self.registry.groups.get(group, ()):
            return None
        return self._cached(("gv", group, version), lambda: _document(
            api_resource_list(self.registry, group, version)))

    def for_path(self, path: str, accept: str | None) -> Document | None:
        """The document served at a discovery URL path, or None if the path is not a discovery path."""
        parts = [p for p in path.split("/") if p]
        if parts == ["api"]:
            return self.root("api", accept)
        if parts == ["apis"]:
            return self.root("apis", accept)
        if len(parts) == 2 and parts[0] == "api":
            return self.group_version("", parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            return self.group(parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return self.group_version(parts[1], parts[2])
        return None


@functools.cache
def default_discovery() -> Discovery:
    """The process-wide discovery over the built-in registry (bodies never change once built)."""
    return Discovery(REGISTRY)


def negotiate(accept: str | None, path_kind: str, discovery: Discovery | None = None) -> tuple[str, bytes, str]:
    """``(content_type, body, etag)`` for ``/api`` (path_kind "api") or ``/apis`` ("apis").

    Aggregated v2 when the Accept list contains the v2 clause, v2beta1 when only that is offered,
    the legacy shape otherwise (KUBECTL.md 1.1). Send ``Vary: Accept`` and ``Cache-Control: public``
    with it (``Document.headers()`` does).
    """
    doc = (discovery or default_discovery()).root(path_kind, accept)
    return doc.content_type, doc.body, doc.etag

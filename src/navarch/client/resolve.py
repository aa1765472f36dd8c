"""Turn what a caller names (a ``ResourceInfo`` or a short string) into one registry entry.

Strings follow the shapes people already type: ``pods``, ``po``, ``deployments.apps``,
``apps/v1/deployments``, ``v1/pods``. An unqualified name prefers the core group, then the
registry's group order, as kubectl's RESTMapper does for ``events``.
"""

from __future__ import annotations

from navarch.api.resources import REGISTRY, Registry, ResourceInfo

ResourceRef = ResourceInfo | str


def resolve(res: ResourceRef, registry: Registry = REGISTRY) -> ResourceInfo:
    if isinstance(res, ResourceInfo):
        return res
    parts = res.strip("/").split("/")
    if len(parts) == 3:
        found = registry.get(parts[0], parts[1], parts[2])
    elif len(parts) == 2:
        found = registry.get("", parts[0], parts[1])
    elif len(parts) == 1:
        found = _by_name(parts[0], registry)
    else:
        found = None
    if found is None:
        raise ValueError(f"unknown resource {res!r}")
    return found


def _by_name(name: str, registry: Registry) -> ResourceInfo | None:
    memo = registry.by_name_memo
    if name not in memo:
        memo[name] = _search(name, registry)
    return memo[name]


def _search(name: str, registry: Registry) -> ResourceInfo | None:
    plural, _, group = name.partition(".")
    rank = {g: i for i, g in enumerate(registry.ordered_groups())}
    candidates = [
        r for r in registry.resources
        if (plural == r.plural or plural in r.short_names or plural == r.singular_name)
        and (not group or r.group == group)
    ]
    if not candidates:
        return None
    candidates.sort(key=lambda r: (rank.get(r.group, len(rank)), r.version != registry.preferred_version(r.group)))
    return candidates[0]

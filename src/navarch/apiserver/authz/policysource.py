"""Where the RBAC authorizer reads Roles, ClusterRoles and their bindings: the API server's watch
cache (as upstream's authorizer reads shared informers), or a fixed set in tests.

A source has a ``generation()`` that changes whenever any RBAC object changes; the authorizer
compares it on each check (a few attribute reads) and rebuilds its index and drops its decision
cache when it moved, so a change is seen by the next request without any callback machinery.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from navarch.api.resources import REGISTRY

if TYPE_CHECKING:
    from navarch.apiserver.watchcache import ResourceCache, WatchCache

RBAC_GROUP = "rbac.authorization.k8s.io"
KINDS = ("clusterroles", "roles", "clusterrolebindings", "rolebindings")


class PolicySource(Protocol):
    def generation(self) -> Hashable: ...

    def objects(self, plural: str) -> Iterable[dict[str, Any]]:
        """Every object of one of ``KINDS``; read-only."""
        ...


def storage_prefix(plural: str) -> str:
    r = REGISTRY.get(RBAC_GROUP, "v1", plural)
    assert r is not None, plural
    return REGISTRY.storage_resource(r).storage_prefix()


def cache_generation(c: ResourceCache) -> int:
    """The revision of the newest change a resource cache applied. ``apply`` always appends the
    event it applies to ``history`` (and trims only older ones), and a reload clears the history
    and moves ``window_start``; so this moves on every change, reloads included."""
    history = c.history
    return history[-1].revision if history else c.window_start


class WatchCachePolicySource:
    def __init__(self, cache: WatchCache) -> None:
        self._caches = {p: cache.cache_for(storage_prefix(p)) for p in KINDS}
        self._list = tuple(self._caches.values())

    def generation(self) -> Hashable:
        a, b, c, d = self._list
        return (cache_generation(a), cache_generation(b), cache_generation(c), cache_generation(d))

    def objects(self, plural: str) -> Iterable[dict[str, Any]]:
        return [e.obj for e in self._caches[plural].items.values()]


class StaticPolicySource:
    """A fixed policy (tests, tools): ``set`` replaces one kind's objects and moves the generation."""

    def __init__(self, **objects: list[dict[str, Any]]) -> None:
        self._objects: dict[str, list[dict[str, Any]]] = {k: list(objects.get(k, ())) for k in KINDS}
        self._generation = 0

    def set(self, plural: str, objects: list[dict[str, Any]]) -> None:
        self._objects[plural] = list(objects)
        self._generation += 1

    def add(self, plural: str, obj: dict[str, Any]) -> None:
        self.set(plural, [*self._objects[plural], obj])

    def generation(self) -> Hashable:
        return self._generation

    def objects(self, plural: str) -> Iterable[dict[str, Any]]:
        return self._objects[plural]

"""Admission: built-in plugins that mutate, then validate, every write before it is stored.

Each plugin is a small module with ``NAME`` and ``async def admit(attrs)`` (mutating) and/or
``async def validate(attrs)``; the chain runs mutating plugins in order, then validating ones, as
upstream's admission chain does. The server configures which plugins are on.

Plugins read single objects with ``Attributes.lookup`` and lists (or, for ResourceQuota, write
back with compare-and-swap) through ``Attributes.access`` (see ``access.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from navarch.api import errors
from navarch.api.resources import ResourceInfo


@dataclass
class Attributes:
    """What a plugin sees of one write."""

    operation: str  # CREATE | UPDATE | DELETE | CONNECT
    resource: ResourceInfo
    subresource: str | None
    namespace: str | None
    name: str
    obj: dict[str, Any] | None
    old: dict[str, Any] | None
    user: Any
    dry_run: bool
    # Reads of other objects the plugins need (namespaces, limit ranges...), served from the watch cache.
    lookup: Callable[[str, str | None, str], Awaitable[dict[str, Any] | None]]
    warnings: list[str] = field(default_factory=list)
    # Lists from the watch cache and compare-and-swap writes; derived from ``lookup``'s server when
    # not given (see ``access.access_of``).
    access: Any = None


def forbidden(a: Attributes, reason: str) -> errors.StatusError:
    """Upstream's ``admission.NewForbidden``: a 403 naming the resource and object, then the reason."""
    r = a.resource
    what = errors.qualified(r.plural, r.group)
    message = f'{what} "{a.name}" is forbidden: {reason}' if a.name else f"{what} is forbidden: {reason}"
    return errors.forbidden(message, r.plural, r.group, a.name)


class Plugin(Protocol):
    NAME: str


Step = Callable[[Attributes], Awaitable[None]]


class Chain:
    """The plugins' mutating steps in order, then their validating ones, worked out once per
    resource: a plugin that declares ``RESOURCES`` (the (group, plural) pairs it acts on) is left
    out for the others, so an Event create does not await the pod-only plugins."""

    def __init__(self, plugins: list[Any]) -> None:
        self.plugins = list(plugins)
        self._steps: dict[tuple[str, str], tuple[Step, ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.plugins)

    def steps(self, group: str, plural: str) -> tuple[Step, ...]:
        steps = self._steps.get((group, plural))
        if steps is None:
            mine = [p for p in self.plugins
                    if getattr(p, "RESOURCES", None) is None or (group, plural) in p.RESOURCES]
            steps = tuple(p.admit for p in mine if getattr(p, "admit", None) is not None) + \
                tuple(p.validate for p in mine if getattr(p, "validate", None) is not None)
            self._steps[(group, plural)] = steps
        return steps

    async def run(self, attrs: Attributes) -> None:
        for step in self.steps(attrs.resource.group, attrs.resource.plural):
            await step(attrs)


# Upstream's order (kube-apiserver's AllOrderedPlugins), for the plugins navarch has. Mutating
# plugins run in this order, then validating ones: ResourceQuota comes last, so it charges only for
# objects every other plugin let through.
PLUGIN_ORDER = (
    "namespace_lifecycle",         # NamespaceLifecycle
    "limit_ranger",                # LimitRanger
    "service_account",             # ServiceAccount
    "node_restriction",            # NodeRestriction
    "pod_security",                # PodSecurity
    "priority",                    # Priority
    "default_toleration_seconds",  # DefaultTolerationSeconds
    "default_storage_class",       # DefaultStorageClass
    "resource_quota",              # ResourceQuota
)


def default_plugins() -> list[Any]:
    """The plugins of ``PLUGIN_ORDER`` that exist; a module still being built is left out. A module
    is the plugin, unless it has state per server: then its ``new()`` makes one."""
    import importlib

    plugins = []
    for name in PLUGIN_ORDER:
        module = f"{__name__}.{name}"
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            continue
        factory = getattr(mod, "new", None)
        plugins.append(factory() if callable(factory) else mod)
    return plugins

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
    out for the others, so an Event create does not await the pod-only plugins.

    A write runs the mutating steps, then the object's own validation, then the validating steps
    (upstream's order: ResourceQuota charges only for an object that is valid)."""

    def __init__(self, plugins: list[Any]) -> None:
        self.plugins = list(plugins)
        self._steps: dict[tuple[str, str], tuple[tuple[Step, ...], tuple[Step, ...]]] = {}

    def __bool__(self) -> bool:
        return bool(self.plugins)

    def _phases(self, group: str, plural: str) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
        phases = self._steps.get((group, plural))
        if phases is None:
            mine = [p for p in self.plugins
                    if getattr(p, "RESOURCES", None) is None or (group, plural) in p.RESOURCES]
            phases = (tuple(p.admit for p in mine if getattr(p, "admit", None) is not None),
                      tuple(p.validate for p in mine if getattr(p, "validate", None) is not None))
            self._steps[(group, plural)] = phases
        return phases

    def steps(self, group: str, plural: str) -> tuple[Step, ...]:
        mutating, validating = self._phases(group, plural)
        return mutating + validating

    async def run(self, attrs: Attributes, phase: str = "") -> None:
        """Both phases, or only ``phase`` ("mutating" or "validating")."""
        mutating, validating = self._phases(attrs.resource.group, attrs.resource.plural)
        steps = mutating if phase == "mutating" else validating if phase == "validating" else mutating + validating
        for step in steps:
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

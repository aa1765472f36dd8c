"""Admission: built-in plugins that mutate, then validate, every write before it is stored.

Each plugin is a small module with ``NAME`` and ``async def admit(attrs)`` (mutating) and/or
``async def validate(attrs)``; the chain runs mutating plugins in order, then validating ones, as
upstream's admission chain does. The server configures which plugins are on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

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


class Plugin(Protocol):
    NAME: str


async def run_chain(plugins: list[Any], attrs: Attributes) -> None:
    for p in plugins:
        admit = getattr(p, "admit", None)
        if admit is not None:
            await admit(attrs)
    for p in plugins:
        validate = getattr(p, "validate", None)
        if validate is not None:
            await validate(attrs)


def default_plugins() -> list[Any]:
    from navarch.apiserver.admission import default_toleration_seconds, namespace_lifecycle

    return [namespace_lifecycle, default_toleration_seconds]

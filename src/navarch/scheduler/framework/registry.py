"""Plugin name -> factory, kept apart from the profiles that enable and weight plugins.

Registering the same name twice with the same factory is a no-op (modules may be imported twice in
tests); a different factory under a taken name is a mistake and raises.
"""

from __future__ import annotations

from typing import Iterator, Mapping

from navarch.scheduler.framework.interface import PluginFactory


class Registry:
    def __init__(self, factories: Mapping[str, PluginFactory] | None = None) -> None:
        self._factories: dict[str, PluginFactory] = {}
        for name, factory in (factories or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: PluginFactory) -> None:
        existing = self._factories.get(name)
        if existing is not None and existing is not factory:
            raise ValueError(f"a plugin named {name!r} already exists")
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        if name not in self._factories:
            raise KeyError(f"no plugin named {name!r} exists")
        del self._factories[name]

    def merge(self, other: "Registry") -> None:
        for name, factory in other.items():
            self.register(name, factory)

    def get(self, name: str) -> PluginFactory:
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(f"plugin {name!r} is not registered") from None

    def items(self) -> Iterator[tuple[str, PluginFactory]]:
        return iter(list(self._factories.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __len__(self) -> int:
        return len(self._factories)

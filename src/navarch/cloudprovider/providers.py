"""Providers by ``--cloud-provider`` name (name -> "module:Class"), imported only when chosen."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from navarch.cloudprovider.interface import Interface

PROVIDERS: dict[str, str] = {
    "stub": "navarch.cloudprovider.stub:StubCloud",
}


def get_provider(name: str, options: Mapping[str, Any] | None = None) -> Interface:
    """Build the named provider; raises ValueError for a name navarch does not know."""
    target = PROVIDERS.get(name)
    if target is None:
        raise ValueError(f"unknown cloud provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(dict(options or {}))

"""In-tree plugins, one module per upstream plugin, each named as upstream names it."""

from __future__ import annotations

from navarch.scheduler.framework.registry import Registry
from navarch.scheduler.plugins import (
    defaultbinder, defaultpreemption, interpodaffinity, nodeaffinity, nodename, nodeports, noderesources,
    nodeunschedulable, podtopologyspread, queuesort, tainttoleration)

_MODULES = (queuesort, nodename, nodeunschedulable, tainttoleration, nodeaffinity, nodeports, noderesources,
            podtopologyspread, interpodaffinity, defaultpreemption, defaultbinder)


def in_tree_registry() -> Registry:
    """A fresh registry of every in-tree plugin (name -> factory)."""
    return Registry({m.NAME: m.new for m in _MODULES})

"""Profiles: which plugins run at which extension point, with what weights, for which schedulerName.

Mirrors KubeSchedulerConfiguration's ``profiles``: each has a ``schedulerName`` (pods choose a
profile with ``spec.schedulerName``), per-point enabled plugins in order, score weights and plugin
args. ``default_profile()`` is upstream's default plugin set, less the plugins navarch lacks
(volume plugins, ImageLocality, NodeResourcesBalancedAllocation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

DEFAULT_SCHEDULER_NAME = "default-scheduler"
EXTENSION_POINTS = ("queue_sort", "pre_filter", "filter", "post_filter", "pre_score", "score", "reserve", "bind")


@dataclass(frozen=True)
class Profile:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    queue_sort: tuple[str, ...] = ()
    pre_filter: tuple[str, ...] = ()
    filter: tuple[str, ...] = ()
    post_filter: tuple[str, ...] = ()
    pre_score: tuple[str, ...] = ()
    score: tuple[str, ...] = ()
    reserve: tuple[str, ...] = ()
    bind: tuple[str, ...] = ()
    # Score plugin -> weight (default 1).
    weights: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    # Plugin -> its args (as a plugin's ``args`` in KubeSchedulerConfiguration).
    plugin_args: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def plugin_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for point in EXTENSION_POINTS:
            for name in getattr(self, point):
                seen.setdefault(name, None)
        return list(seen)

    def weight(self, name: str) -> int:
        return int(self.weights.get(name, 1))


def default_profile(scheduler_name: str = DEFAULT_SCHEDULER_NAME) -> Profile:
    """Upstream's defaults (pkg/scheduler/apis/config/v1/default_plugins.go), in upstream's order."""
    return Profile(
        scheduler_name=scheduler_name,
        queue_sort=("PrioritySort",),
        pre_filter=("NodeAffinity", "NodePorts", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"),
        filter=("NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"),
        post_filter=("DefaultPreemption",),
        pre_score=("TaintToleration", "NodeAffinity", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"),
        score=("TaintToleration", "NodeAffinity", "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"),
        reserve=(),
        bind=("DefaultBinder",),
        # Upstream's default weights: TaintToleration 3, NodeAffinity 2, PodTopologySpread 2,
        # InterPodAffinity 2, NodeResourcesFit 1.
        weights=MappingProxyType({"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1,
                                  "PodTopologySpread": 2, "InterPodAffinity": 2}),
    )

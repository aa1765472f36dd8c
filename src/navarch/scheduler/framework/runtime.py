"""The framework runtime: plugins instantiated from a profile and run at each extension point.

Rules kept from upstream's frameworkImpl:
- PreFilter: a Skip drops that plugin's Filter for this pod; a rejection ends the cycle (every node
  gets that status); PreFilterResults narrow the nodes (intersection).
- Filter: plugins run in profile order and the first non-success decides the node's status.
- PostFilter: runs in order until one succeeds or one says UnschedulableAndUnresolvable.
- PreScore: a Skip drops that plugin's Score; Score totals are weighted sums of normalized scores.
- Bind: the first binder that does not Skip decides.
A plugin that raises becomes an Error status naming it; the loop never dies of a plugin bug.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np

from navarch.scheduler.framework.interface import (
    BindPlugin, CycleState, EnqueueExtensions, FilterPlugin, Handle, NodeScore, Plugin, PostFilterPlugin,
    PostFilterResult, PreFilterPlugin, PreFilterResult, PreScorePlugin, QueueSortPlugin, ReservePlugin,
    ScoreExtensions, ScorePlugin)
from navarch.scheduler.framework.profile import Profile
from navarch.scheduler.framework.registry import Registry
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import ClusterEvent, NodeInfo, PodInfo

log = logging.getLogger(__name__)

_POINTS: Mapping[str, type] = {
    "queue_sort": QueueSortPlugin, "pre_filter": PreFilterPlugin, "filter": FilterPlugin,
    "post_filter": PostFilterPlugin, "pre_score": PreScorePlugin, "score": ScorePlugin,
    "reserve": ReservePlugin, "bind": BindPlugin,
}


class Framework:
    def __init__(self, profile: Profile, registry: Registry, handle: Handle) -> None:
        self.profile = profile
        self.handle = handle
        self.plugins: dict[str, Plugin] = {}
        for name in profile.plugin_names():
            plugin = registry.get(name)(profile.plugin_args.get(name) or {}, handle)
            self.plugins[name] = plugin
        points: dict[str, list[Any]] = {}
        for point, proto in _POINTS.items():
            plugins = []
            for name in getattr(profile, point):
                plugin = self.plugins[name]
                if not isinstance(plugin, proto):
                    raise ValueError(f"plugin {name!r} does not implement the {point} extension point")
                plugins.append(plugin)
            points[point] = plugins
        self.queue_sort_plugins: list[QueueSortPlugin] = points["queue_sort"]
        self.pre_filter_plugins: list[PreFilterPlugin] = points["pre_filter"]
        self.filter_plugins: list[FilterPlugin] = points["filter"]
        self.post_filter_plugins: list[PostFilterPlugin] = points["post_filter"]
        self.pre_score_plugins: list[PreScorePlugin] = points["pre_score"]
        self.score_plugins: list[ScorePlugin] = points["score"]
        self.reserve_plugins: list[ReservePlugin] = points["reserve"]
        self.bind_plugins: list[BindPlugin] = points["bind"]
        if len(self.queue_sort_plugins) > 1:
            raise ValueError("only one queue sort plugin can be enabled")
        self.weights = {p.name: profile.weight(p.name) for p in self.score_plugins}
        # isinstance against a Protocol is slow; the answer per plugin never changes.
        self._normalizes = {p.name: isinstance(p, ScoreExtensions) for p in self.score_plugins}

    @property
    def scheduler_name(self) -> str:
        return self.profile.scheduler_name

    def events_to_register(self) -> dict[str, list[ClusterEvent]]:
        """Plugin name -> the cluster events that may make pods it rejected schedulable."""
        out: dict[str, list[ClusterEvent]] = {}
        for name, plugin in self.plugins.items():
            if isinstance(plugin, EnqueueExtensions):
                out[name] = list(plugin.events_to_register())
        return out

    # ---- scheduling cycle ----------------------------------------------------------------------

    def run_pre_filter(self, state: CycleState, pod: PodInfo,
                       nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        result: PreFilterResult | None = None
        for pl in self.pre_filter_plugins:
            try:
                r, s = pl.pre_filter(state, pod, nodes)
            except Exception as e:  # noqa: BLE001
                log.exception("PreFilter plugin %s failed", pl.name)
                return None, Status.from_error(e, pl.name)
            if s is not None and s.code != Code.SUCCESS:
                if s.code == Code.SKIP:
                    state.skip_filter.add(pl.name)
                    continue
                return None, s.with_plugin(pl.name)
            if r is not None and r.node_names is not None:
                names = r.node_names if result is None or result.node_names is None \
                    else result.node_names & r.node_names
                result = PreFilterResult(names)
                if not names:
                    return result, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                          "node(s) didn't satisfy plugin(s) [" + pl.name + "]",
                                          plugin=pl.name)
        return result, None

    def active_filters(self, state: CycleState) -> list[FilterPlugin]:
        skip = state.skip_filter
        return [pl for pl in self.filter_plugins if pl.name not in skip] if skip else list(self.filter_plugins)

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo,
                    filters: Sequence[FilterPlugin] | None = None) -> Status | None:
        for pl in self.active_filters(state) if filters is None else filters:
            try:
                s = pl.filter(state, pod, node)
            except Exception as e:  # noqa: BLE001
                log.exception("Filter plugin %s failed on node %s", pl.name, node.name)
                return Status.from_error(e, pl.name)
            if s is not None and s.code != Code.SUCCESS:
                if not s.plugin:
                    s.plugin = pl.name
                return s
        return None

    def run_post_filter(self, state: CycleState, pod: PodInfo,
                        statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status]:
        reasons: list[str] = []
        result: PostFilterResult | None = None
        for pl in self.post_filter_plugins:
            try:
                r, s = pl.post_filter(state, pod, statuses)
            except Exception as e:  # noqa: BLE001
                log.exception("PostFilter plugin %s failed", pl.name)
                return None, Status.from_error(e, pl.name)
            if s is None or s.code == Code.SUCCESS:
                return r, s or Status(Code.SUCCESS, plugin=pl.name)
            if s.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                return r, s.with_plugin(pl.name)
            if not s.is_rejected():
                return None, s.with_plugin(pl.name)
            reasons.extend(s.reasons)
            if r is not None and r.nominated_node_name:
                result = r
        return result, Status(Code.UNSCHEDULABLE, *reasons)

    def run_pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        for pl in self.pre_score_plugins:
            try:
                s = pl.pre_score(state, pod, nodes)
            except Exception as e:  # noqa: BLE001
                log.exception("PreScore plugin %s failed", pl.name)
                return Status.from_error(e, pl.name)
            if s is not None and s.code != Code.SUCCESS:
                if s.code == Code.SKIP:
                    state.skip_score.add(pl.name)
                    continue
                return s.with_plugin(pl.name)
        return None

    def run_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                  arrays: Any = None, rows: Any = None) -> Any:
        """Weighted totals per node, in ``nodes`` order (a numpy array when ``arrays`` and their
        ``rows`` for ``nodes`` are given, so plugins with ``score_array`` score all rows at once).
        Raises on a plugin error."""
        vector = arrays is not None and rows is not None
        totals: Any = np.zeros(len(nodes), dtype=np.int64) if vector else [0] * len(nodes)
        skip = state.skip_score
        for pl in self.score_plugins:
            if pl.name in skip:
                continue
            weight = self.weights[pl.name]
            score_array = getattr(pl, "score_array", None) if vector else None
            normalizes = self._normalizes[pl.name]
            if score_array is not None and not normalizes:
                totals += score_array(state, pod, arrays, rows) * weight
                continue
            score = pl.score
            raw = [score(state, pod, n) for n in nodes]
            if normalizes:
                scores = [NodeScore(n.name, s) for n, s in zip(nodes, raw)]
                s = pl.normalize_score(state, pod, scores)
                if s is not None and s.code != Code.SUCCESS:
                    raise RuntimeError(f"NormalizeScore plugin {pl.name}: {s.message()}")
                raw = [ns.score for ns in scores]
            if vector:
                totals += np.asarray(raw, dtype=np.int64) * weight
            else:
                for i, v in enumerate(raw):
                    totals[i] += v * weight
        return totals

    def run_reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        for pl in self.reserve_plugins:
            try:
                s = pl.reserve(state, pod, node_name)
            except Exception as e:  # noqa: BLE001
                s = Status.from_error(e, pl.name)
            if s is not None and s.code != Code.SUCCESS:
                return s.with_plugin(pl.name)
        return None

    def run_unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        for pl in reversed(self.reserve_plugins):
            try:
                pl.unreserve(state, pod, node_name)
            except Exception:  # noqa: BLE001
                log.exception("Unreserve plugin %s failed", pl.name)

    # ---- binding cycle -------------------------------------------------------------------------

    async def run_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        if not self.bind_plugins:
            return Status(Code.ERROR, "no bind plugin is enabled")
        for pl in self.bind_plugins:
            try:
                s = await pl.bind(state, pod, node_name)
            except Exception as e:  # noqa: BLE001
                return Status.from_error(e, pl.name)
            if s is not None and s.code == Code.SKIP:
                continue
            return None if s is None or s.code == Code.SUCCESS else s.with_plugin(pl.name)
        return Status(Code.ERROR, "all bind plugins skipped the pod")

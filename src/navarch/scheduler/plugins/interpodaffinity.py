"""InterPodAffinity: required and preferred pod affinity and anti-affinity, both the incoming pod's
and the anti-affinity of pods already running (a running pod can keep newcomers out of its domain).

PreFilter counts, per (topology key, value), the existing pods matching each of the incoming pod's
terms and the existing pods whose anti-affinity matches the incoming pod; Filter is then a few dict
lookups per node. When neither the pod nor any running pod has such terms the plugin Skips, so
ordinary pods cost nothing here (no pods x nodes x pods scan).

Upstream: pkg/scheduler/framework/plugins/interpodaffinity (filtering.go, scoring.go).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from navarch.scheduler.framework.interface import CycleState, Handle, NodeScore, PreFilterResult
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import (
    MAX_NODE_SCORE, NODE, POD, ActionType, AffinityTerm, ClusterEvent, NodeInfo, PodInfo)

NAME = "InterPodAffinity"
ERR_REASON_AFFINITY = "node(s) didn't match pod affinity rules"
ERR_REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
ERR_REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
DEFAULT_HARD_POD_AFFINITY_WEIGHT = 1
_PREFILTER_KEY = "PreFilter" + NAME
_PRESCORE_KEY = "PreScore" + NAME

Pair = tuple[str, str]


class _FilterState:
    __slots__ = ("existing_anti", "affinity", "anti", "pod_matches_own_affinity")

    def __init__(self) -> None:
        self.existing_anti: dict[Pair, int] = {}
        self.affinity: dict[Pair, int] = {}
        self.anti: dict[Pair, int] = {}
        self.pod_matches_own_affinity = False


def _inc(counts: dict[Pair, int], key: str, labels: Mapping[str, str]) -> None:
    value = labels.get(key)
    if value is not None:
        pair = (key, value)
        counts[pair] = counts.get(pair, 0) + 1


class InterPodAffinity:
    name: ClassVar[str] = NAME

    def __init__(self, handle: Handle, hard_weight: int) -> None:
        self.handle = handle
        self.hard_weight = hard_weight

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
                ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL)]

    def _ns_labels(self, terms: Sequence[AffinityTerm]) -> Mapping[str, Mapping[str, str]] | None:
        if any(t.namespace_selector is not None for t in terms):
            return self.handle.namespace_labels()
        return None

    # ---- filter ----------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        if pod.parse_error:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, pod.parse_error)
        with_anti = self.handle.nodes_with_required_anti_affinity_pods()
        if not pod.required_affinity and not pod.required_anti_affinity and not with_anti:
            return None, Status(Code.SKIP)
        s = _FilterState()
        for node in with_anti:
            for existing in node.pods_with_required_anti_affinity.values():
                ns_labels = self._ns_labels(existing.required_anti_affinity)
                for term in existing.required_anti_affinity:
                    if term.matches(pod, ns_labels):
                        _inc(s.existing_anti, term.topology_key, node.labels)
        if pod.required_affinity or pod.required_anti_affinity:
            aff_ns = self._ns_labels(pod.required_affinity)
            anti_ns = self._ns_labels(pod.required_anti_affinity)
            for node in nodes:
                if node.node is None:
                    continue
                for existing in node.pods.values():
                    if pod.required_affinity and all(t.matches(existing, aff_ns) for t in pod.required_affinity):
                        for t in pod.required_affinity:
                            _inc(s.affinity, t.topology_key, node.labels)
                    for t in pod.required_anti_affinity:
                        if t.matches(existing, anti_ns):
                            _inc(s.anti, t.topology_key, node.labels)
            s.pod_matches_own_affinity = bool(pod.required_affinity) and all(
                t.matches(pod, aff_ns) for t in pod.required_affinity)
        state.write(_PREFILTER_KEY, s)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state.read(_PREFILTER_KEY)
        labels = node.labels
        if pod.required_affinity:
            ok = True
            for t in pod.required_affinity:
                value = labels.get(t.topology_key)
                if value is None or s.affinity.get((t.topology_key, value), 0) <= 0:
                    ok = False
                    break
            # The first pod of a group that selects itself may go anywhere its terms' keys exist.
            if not ok and not s.affinity and s.pod_matches_own_affinity:
                ok = all(t.topology_key in labels for t in pod.required_affinity)
            if not ok:
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_AFFINITY)
        if s.anti:
            for t in pod.required_anti_affinity:
                value = labels.get(t.topology_key)
                if value is not None and s.anti.get((t.topology_key, value), 0) > 0:
                    return Status(Code.UNSCHEDULABLE, ERR_REASON_ANTI_AFFINITY)
        if s.existing_anti:
            for key, value in labels.items():
                if s.existing_anti.get((key, value), 0) > 0:
                    return Status(Code.UNSCHEDULABLE, ERR_REASON_EXISTING_ANTI_AFFINITY)
        return None

    # ---- score -----------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        has_preferred = bool(pod.preferred_affinity or pod.preferred_anti_affinity)
        with_affinity = self.handle.nodes_with_affinity_pods()
        if not has_preferred and not with_affinity:
            return Status(Code.SKIP)
        scores: dict[Pair, int] = {}
        source = [n for n in self.handle.node_infos() if n.node is not None] if has_preferred else with_affinity
        ns_labels = self.handle.namespace_labels()

        def add(term: AffinityTerm, weight: int, node: NodeInfo) -> None:
            value = node.labels.get(term.topology_key)
            if value is not None:
                pair = (term.topology_key, value)
                scores[pair] = scores.get(pair, 0) + weight

        for node in source:
            existing_pods = node.pods.values() if has_preferred else node.pods_with_affinity.values()
            for existing in existing_pods:
                for wt in pod.preferred_affinity:
                    if wt.term.matches(existing, ns_labels):
                        add(wt.term, wt.weight, node)
                for wt in pod.preferred_anti_affinity:
                    if wt.term.matches(existing, ns_labels):
                        add(wt.term, -wt.weight, node)
                if self.hard_weight > 0:
                    for term in existing.required_affinity:
                        if term.matches(pod, ns_labels):
                            add(term, self.hard_weight, node)
                for wt in existing.preferred_affinity:
                    if wt.term.matches(pod, ns_labels):
                        add(wt.term, wt.weight, node)
                for wt in existing.preferred_anti_affinity:
                    if wt.term.matches(pod, ns_labels):
                        add(wt.term, -wt.weight, node)
        state.write(_PRESCORE_KEY, scores)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        scores: dict[Pair, int] = state.read(_PRESCORE_KEY)
        if not scores:
            return 0
        labels = node.labels
        return sum(w for (key, value), w in scores.items() if labels.get(key) == value)

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status | None:
        if not scores:
            return None
        lo = min(s.score for s in scores)
        hi = max(s.score for s in scores)
        diff = hi - lo
        for s in scores:
            s.score = MAX_NODE_SCORE * (s.score - lo) // diff if diff > 0 else 0
        return None


def new(args: Mapping[str, Any], handle: Any) -> InterPodAffinity:
    return InterPodAffinity(handle, int(args.get("hardPodAffinityWeight", DEFAULT_HARD_POD_AFFINITY_WEIGHT)))

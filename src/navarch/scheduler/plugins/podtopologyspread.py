"""PodTopologySpread: keep matching pods spread across topology domains (zones, hosts...).

``DoNotSchedule`` constraints filter: placing the pod in a domain must not make that domain exceed
the least-loaded eligible domain by more than ``maxSkew``. ``ScheduleAnyway`` constraints score:
fewer matching pods in the node's domains is better, each constraint weighted by log(domains + 2).
Eligible nodes have every constraint's topology key and (``nodeAffinityPolicy: Honor``, the default)
match the pod's node affinity/selector; with ``nodeTaintsPolicy: Honor`` they also carry no taint
the pod does not tolerate. ``minDomains``: with fewer eligible domains the global minimum is 0.
``matchLabelKeys`` adds the pod's own values for those keys to the selector.
Not done: the system default constraints upstream applies to pods owned by Services/ReplicaSets.

Upstream: pkg/scheduler/framework/plugins/podtopologyspread (filtering.go, scoring.go).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping, Sequence

from navarch.api.selectors import EQUALS, LabelSelector, Requirement, label_selector_from_object
from navarch.scheduler.framework.interface import CycleState, Handle, NodeScore, PreFilterResult
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import MAX_NODE_SCORE, NODE, POD, ActionType, ClusterEvent, NodeInfo, PodInfo
from navarch.scheduler.plugins.helpers import find_untolerated_taint, required_node_affinity_matches

NAME = "PodTopologySpread"
ERR_REASON_CONSTRAINTS_NOT_MATCH = "node(s) didn't match pod topology spread constraints"
ERR_REASON_NODE_LABEL_NOT_MATCH = ERR_REASON_CONSTRAINTS_NOT_MATCH + " (missing required label)"
HOSTNAME = "kubernetes.io/hostname"
_PREFILTER_KEY = "PreFilter" + NAME
_PRESCORE_KEY = "PreScore" + NAME


class Constraint:
    __slots__ = ("max_skew", "topology_key", "selector", "min_domains", "honor_affinity", "honor_taints")

    def __init__(self, raw: Mapping[str, Any], pod: PodInfo) -> None:
        self.max_skew = int(raw.get("maxSkew") or 1)
        self.topology_key = str(raw.get("topologyKey") or "")
        selector = label_selector_from_object(raw.get("labelSelector"))
        extra = [Requirement(k, EQUALS, (pod.labels[k],)) for k in raw.get("matchLabelKeys") or [] if k in pod.labels]
        if extra and not selector.nothing:
            selector = LabelSelector(tuple(sorted(selector.requirements + tuple(extra), key=lambda r: r.key)))
        self.selector = selector
        self.min_domains = int(raw.get("minDomains") or 1)
        self.honor_affinity = (raw.get("nodeAffinityPolicy") or "Honor") == "Honor"
        self.honor_taints = (raw.get("nodeTaintsPolicy") or "Ignore") == "Honor"

    def node_eligible(self, pod: PodInfo, node: NodeInfo) -> bool:
        if self.honor_affinity and not required_node_affinity_matches(pod.spec, node):
            return False
        if self.honor_taints and find_untolerated_taint(node.taints, pod.tolerations, ("NoSchedule", "NoExecute")):
            return False
        return True

    def count_matching(self, pod: PodInfo, node: NodeInfo) -> int:
        ns, sel = pod.namespace, self.selector
        return sum(1 for p in node.pods.values() if p.namespace == ns and not p.deleting and sel.matches(p.labels))


def constraints_of(pod: PodInfo, when: str) -> list[Constraint]:
    return [Constraint(c, pod) for c in pod.spec.get("topologySpreadConstraints") or []
            if c.get("whenUnsatisfiable", "DoNotSchedule") == when]


def _has_all_keys(node: NodeInfo, constraints: Sequence[Constraint]) -> bool:
    labels = node.labels
    return all(c.topology_key in labels for c in constraints)


class _FilterState:
    __slots__ = ("constraints", "counts", "min_match")

    def __init__(self, constraints: list[Constraint]) -> None:
        self.constraints = constraints
        self.counts: list[dict[str, int]] = [{} for _ in constraints]
        self.min_match: list[int] = [0] * len(constraints)


class PodTopologySpread:
    name: ClassVar[str] = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ActionType.ADD | ActionType.UPDATE_POD_LABEL | ActionType.DELETE),
                ClusterEvent(NODE, ActionType.ADD | ActionType.DELETE | ActionType.UPDATE_NODE_LABEL
                             | ActionType.UPDATE_NODE_TAINT)]

    # ---- filter ----------------------------------------------------------------------------------

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        try:
            constraints = constraints_of(pod, "DoNotSchedule")
        except Exception as e:  # noqa: BLE001 - a bad selector can never be satisfied
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, str(e))
        if not constraints:
            return None, Status(Code.SKIP)
        s = _FilterState(constraints)
        for node in nodes:
            if node.node is None or not _has_all_keys(node, constraints):
                continue
            for i, c in enumerate(constraints):
                if not c.node_eligible(pod, node):
                    continue
                value = node.labels[c.topology_key]
                s.counts[i][value] = s.counts[i].get(value, 0) + c.count_matching(pod, node)
        for i, c in enumerate(constraints):
            domains = s.counts[i]
            s.min_match[i] = 0 if len(domains) < c.min_domains else min(domains.values(), default=0)
        state.write(_PREFILTER_KEY, s)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        s: _FilterState = state.read(_PREFILTER_KEY)
        labels = node.labels
        for i, c in enumerate(s.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_NODE_LABEL_NOT_MATCH)
            self_match = 1 if c.selector.matches(pod.labels) else 0
            skew = s.counts[i].get(value, 0) + self_match - s.min_match[i]
            if skew > c.max_skew:
                return Status(Code.UNSCHEDULABLE, ERR_REASON_CONSTRAINTS_NOT_MATCH)
        return None

    # ---- score -----------------------------------------------------------------------------------

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        try:
            constraints = constraints_of(pod, "ScheduleAnyway")
        except Exception:  # noqa: BLE001
            return Status(Code.SKIP)
        if not constraints:
            return Status(Code.SKIP)
        ignored = {n.name for n in nodes if not _has_all_keys(n, constraints)}
        counts: list[dict[str, int]] = [{} for _ in constraints]
        domains: list[set[str]] = [set() for _ in constraints]
        for n in nodes:
            if n.name in ignored:
                continue
            for i, c in enumerate(constraints):
                domains[i].add(n.labels[c.topology_key])
        # Non-hostname domains count pods on every eligible node of the cluster, not only candidates.
        if any(c.topology_key != HOSTNAME for c in constraints):
            from_all = self.handle.node_infos()
            for n in from_all:
                if n.node is None or not _has_all_keys(n, constraints):
                    continue
                for i, c in enumerate(constraints):
                    if c.topology_key == HOSTNAME or not c.node_eligible(pod, n):
                        continue
                    value = n.labels[c.topology_key]
                    if value in domains[i]:
                        counts[i][value] = counts[i].get(value, 0) + c.count_matching(pod, n)
        weights = [math.log(len(domains[i]) + 2) for i in range(len(constraints))]
        state.write(_PRESCORE_KEY, (constraints, counts, weights, ignored))
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        constraints, counts, weights, ignored = state.read(_PRESCORE_KEY)
        if node.name in ignored:
            return 0
        total = 0.0
        for i, c in enumerate(constraints):
            if c.topology_key == HOSTNAME:
                n = c.count_matching(pod, node)
            else:
                n = counts[i].get(node.labels[c.topology_key], 0)
            total += n * weights[i] + (c.max_skew - 1)
        return int(math.floor(total + 0.5))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status | None:
        ignored = state.read(_PRESCORE_KEY)[3]
        live = [s.score for s in scores if s.name not in ignored]
        if not live:
            return None
        lo, hi = min(live), max(live)
        for s in scores:
            if s.name in ignored:
                s.score = 0
            elif hi == 0:
                s.score = MAX_NODE_SCORE
            else:
                s.score = MAX_NODE_SCORE * (hi + lo - s.score) // hi
        return None


def new(args: Mapping[str, Any], handle: Any) -> PodTopologySpread:
    if args.get("defaultConstraints"):
        raise ValueError("PodTopologySpread defaultConstraints are not supported by navarch")
    return PodTopologySpread(handle)

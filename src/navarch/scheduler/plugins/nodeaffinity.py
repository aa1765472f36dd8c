"""NodeAffinity: ``nodeSelector`` and required node affinity filter; preferred terms score."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from navarch.scheduler.framework.interface import CycleState, NodeScore, PreFilterResult
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import MAX_NODE_SCORE, NODE, ActionType, ClusterEvent, NodeInfo, PodInfo
from navarch.scheduler.plugins.helpers import (
    default_normalize_score, node_selector_term_matches, required_node_affinity_matches)

NAME = "NodeAffinity"
ERR_REASON_POD = "node(s) didn't match Pod's node affinity/selector"
_PRESCORE_KEY = "PreScore" + NAME


def _node_affinity(pod: PodInfo) -> Mapping[str, Any]:
    return (pod.spec.get("affinity") or {}).get("nodeAffinity") or {}


class NodeAffinity:
    name: ClassVar[str] = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_LABEL)]

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        spec = pod.spec
        required = _node_affinity(pod).get("requiredDuringSchedulingIgnoredDuringExecution")
        if not spec.get("nodeSelector") and not required:
            return None, Status(Code.SKIP)
        # Terms that pin metadata.name with In narrow the nodes to look at (upstream does the same).
        if required and not spec.get("nodeSelector"):
            names: set[str] | None = set()
            for term in required.get("nodeSelectorTerms") or []:
                pinned = [f for f in term.get("matchFields") or []
                          if f.get("key") == "metadata.name" and f.get("operator") == "In"]
                if not pinned:
                    names = None
                    break
                assert names is not None
                names.update(pinned[0].get("values") or [])
            if names is not None:
                return PreFilterResult(frozenset(names)), None
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not required_node_affinity_matches(pod.spec, node):
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_POD)
        return None

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        preferred = _node_affinity(pod).get("preferredDuringSchedulingIgnoredDuringExecution") or []
        if not preferred:
            return Status(Code.SKIP)
        state.write(_PRESCORE_KEY, [(int(t.get("weight") or 0), t.get("preference") or {}) for t in preferred])
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        return sum(w for w, term in state.read(_PRESCORE_KEY) if w and node_selector_term_matches(term, node))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, False, scores)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodeAffinity:
    return NodeAffinity()

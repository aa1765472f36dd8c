"""TaintToleration: NoSchedule and NoExecute taints keep out pods that do not tolerate them;
PreferNoSchedule taints lower a node's score by how many the pod does not tolerate."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from navarch.scheduler.framework.interface import CycleState, NodeScore
from navarch.scheduler.framework.nodearrays import NODE_ARRAYS, NodeArrays
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import MAX_NODE_SCORE, NODE, POD, ActionType, ClusterEvent, NodeInfo, PodInfo
from navarch.scheduler.plugins.helpers import default_normalize_score, find_untolerated_taint, tolerated

NAME = "TaintToleration"
_STATE_KEY = "PreScore" + NAME
_FILTER_EFFECTS = ("NoSchedule", "NoExecute")


def untolerated_taint_reason(taint: Mapping[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


class TaintToleration:
    name: ClassVar[str] = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT),
                ClusterEvent(POD, ActionType.UPDATE_POD_TOLERATIONS)]

    def filter_mask(self, state: CycleState, pod: PodInfo, arrays: NodeArrays) -> np.ndarray:
        return arrays.plain

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if not node.taints:
            return None
        taint = find_untolerated_taint(node.taints, pod.tolerations, _FILTER_EFFECTS)
        if taint is None:
            return None
        return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, untolerated_taint_reason(taint))

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        # With no PreferNoSchedule taint on any candidate every node scores the same: skip the work.
        arrays = state.get(NODE_ARRAYS)
        if arrays is not None and not arrays.prefer_no_schedule:
            return Status(Code.SKIP)
        if not any(t.get("effect") == "PreferNoSchedule" for n in nodes for t in n.taints):
            return Status(Code.SKIP)
        tolerations = [t for t in pod.tolerations if not t.get("effect") or t.get("effect") == "PreferNoSchedule"]
        state.write(_STATE_KEY, tolerations)
        return None

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        tolerations = state.read(_STATE_KEY)
        return sum(1 for t in node.taints if t.get("effect") == "PreferNoSchedule" and not tolerated(t, tolerations))

    def normalize_score(self, state: CycleState, pod: PodInfo, scores: list[NodeScore]) -> Status | None:
        default_normalize_score(MAX_NODE_SCORE, True, scores)
        return None


def new(args: Mapping[str, Any], handle: Any) -> TaintToleration:
    return TaintToleration()

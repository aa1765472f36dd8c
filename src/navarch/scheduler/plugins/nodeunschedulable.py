"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take only pods that tolerate the
``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

import numpy as np

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.nodearrays import NodeArrays
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import NODE, ActionType, ClusterEvent, NodeInfo, PodInfo
from navarch.scheduler.plugins.helpers import tolerated

NAME = "NodeUnschedulable"
ERR_REASON_UNSCHEDULABLE = "node(s) were unschedulable"
ERR_REASON_UNKNOWN_CONDITION = "node(s) had unknown conditions"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}


class NodeUnschedulable:
    name: ClassVar[str] = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_TAINT)]

    def filter_mask(self, state: CycleState, pod: PodInfo, arrays: NodeArrays) -> np.ndarray:
        return arrays.plain

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.node is None:
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_UNKNOWN_CONDITION)
        if node.unschedulable and not tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON_UNSCHEDULABLE)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodeUnschedulable:
    return NodeUnschedulable()

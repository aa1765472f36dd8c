"""NodeName: a pod that names its node (``spec.nodeName`` before binding) fits only there."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import NODE, ActionType, ClusterEvent, NodeInfo, PodInfo

NAME = "NodeName"
ERR_REASON = "node(s) didn't match the requested node name"


class NodeName:
    name: ClassVar[str] = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(NODE, ActionType.ADD)]

    def filter_mask(self, state: CycleState, pod: PodInfo, arrays: Any) -> bool | None:
        return None if pod.node_name else True

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if pod.node_name and pod.node_name != node.name:
            return Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, ERR_REASON)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodeName:
    return NodeName()

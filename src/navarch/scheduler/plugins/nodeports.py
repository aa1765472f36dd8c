"""NodePorts: two pods cannot take the same host port (and protocol) on one node."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

from navarch.scheduler.framework.interface import CycleState, PreFilterResult
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import NODE, POD, ActionType, ClusterEvent, NodeInfo, PodInfo

NAME = "NodePorts"
ERR_REASON = "node(s) didn't have free ports for the requested pod ports"


class NodePorts:
    name: ClassVar[str] = NAME

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ActionType.DELETE), ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE)]

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        if not pod.host_ports:
            return None, Status(Code.SKIP)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if node.used_ports:
            for port in pod.host_ports:
                if node.port_in_use(port):
                    return Status(Code.UNSCHEDULABLE, ERR_REASON)
        return None


def new(args: Mapping[str, Any], handle: Any) -> NodePorts:
    return NodePorts()

"""NodeResourcesFit: the pod's requests (init containers, sidecars and overhead included, see
``pod_requests``) must fit in what the node has left, and one more pod must fit its pod count.
Scores with the LeastAllocated strategy: the emptier the node after placing the pod, the better.

Upstream: pkg/scheduler/framework/plugins/noderesources (fit.go, least_allocated.go).
"""

from __future__ import annotations

from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from navarch.scheduler.framework.interface import CycleState, PreFilterResult
from navarch.scheduler.framework.nodearrays import NodeArrays
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import MAX_NODE_SCORE, NODE, POD, ActionType, ClusterEvent, NodeInfo, PodInfo

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"
REASON_CPU = "Insufficient cpu"
REASON_MEMORY = "Insufficient memory"
REASON_EPHEMERAL = "Insufficient ephemeral-storage"


def insufficient_resources(pod: PodInfo, node: NodeInfo) -> list[str]:
    reasons: list[str] = []
    alloc, used, req = node.allocatable, node.requested, pod.requests
    if len(node.pods) + 1 > alloc.allowed_pods:
        reasons.append(REASON_TOO_MANY_PODS)
    if req.milli_cpu > 0 and req.milli_cpu > alloc.milli_cpu - used.milli_cpu:
        reasons.append(REASON_CPU)
    if req.memory > 0 and req.memory > alloc.memory - used.memory:
        reasons.append(REASON_MEMORY)
    if req.ephemeral_storage > 0 and req.ephemeral_storage > alloc.ephemeral_storage - used.ephemeral_storage:
        reasons.append(REASON_EPHEMERAL)
    for name, q in req.scalar.items():
        if q and q > alloc.scalar.get(name, 0) - used.scalar.get(name, 0):
            reasons.append(f"Insufficient {name}")
    return reasons


class NodeResourcesFit:
    name: ClassVar[str] = NAME

    def __init__(self, resources: Mapping[str, int]) -> None:
        # LeastAllocated over cpu and memory (weight 1 each), upstream's default scoring strategy.
        self.cpu_weight = int(resources.get("cpu", 0))
        self.memory_weight = int(resources.get("memory", 0))
        self.weight_sum = self.cpu_weight + self.memory_weight

    def events_to_register(self) -> list[ClusterEvent]:
        return [ClusterEvent(POD, ActionType.DELETE | ActionType.UPDATE_POD_SCALE_DOWN),
                ClusterEvent(NODE, ActionType.ADD | ActionType.UPDATE_NODE_ALLOCATABLE)]

    def pre_filter(self, state: CycleState, pod: PodInfo,
                   nodes: Sequence[NodeInfo]) -> tuple[PreFilterResult | None, Status | None]:
        if pod.parse_error:
            return None, Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, pod.parse_error)
        return None, None

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        # Inlined fast path of insufficient_resources: most nodes fit, so test before building lists.
        alloc, used, req = node.allocatable, node.requested, pod.requests
        if (len(node.pods) < alloc.allowed_pods
                and req.milli_cpu <= alloc.milli_cpu - used.milli_cpu
                and req.memory <= alloc.memory - used.memory
                and req.ephemeral_storage <= alloc.ephemeral_storage - used.ephemeral_storage
                and not req.scalar):
            return None
        reasons = insufficient_resources(pod, node)
        if reasons:
            return Status(Code.UNSCHEDULABLE, *reasons)
        return None

    def filter_mask(self, state: CycleState, pod: PodInfo, arrays: NodeArrays) -> np.ndarray | None:
        """The nodes ``filter`` certainly passes (see nodearrays.py)."""
        req = pod.requests
        if req.scalar:
            return None
        mask = arrays.pods_free > 0
        if req.milli_cpu > 0:
            mask &= arrays.cpu_free >= req.milli_cpu
        if req.memory > 0:
            mask &= arrays.memory_free >= req.memory
        if req.ephemeral_storage > 0:
            mask &= arrays.ephemeral_free >= req.ephemeral_storage
        return mask

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]) -> Status | None:
        return None

    def score_array(self, state: CycleState, pod: PodInfo, arrays: NodeArrays, rows: np.ndarray) -> np.ndarray:
        """``score`` for many rows at once, with the same integer arithmetic."""
        total = np.zeros(len(rows), dtype=np.int64)
        weights = np.zeros(len(rows), dtype=np.int64)
        for weight, alloc_col, used_col, pod_req in (
                (self.cpu_weight, arrays.alloc_cpu, arrays.non_zero_cpu, pod.non_zero_cpu),
                (self.memory_weight, arrays.alloc_memory, arrays.non_zero_memory, pod.non_zero_memory)):
            if not weight:
                continue
            alloc = alloc_col[rows]
            requested = used_col[rows] + pod_req
            has = alloc > 0
            s = np.where(has & (requested <= alloc), (alloc - requested) * MAX_NODE_SCORE // np.maximum(alloc, 1), 0)
            total += s * weight
            weights += has * weight
        return np.where(weights > 0, total // np.maximum(weights, 1), 0)

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        """LeastAllocated: per resource ``(allocatable - requested) * 100 / allocatable`` with the
        scheduler's non-zero requests, averaged by weight; resources a node lacks are left out."""
        total = weights = 0
        alloc = node.allocatable
        if self.cpu_weight and alloc.milli_cpu:
            requested = node.non_zero_cpu + pod.non_zero_cpu
            s = 0 if requested > alloc.milli_cpu else (alloc.milli_cpu - requested) * MAX_NODE_SCORE // alloc.milli_cpu
            total += s * self.cpu_weight
            weights += self.cpu_weight
        if self.memory_weight and alloc.memory:
            requested = node.non_zero_memory + pod.non_zero_memory
            s = 0 if requested > alloc.memory else (alloc.memory - requested) * MAX_NODE_SCORE // alloc.memory
            total += s * self.memory_weight
            weights += self.memory_weight
        return total // weights if weights else 0


def new(args: Mapping[str, Any], handle: Any) -> NodeResourcesFit:
    strategy = args.get("scoringStrategy") or {}
    if strategy.get("type", "LeastAllocated") != "LeastAllocated":
        raise ValueError(f"NodeResourcesFit scoring strategy {strategy.get('type')!r} is not supported by navarch")
    resources = {r["name"]: int(r.get("weight", 1)) for r in strategy.get("resources") or []} \
        or {"cpu": 1, "memory": 1}
    return NodeResourcesFit(resources)

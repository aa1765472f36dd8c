"""DefaultPreemption: when no node fits, make room by evicting lower-priority pods.

For each node whose rejection preemption could resolve (``Unschedulable``, not
``UnschedulableAndUnresolvable``): remove every pod of lower priority from a copy of the node, check
the pod fits, then put victims back most important first while it still fits; what cannot go back
are the victims. Among candidate nodes pick (as upstream's pickOneNodeForPreemption, less PDBs) the
lowest highest-victim priority, then the lowest sum of victim priorities, then the fewest victims,
then the latest start of the top victims. Victims get a ``DisruptionTarget`` condition and a
``Preempted`` event and are deleted through the API; the preemptor gets ``nominatedNodeName`` and
goes back to the queue, to be scheduled when the deletions arrive.

Known approximation: PodTopologySpread and InterPodAffinity PreFilter state is not recomputed for
the copy without victims (upstream's AddPod/RemovePod PreFilter extensions).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from navarch.client.errors import ApiError, is_not_found
from navarch.machinery.events import NORMAL
from navarch.scheduler.framework.interface import CycleState, Diagnosis, FitError, Handle, PostFilterResult
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import NodeInfo, PodInfo

log = logging.getLogger(__name__)

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100


@dataclass
class Candidate:
    node: str
    victims: list[PodInfo]


def _more_important(p: PodInfo) -> tuple[int, str]:
    # Higher priority first; then the one that started earlier (sort key ascending).
    return (-p.priority, p.start_time or "~")


class DefaultPreemption:
    name: ClassVar[str] = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def post_filter(self, state: CycleState, pod: PodInfo,
                    statuses: Mapping[str, Status]) -> tuple[PostFilterResult | None, Status | None]:
        eligible, why = self._eligible(pod, statuses)
        if not eligible:
            return None, Status(Code.UNSCHEDULABLE, "preemption: " + why)
        nodes = self.handle.node_infos()
        node_statuses: dict[str, Status] = {}
        candidates: list[Candidate] = []
        wanted = max(len(nodes) * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE)
        for node in nodes:
            status = statuses.get(node.name)
            if status is not None and status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                node_statuses[node.name] = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NOT_HELPFUL)
                continue
            victims, status = self.select_victims_on_node(state, pod, node)
            if victims:
                candidates.append(Candidate(node.name, victims))
                if len(candidates) >= wanted:
                    break
            else:
                node_statuses[node.name] = status or Status(Code.ERROR, f"expected at least one victim pod on node {node.name}")
        if not candidates:
            fit = FitError(pod, len(nodes), Diagnosis(node_to_status=node_statuses))
            return PostFilterResult(""), Status(Code.UNSCHEDULABLE, "preemption: " + str(fit))
        best = pick_one_node(candidates)
        self._prepare(pod, best)
        return PostFilterResult(best.node), None

    def _eligible(self, pod: PodInfo, statuses: Mapping[str, Status]) -> tuple[bool, str]:
        if pod.spec.get("preemptionPolicy") == "Never":
            return False, "not eligible due to preemptionPolicy=Never."
        nominated = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated:
            status = statuses.get(nominated)
            if status is None or status.code != Code.UNSCHEDULABLE_AND_UNRESOLVABLE:
                node = self.handle.get_node_info(nominated)
                if node is not None and any(p.deleting and p.priority < pod.priority for p in node.pods.values()):
                    return False, "not eligible due to a terminating pod on the nominated node."
        return True, ""

    def select_victims_on_node(self, state: CycleState, pod: PodInfo,
                               node: NodeInfo) -> tuple[list[PodInfo], Status | None]:
        potential = [p for p in node.pods.values() if p.priority < pod.priority]
        if not potential:
            return [], Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE, NO_VICTIMS)
        copy = node.clone()
        for p in potential:
            copy.remove_pod(p.key)
        status = self.handle.run_filters(state, pod, copy)
        if status is not None and status.code != Code.SUCCESS:
            return [], status
        victims: list[PodInfo] = []
        for p in sorted(potential, key=_more_important):
            copy.add_pod(p)
            s = self.handle.run_filters(state, pod, copy)
            if s is not None and s.code != Code.SUCCESS:
                copy.remove_pod(p.key)
                victims.append(p)
        return victims, None

    def _prepare(self, pod: PodInfo, candidate: Candidate) -> None:
        for victim in candidate.victims:
            self.handle.recorder.event(_ref(victim), NORMAL, "Preempted",
                                       f"Preempted by pod {pod.uid} on node {candidate.node}")
            self.handle.spawn(self._evict(pod, victim), name=f"preempt {victim.key}")

    async def _evict(self, preemptor: PodInfo, victim: PodInfo) -> None:
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                     "message": f"{preemptor.scheduler_name}: preempting to accommodate a higher priority pod"}
        try:
            await self.handle.client.patch("pods", victim.name, {"status": {"conditions": [condition]}},
                                           "strategic", victim.namespace, "status")
            await self.handle.client.delete("pods", victim.name, victim.namespace,
                                            preconditions={"uid": victim.uid} if victim.uid else None)
            log.info("preempted %s to make room for %s", victim.key, preemptor.key)
        except ApiError as e:
            if not is_not_found(e):
                raise


def _ref(p: PodInfo) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "namespace": p.namespace, "name": p.name, "uid": p.uid}


def pick_one_node(candidates: list[Candidate]) -> Candidate:
    def key(c: Candidate) -> tuple[int, int, int, str]:
        top = max(v.priority for v in c.victims)
        total = sum(v.priority + 2 ** 31 for v in c.victims)  # offset keeps negative priorities ordered
        starts = [v.start_time for v in c.victims if v.priority == top]
        earliest = min(starts) if starts else ""
        # Later earliest-start is better: invert by sorting on the negated string ordering below.
        return (top, total, len(c.victims), _invert(earliest))
    return min(candidates, key=key)


def _invert(s: str) -> str:
    return "".join(chr(0x10FFFF - ord(ch)) for ch in s)


def new(args: Mapping[str, Any], handle: Any) -> DefaultPreemption:
    return DefaultPreemption(handle)

"""One scheduling attempt for one pod: PreFilter, Filter over a sample of nodes, PostFilter when
nothing fits, PreScore, Score and host selection (upstream schedule_one.go, schedulePod).

Pure and synchronous: given a framework, the node list and a start index, it returns the chosen
node or raises ``FitError``/``NoNodesAvailable``. The caller (the loop) does the I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from navarch.scheduler.framework.interface import CycleState, Diagnosis, FitError, NoNodesAvailable
from navarch.scheduler.framework.nodearrays import NODE_ARRAYS, NodeArrays
from navarch.scheduler.framework.runtime import Framework
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5


def num_feasible_nodes_to_find(percentage: int, num_all_nodes: int) -> int:
    """How many fitting nodes are enough to stop filtering (upstream numFeasibleNodesToFind):
    all of them below 100 nodes; else ``percentage`` (0: adaptive, 50% minus 1% per 125 nodes, at
    least 5%) of the nodes, but at least 100."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


@dataclass
class ScheduleResult:
    suggested_host: str
    evaluated_nodes: int
    feasible_nodes: int


class Algorithm:
    """Holds what persists across attempts: the rotating start index and the random source."""

    def __init__(self, percentage_of_nodes_to_score: int = 0, rng: random.Random | None = None) -> None:
        self.percentage = percentage_of_nodes_to_score
        self.rng = rng or random.Random()
        self.next_start_node_index = 0
        self._rows: np.ndarray | None = None  # rows of the last feasible list, when masks found it
        self._aranges: dict[int, np.ndarray] = {}

    def schedule_pod(self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                     nominated: Mapping[str, list[PodInfo]] | None = None,
                     arrays: NodeArrays | None = None) -> ScheduleResult:
        """``arrays``, when given, are ``nodes`` as columns (``Cache.arrays()``): the same answer, faster."""
        if not nodes:
            raise NoNodesAvailable()
        if arrays is not None and arrays.nodes is not nodes:
            arrays = None
        if arrays is not None:
            state.write(NODE_ARRAYS, arrays)
        self._rows = None
        feasible, diagnosis = self.find_nodes_that_fit(fwk, state, pod, nodes, nominated or {}, arrays)
        if not feasible:
            raise FitError(pod, len(nodes), diagnosis)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, 1 + len(diagnosis.node_to_status), 1)
        status = fwk.run_pre_score(state, pod, feasible)
        if status is not None:
            raise RuntimeError(status.message())
        rows = self._rows
        if arrays is not None and rows is None:
            rows = np.fromiter((arrays.row[n.name] for n in feasible), dtype=np.int64, count=len(feasible))
        totals = fwk.run_score(state, pod, feasible, arrays, rows)
        host = self.select_host(feasible, totals)
        return ScheduleResult(host, len(feasible) + len(diagnosis.node_to_status), len(feasible))

    def find_nodes_that_fit(self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                            nominated: Mapping[str, list[PodInfo]],
                            arrays: NodeArrays | None = None) -> tuple[list[NodeInfo], Diagnosis]:
        diagnosis = Diagnosis()
        result, status = fwk.run_pre_filter(state, pod, nodes)
        if status is not None:
            if not status.is_rejected():
                raise RuntimeError(status.message())
            # Every node gets the PreFilter's rejection; the message names it once.
            for n in nodes:
                diagnosis.node_to_status[n.name] = status
            diagnosis.pre_filter_msg = status.message()
            if status.plugin:
                diagnosis.unschedulable_plugins.add(status.plugin)
            return [], diagnosis
        filters = fwk.active_filters(state)

        # A nominated node (set by an earlier preemption) is tried first, alone.
        nominated_name = str((pod.pod.get("status") or {}).get("nominatedNodeName") or "")
        if nominated_name and (result is None or result.node_names is None or nominated_name in result.node_names):
            for n in nodes:
                if n.name == nominated_name:
                    if self._fits(fwk, state, pod, n, filters, nominated) is None:
                        return [n], diagnosis
                    break

        candidates: Sequence[NodeInfo] = nodes
        if result is not None and result.node_names is not None:
            candidates = [n for n in nodes if n.name in result.node_names]
        n_all = len(candidates)
        wanted = num_feasible_nodes_to_find(self.percentage, n_all) if n_all == len(nodes) else n_all
        if arrays is not None and not nominated and candidates is nodes and n_all:
            masks = self._filter_masks(filters, state, pod, arrays)
            if masks is not None:
                return self._fit_by_mask(fwk, state, pod, nodes, filters, masks, wanted, diagnosis), diagnosis
        feasible: list[NodeInfo] = []
        start = self.next_start_node_index % n_all if n_all else 0
        processed = 0
        statuses = diagnosis.node_to_status
        filter_fns = [(pl.name, pl.filter) for pl in filters]
        for i in range(n_all):
            node = candidates[(start + i) % n_all]
            processed += 1
            if nominated:
                s = self._fits(fwk, state, pod, node, filters, nominated)
            else:
                # Inlined Framework.run_filters: this loop runs for hundreds of nodes per pod.
                s = None
                try:
                    for name, fn in filter_fns:
                        s = fn(state, pod, node)
                        if s is not None and s.code != Code.SUCCESS:
                            if not s.plugin:
                                s.plugin = name
                            break
                        s = None
                except Exception:  # noqa: BLE001 - the runtime turns it into an Error status
                    s = fwk.run_filters(state, pod, node, filters)
            if s is None:
                feasible.append(node)
                if len(feasible) >= wanted:
                    break
            elif s.code == Code.ERROR:
                raise RuntimeError(s.message())
            else:
                statuses[node.name] = s
                if s.plugin:
                    diagnosis.unschedulable_plugins.add(s.plugin)
        if n_all:
            self.next_start_node_index = (start + processed) % n_all
        if result is not None and result.node_names is not None:
            # Nodes the PreFilter result excluded count as unresolvable for this pod.
            excluded = Status(Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                              "node(s) didn't satisfy plugin(s) [NodeAffinity]")
            for n in nodes:
                if n.name not in result.node_names:
                    statuses[n.name] = excluded
        return feasible, diagnosis

    @staticmethod
    def _filter_masks(filters: list, state: CycleState, pod: PodInfo, arrays: NodeArrays) -> np.ndarray | None:
        """The nodes every filter certainly passes, or None when some filter cannot say (then the
        per-node loop runs, as it must call that filter on every node anyway)."""
        sure: Any = True
        for pl in filters:
            fm = getattr(pl, "filter_mask", None)
            m = fm(state, pod, arrays) if fm is not None else None
            if m is None:
                return None
            if m is not True:
                sure = m if sure is True else sure & m
        if sure is True:
            return np.ones(len(arrays), dtype=bool)
        return sure

    def _fit_by_mask(self, fwk: Framework, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo],
                     filters: list, sure: np.ndarray, wanted: int, diagnosis: Diagnosis) -> list[NodeInfo]:
        """``find_nodes_that_fit``'s loop with the masks: nodes in the rotation order, the first
        ``wanted`` feasible ones; only nodes not certainly passing go through the per-node filters."""
        n_all = len(nodes)
        start = self.next_start_node_index % n_all
        base = self._aranges.get(n_all)
        if base is None:
            self._aranges = {n_all: (base := np.arange(n_all))}
        order = np.concatenate((base[start:], base[:start])) if start else base
        ok = sure[order]
        cum_sure = np.cumsum(ok)
        statuses = diagnosis.node_to_status
        extra = 0
        for pos in np.flatnonzero(~ok).tolist():
            if pos and cum_sure[pos - 1] + extra >= wanted:
                break
            node = nodes[order[pos]]
            s = fwk.run_filters(state, pod, node, filters)
            if s is None:
                ok[pos] = True
                extra += 1
            elif s.code == Code.ERROR:
                raise RuntimeError(s.message())
            else:
                statuses[node.name] = s
                if s.plugin:
                    diagnosis.unschedulable_plugins.add(s.plugin)
        cum = np.cumsum(ok)
        processed = int(np.searchsorted(cum, wanted)) + 1 if cum[-1] >= wanted else n_all
        rows = order[:processed][ok[:processed]]
        self.next_start_node_index = (start + processed) % n_all
        self._rows = rows
        if processed < n_all:
            # Statuses recorded past the cut-off belong to nodes upstream would not have evaluated.
            for pos in np.flatnonzero(~ok[processed:]).tolist():
                statuses.pop(nodes[order[processed + pos]].name, None)
        return [nodes[i] for i in rows.tolist()]

    @staticmethod
    def _fits(fwk: Framework, state: CycleState, pod: PodInfo, node: NodeInfo, filters: list,
              nominated: Mapping[str, list[PodInfo]]) -> Status | None:
        """Filters, and again with the node's nominated pods of equal or higher priority placed there
        (upstream RunFilterPluginsWithNominatedPods), so preemption's room is not stolen."""
        others = [p for p in nominated.get(node.name, ()) if p.key != pod.key and p.priority >= pod.priority]
        if others:
            copy = node.clone()
            for p in others:
                copy.add_pod(p)
            s = fwk.run_filters(state, pod, copy, filters)
            if s is not None:
                return s
        return fwk.run_filters(state, pod, node, filters)

    def select_host(self, nodes: Sequence[NodeInfo], totals: Any) -> str:
        """The highest total; ties broken uniformly at random (as upstream's reservoir sampling)."""
        if isinstance(totals, np.ndarray):
            ties = np.flatnonzero(totals == totals.max()).tolist()
        else:
            best = max(totals)
            ties = [i for i, score in enumerate(totals) if score == best]
        return nodes[ties[0] if len(ties) == 1 else self.rng.choice(ties)].name

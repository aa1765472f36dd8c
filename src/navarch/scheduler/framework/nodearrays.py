"""The cache's nodes as columns (numpy), so the plugins that run for every pod on hundreds of nodes
can answer for all nodes at once instead of one Python call per node.

A plugin may offer, next to its per-node methods, ``filter_mask(state, pod, arrays)`` returning a
boolean array (or ``True``) of the nodes that *certainly* pass its Filter, or None when it cannot
tell for this pod, and ``score_array(state, pod, arrays, rows)`` returning the scores of the given
rows. Masks are hints: a node not marked passing still goes through the per-node filters, which
decide and give the status upstream's messages are built from. Results are therefore the same as
the per-node path's (the unit tests check that on random clusters).

Rows follow ``Cache.node_list()`` order. The cache marks the nodes it changes; ``sync`` rewrites
only those rows, so a scheduling cycle pays for the one node its previous pod was assumed on.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from navarch.scheduler.framework.types import NodeInfo

_HARD_EFFECTS = ("NoSchedule", "NoExecute")
# The CycleState key under which the scheduling cycle leaves the arrays for plugins' Pre* methods.
NODE_ARRAYS = "navarch.io/node-arrays"


class NodeArrays:
    __slots__ = ("nodes", "row", "cpu_free", "memory_free", "ephemeral_free", "pods_free", "alloc_cpu",
                 "alloc_memory", "non_zero_cpu", "non_zero_memory", "plain", "prefer", "prefer_no_schedule")

    def __init__(self, nodes: Sequence[NodeInfo]) -> None:
        n = len(nodes)
        self.nodes = nodes
        self.row = {info.name: i for i, info in enumerate(nodes)}
        self.cpu_free = np.zeros(n, dtype=np.int64)
        self.memory_free = np.zeros(n, dtype=np.int64)
        self.ephemeral_free = np.zeros(n, dtype=np.int64)
        self.pods_free = np.zeros(n, dtype=np.int64)
        self.alloc_cpu = np.zeros(n, dtype=np.int64)
        self.alloc_memory = np.zeros(n, dtype=np.int64)
        self.non_zero_cpu = np.zeros(n, dtype=np.int64)
        self.non_zero_memory = np.zeros(n, dtype=np.int64)
        # Schedulable and without NoSchedule/NoExecute taints: NodeUnschedulable and TaintToleration
        # pass such a node for any pod.
        self.plain = np.zeros(n, dtype=bool)
        self.prefer = np.zeros(n, dtype=bool)  # rows with a PreferNoSchedule taint
        self.prefer_no_schedule = 0  # how many
        for i in range(n):
            self._write(i, nodes[i])

    def __len__(self) -> int:
        return len(self.nodes)

    def sync(self, names: Iterable[str]) -> None:
        row = self.row
        for name in names:
            i = row.get(name)
            if i is not None:
                self._write(i, self.nodes[i])

    def _write(self, i: int, info: NodeInfo) -> None:
        alloc, used = info.allocatable, info.requested
        self.cpu_free[i] = alloc.milli_cpu - used.milli_cpu
        self.memory_free[i] = alloc.memory - used.memory
        self.ephemeral_free[i] = alloc.ephemeral_storage - used.ephemeral_storage
        self.pods_free[i] = alloc.allowed_pods - len(info.pods)
        self.alloc_cpu[i] = alloc.milli_cpu
        self.alloc_memory[i] = alloc.memory
        self.non_zero_cpu[i] = info.non_zero_cpu
        self.non_zero_memory[i] = info.non_zero_memory
        taints = info.taints
        self.plain[i] = (info.node is not None and not info.unschedulable
                         and not any(t.get("effect") in _HARD_EFFECTS for t in taints))
        prefer = any(t.get("effect") == "PreferNoSchedule" for t in taints)
        self.prefer_no_schedule += int(prefer) - int(self.prefer[i])
        self.prefer[i] = prefer

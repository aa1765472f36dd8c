"""The scheduler's cache: node infos kept current by the informers, plus assumed pods.

A pod is *assumed* on its node the moment the scheduling cycle picks the node, before the binding
call returns, so the next cycle already counts its resources. When the pod informer later shows the
pod bound, the assumption is confirmed; if binding fails it is forgotten; if the binding succeeded
but the informer never shows it within ``assumed_ttl`` after binding finished, it expires.

The scheduling cycle reads the live NodeInfos (no snapshot copy): it runs without yielding to the
event loop, so nothing can change under it. ``node_list()`` is rebuilt only when nodes come or go.
Upstream: pkg/scheduler/backend/cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Sequence

from navarch.machinery.clock import Clock, RealClock
from navarch.scheduler.framework.nodearrays import NodeArrays
from navarch.scheduler.framework.types import NodeInfo, PodInfo

log = logging.getLogger(__name__)

DEFAULT_ASSUMED_TTL = 30.0


@dataclass
class _PodState:
    pod: PodInfo
    node: str
    assumed: bool = False
    binding_finished: bool = False
    deadline: float | None = None


class Cache:
    def __init__(self, clock: Clock | None = None, assumed_ttl: float = DEFAULT_ASSUMED_TTL) -> None:
        self.clock = clock or RealClock()
        self.assumed_ttl = assumed_ttl
        self._nodes: dict[str, NodeInfo] = {}
        self._pods: dict[str, _PodState] = {}
        self._node_list: list[NodeInfo] | None = None
        self._with_affinity = 0
        self._with_required_anti_affinity = 0
        self._arrays: NodeArrays | None = None
        self._dirty: set[str] = set()

    # ---- nodes -----------------------------------------------------------------------------------

    def add_node(self, node: dict[str, Any]) -> NodeInfo:
        name = (node.get("metadata") or {}).get("name", "")
        info = self._nodes.get(name)
        if info is None:
            info = NodeInfo()
            self._nodes[name] = info
        had_node = info.node is not None
        info.set_node(node)
        self._dirty.add(name)
        if not had_node:
            self._node_list = None
        return info

    update_node = add_node

    def remove_node(self, name: str) -> None:
        info = self._nodes.get(name)
        if info is None:
            return
        if info.pods:
            # Pods still bound there keep their NodeInfo (as upstream) until they are deleted.
            info.node = None
            info.generation += 1
        else:
            del self._nodes[name]
        self._node_list = None

    def node_list(self) -> list[NodeInfo]:
        """Nodes that exist (not placeholders holding pods of a deleted node), in a stable order."""
        if self._node_list is None:
            self._node_list = [n for n in self._nodes.values() if n.node is not None]
        return self._node_list

    def arrays(self) -> NodeArrays:
        """``node_list()`` as columns, brought up to date with the nodes changed since last asked."""
        nodes = self.node_list()
        if self._arrays is None or self._arrays.nodes is not nodes:
            self._arrays = NodeArrays(nodes)
        elif self._dirty:
            self._arrays.sync(self._dirty)
        self._dirty.clear()
        return self._arrays

    def get_node(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def nodes_with_affinity_pods(self) -> Sequence[NodeInfo]:
        if not self._with_affinity:
            return ()
        return [n for n in self.node_list() if n.pods_with_affinity]

    def nodes_with_required_anti_affinity_pods(self) -> Sequence[NodeInfo]:
        if not self._with_required_anti_affinity:
            return ()
        return [n for n in self.node_list() if n.pods_with_required_anti_affinity]

    # ---- pods ------------------------------------------------------------------------------------

    def assume_pod(self, pod: PodInfo, node: str) -> None:
        if pod.key in self._pods:
            raise ValueError(f"pod {pod.key} is already in the cache and cannot be assumed")
        self._add_to_node(pod, node)
        self._pods[pod.key] = _PodState(pod, node, assumed=True)

    def finish_binding(self, key: str) -> None:
        st = self._pods.get(key)
        if st is not None and st.assumed:
            st.binding_finished = True
            st.deadline = self.clock.monotonic() + self.assumed_ttl

    def forget_pod(self, key: str) -> None:
        st = self._pods.get(key)
        if st is not None and st.assumed:
            self._remove_from_node(st.pod, st.node)
            del self._pods[key]

    def is_assumed(self, key: str) -> bool:
        st = self._pods.get(key)
        return st is not None and st.assumed

    def add_pod(self, pod: PodInfo) -> None:
        """A bound pod from the informer: confirms an assumption, or is added."""
        st = self._pods.get(pod.key)
        if st is not None:
            self._remove_from_node(st.pod, st.node)
        self._add_to_node(pod, pod.node_name)
        self._pods[pod.key] = _PodState(pod, pod.node_name)

    update_pod = add_pod

    def remove_pod(self, key: str) -> None:
        st = self._pods.pop(key, None)
        if st is not None:
            self._remove_from_node(st.pod, st.node)

    def cleanup_expired(self) -> list[str]:
        """Drop assumed pods whose binding finished long ago but never showed up bound."""
        now = self.clock.monotonic()
        expired = [k for k, st in self._pods.items()
                   if st.assumed and st.binding_finished and st.deadline is not None and st.deadline < now]
        for key in expired:
            log.warning("assumed pod %s expired: its binding never showed up", key)
            st = self._pods.pop(key)
            self._remove_from_node(st.pod, st.node)
        return expired

    def pod_count(self) -> int:
        return len(self._pods)

    def get_pod(self, key: str) -> PodInfo | None:
        st = self._pods.get(key)
        return st.pod if st else None

    # ---- internals -------------------------------------------------------------------------------

    def _add_to_node(self, pod: PodInfo, node: str) -> None:
        info = self._nodes.get(node)
        if info is None:
            info = NodeInfo()
            info.name = node
            self._nodes[node] = info
        info.add_pod(pod)
        self._dirty.add(node)
        if pod.has_affinity:
            self._with_affinity += 1
        if pod.required_anti_affinity:
            self._with_required_anti_affinity += 1

    def _remove_from_node(self, pod: PodInfo, node: str) -> None:
        info = self._nodes.get(node)
        if info is None:
            return
        if info.remove_pod(pod.key) is not None:
            self._dirty.add(node)
            if pod.has_affinity:
                self._with_affinity -= 1
            if pod.required_anti_affinity:
                self._with_required_anti_affinity -= 1
        if info.node is None and not info.pods:
            del self._nodes[node]

"""Small builders for scheduler tests: pods, nodes, NodeInfos and a Handle over a fixed snapshot."""

from __future__ import annotations

from typing import Any, Coroutine, Mapping, Sequence

from navarch.scheduler.framework.interface import CycleState
from navarch.scheduler.framework.profile import Profile, default_profile
from navarch.scheduler.framework.runtime import Framework
from navarch.scheduler.framework.status import Status
from navarch.scheduler.framework.types import NodeInfo, PodInfo
from navarch.scheduler.plugins import in_tree_registry


def make_pod(name: str = "p", namespace: str = "default", *, cpu: str | None = None, memory: str | None = None,
             node: str = "", labels: Mapping[str, str] | None = None, priority: int | None = None,
             uid: str | None = None, spec: Mapping[str, Any] | None = None,
             containers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    c: dict[str, Any] = {"name": "c", "image": "busybox"}
    if requests:
        c["resources"] = {"requests": requests}
    pod_spec: dict[str, Any] = {"containers": containers if containers is not None else [c],
                                "schedulerName": "default-scheduler"}
    if node:
        pod_spec["nodeName"] = node
    if priority is not None:
        pod_spec["priority"] = priority
    pod_spec.update(spec or {})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}",
                         "labels": dict(labels or {}), "resourceVersion": "1"},
            "spec": pod_spec, "status": {"phase": "Pending"}}


def make_node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110",
              labels: Mapping[str, str] | None = None, taints: list[dict[str, Any]] | None = None,
              unschedulable: bool = False) -> dict[str, Any]:
    all_labels = {"kubernetes.io/hostname": name, **(labels or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": all_labels, "resourceVersion": "1"},
            "spec": spec, "status": {"capacity": dict(alloc), "allocatable": alloc,
                                     "conditions": [{"type": "Ready", "status": "True"}]}}


def node_info(node: dict[str, Any], *pods: dict[str, Any]) -> NodeInfo:
    return NodeInfo(node, [PodInfo(p) for p in pods])


class FakeHandle:
    """A Handle over a fixed list of NodeInfos; records spawned work instead of running it."""

    def __init__(self, nodes: Sequence[NodeInfo] = (), ns_labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.nodes = list(nodes)
        self.ns_labels = dict(ns_labels or {})
        self.client: Any = None
        self.recorder: Any = RecordingRecorder()
        self.framework: Framework | None = None
        self.spawned: list[str] = []

    def node_infos(self) -> Sequence[NodeInfo]:
        return self.nodes

    def get_node_info(self, name: str) -> NodeInfo | None:
        return next((n for n in self.nodes if n.name == name), None)

    def nodes_with_affinity_pods(self) -> Sequence[NodeInfo]:
        return [n for n in self.nodes if n.pods_with_affinity]

    def nodes_with_required_anti_affinity_pods(self) -> Sequence[NodeInfo]:
        return [n for n in self.nodes if n.pods_with_required_anti_affinity]

    def namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        return self.ns_labels

    def run_filters(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        assert self.framework is not None
        return self.framework.run_filters(state, pod, node)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.spawned.append(name)
        coro.close()

    def priority_of(self, pod: PodInfo) -> int:
        return pod.priority


class RecordingRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((obj.get("name", ""), event_type, reason, message))


def framework(handle: FakeHandle, profile: Profile | None = None) -> Framework:
    fwk = Framework(profile or default_profile(), in_tree_registry(), handle)
    handle.framework = fwk
    return fwk

"""The scheduler's read-only views of pods and nodes, computed once and reused by every plugin.

``PodInfo`` holds what plugins would otherwise re-derive per node (requests including init
containers and overhead, host ports, parsed affinity terms); ``NodeInfo`` holds a node with its pods
and running totals (requested resources, used host ports, pods with affinity), updated incrementally
as pods come and go, so Filter and Score are a few integer comparisons per node.

Upstream: pkg/scheduler/framework/types.go and pkg/api/v1/resource (PodRequests).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any, Iterable, Mapping

from navarch.api.selectors import LabelSelector, label_selector_from_object
from navarch.api import quantity

# Requests the scores assume for containers that request nothing (upstream schedutil defaults).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024
MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0

_generation = itertools.count(1)


# ---------------------------------------------------------------------------------------- resources

@dataclass(slots=True)
class Resource:
    milli_cpu: int = 0
    memory: int = 0
    ephemeral_storage: int = 0
    allowed_pods: int = 0
    scalar: dict[str, int] = field(default_factory=dict)

    def add_list(self, rl: Mapping[str, Any] | None) -> None:
        for name, q in (rl or {}).items():
            if name == "cpu":
                self.milli_cpu += quantity.milli_value(q)
            elif name == "memory":
                self.memory += quantity.value(q)
            elif name == "pods":
                self.allowed_pods += quantity.value(q)
            elif name == "ephemeral-storage":
                self.ephemeral_storage += quantity.value(q)
            elif is_scalar_resource(name):
                self.scalar[name] = self.scalar.get(name, 0) + quantity.value(q)

    def add(self, other: "Resource") -> None:
        self.milli_cpu += other.milli_cpu
        self.memory += other.memory
        self.ephemeral_storage += other.ephemeral_storage
        self.allowed_pods += other.allowed_pods
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) + v

    def sub(self, other: "Resource") -> None:
        self.milli_cpu -= other.milli_cpu
        self.memory -= other.memory
        self.ephemeral_storage -= other.ephemeral_storage
        self.allowed_pods -= other.allowed_pods
        for k, v in other.scalar.items():
            self.scalar[k] = self.scalar.get(k, 0) - v

    def set_max(self, other: "Resource") -> None:
        self.milli_cpu = max(self.milli_cpu, other.milli_cpu)
        self.memory = max(self.memory, other.memory)
        self.ephemeral_storage = max(self.ephemeral_storage, other.ephemeral_storage)
        for k, v in other.scalar.items():
            self.scalar[k] = max(self.scalar.get(k, 0), v)

    def clone(self) -> "Resource":
        return Resource(self.milli_cpu, self.memory, self.ephemeral_storage, self.allowed_pods, dict(self.scalar))

    def is_zero(self) -> bool:
        return not (self.milli_cpu or self.memory or self.ephemeral_storage or any(self.scalar.values()))

    @classmethod
    def from_list(cls, rl: Mapping[str, Any] | None) -> "Resource":
        r = cls()
        r.add_list(rl)
        return r


def is_scalar_resource(name: str) -> bool:
    """Extended (``vendor/thing``), hugepages and attachable-volume resources, as upstream counts them."""
    if name.startswith("hugepages-") or name.startswith("attachable-volumes-"):
        return True
    return "/" in name and not name.startswith("kubernetes.io/") and not name.startswith("requests.")


def _container_requests(c: Mapping[str, Any], non_zero: bool) -> Resource:
    requests = ((c.get("resources") or {}).get("requests")) or {}
    r = Resource.from_list(requests)
    if non_zero:
        if "cpu" not in requests:
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST
        if "memory" not in requests:
            r.memory = DEFAULT_MEMORY_REQUEST
    return r


def pod_requests(spec: Mapping[str, Any], non_zero: bool = False) -> Resource:
    """What a pod needs on a node (upstream resource.PodRequests).

    Regular containers add up; each init container runs alone (the largest one counts) except
    restartable ("sidecar") init containers, which keep running: they add to the total and to every
    later init container. Pod overhead comes on top. ``non_zero`` gives containers without a cpu or
    memory request the scheduler's defaults, as the scoring plugins see them.
    """
    total = Resource()
    for c in spec.get("containers") or []:
        total.add(_container_requests(c, non_zero))
    sidecars = Resource()
    init_max = Resource()
    for c in spec.get("initContainers") or []:
        req = _container_requests(c, non_zero)
        if c.get("restartPolicy") == "Always":
            total.add(req)
            sidecars.add(req)
            req = sidecars.clone()
        else:
            req.add(sidecars)
        init_max.set_max(req)
    total.set_max(init_max)
    overhead = spec.get("overhead")
    if overhead:
        total.add(Resource.from_list(overhead))
    return total


# --------------------------------------------------------------------------------------- affinity

class AffinityTerm:
    """A parsed PodAffinityTerm: which pods (namespaces + selector) in which topology."""

    __slots__ = ("namespaces", "selector", "topology_key", "namespace_selector")

    def __init__(self, namespaces: frozenset[str], selector: LabelSelector, topology_key: str,
                 namespace_selector: LabelSelector | None) -> None:
        self.namespaces = namespaces
        self.selector = selector
        self.topology_key = topology_key
        self.namespace_selector = namespace_selector

    def matches(self, pod: "PodInfo", ns_labels: Mapping[str, Mapping[str, str]] | None = None) -> bool:
        if pod.namespace in self.namespaces or (
                self.namespace_selector is not None and
                self.namespace_selector.matches((ns_labels or {}).get(pod.namespace) or {})):
            return self.selector.matches(pod.labels)
        return False

    @classmethod
    def parse(cls, pod_namespace: str, term: Mapping[str, Any]) -> "AffinityTerm":
        selector = label_selector_from_object(term.get("labelSelector"))
        ns_sel_obj = term.get("namespaceSelector")
        ns_sel = label_selector_from_object(ns_sel_obj) if ns_sel_obj is not None else None
        names = term.get("namespaces") or []
        namespaces = frozenset(names) if (names or ns_sel_obj is not None) else frozenset([pod_namespace])
        return cls(namespaces, selector, str(term.get("topologyKey") or ""), ns_sel)


@dataclass(slots=True)
class WeightedAffinityTerm:
    term: AffinityTerm
    weight: int


def _terms(ns: str, terms: Iterable[Mapping[str, Any]] | None) -> list[AffinityTerm]:
    return [AffinityTerm.parse(ns, t) for t in terms or []]


def _weighted(ns: str, terms: Iterable[Mapping[str, Any]] | None) -> list[WeightedAffinityTerm]:
    return [WeightedAffinityTerm(AffinityTerm.parse(ns, t.get("podAffinityTerm") or {}), int(t.get("weight") or 0))
            for t in terms or []]


# ------------------------------------------------------------------------------------------- pods

class PodInfo:
    """A pod plus everything derived from it that plugins read on every node."""

    __slots__ = ("pod", "key", "uid", "namespace", "name", "labels", "node_name", "priority", "requests",
                 "non_zero_cpu", "non_zero_memory", "host_ports", "tolerations", "required_affinity",
                 "required_anti_affinity", "preferred_affinity", "preferred_anti_affinity", "scheduler_name",
                 "deleting", "start_time", "parse_error")

    def __init__(self, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.namespace = str(meta.get("namespace") or "")
        self.name = str(meta.get("name") or "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid = str(meta.get("uid") or "")
        self.labels: dict[str, str] = meta.get("labels") or {}
        self.node_name = str(spec.get("nodeName") or "")
        self.scheduler_name = str(spec.get("schedulerName") or "default-scheduler")
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.start_time = str((pod.get("status") or {}).get("startTime") or meta.get("creationTimestamp") or "")
        self.priority = int(spec.get("priority") or 0)
        self.parse_error = ""
        try:
            self.requests = pod_requests(spec)
            nz = pod_requests(spec, non_zero=True)
        except ValueError as e:  # a quantity the API server should have refused; never crash the loop
            self.parse_error = str(e)
            self.requests, nz = Resource(), Resource()
        self.non_zero_cpu = nz.milli_cpu
        self.non_zero_memory = nz.memory
        ports: list[tuple[str, str, int]] = []
        for c in itertools.chain(spec.get("containers") or [], spec.get("initContainers") or []):
            for p in c.get("ports") or []:
                hp = int(p.get("hostPort") or 0)
                if hp > 0:
                    ports.append((str(p.get("hostIP") or "0.0.0.0"), str(p.get("protocol") or "TCP"), hp))
        self.host_ports = ports
        self.tolerations: list[dict[str, Any]] = spec.get("tolerations") or []
        aff = spec.get("affinity") or {}
        pa = aff.get("podAffinity") or {}
        paa = aff.get("podAntiAffinity") or {}
        try:
            self.required_affinity = _terms(self.namespace, pa.get("requiredDuringSchedulingIgnoredDuringExecution"))
            self.required_anti_affinity = _terms(self.namespace,
                                                 paa.get("requiredDuringSchedulingIgnoredDuringExecution"))
            self.preferred_affinity = _weighted(self.namespace,
                                                pa.get("preferredDuringSchedulingIgnoredDuringExecution"))
            self.preferred_anti_affinity = _weighted(self.namespace,
                                                     paa.get("preferredDuringSchedulingIgnoredDuringExecution"))
        except Exception as e:  # noqa: BLE001 - bad selectors make the pod unschedulable, not the loop fail
            self.parse_error = str(e)
            self.required_affinity, self.required_anti_affinity = [], []
            self.preferred_affinity, self.preferred_anti_affinity = [], []

    @property
    def has_affinity(self) -> bool:
        """Any pod (anti-)affinity term, required or preferred (upstream PodsWithAffinity)."""
        return bool(self.required_affinity or self.required_anti_affinity or self.preferred_affinity
                    or self.preferred_anti_affinity)

    @property
    def spec(self) -> dict[str, Any]:
        return self.pod.get("spec") or {}

    def __repr__(self) -> str:
        return f"PodInfo({self.key}, node={self.node_name!r})"


# ------------------------------------------------------------------------------------------ nodes

class NodeInfo:
    """A node, its pods and running totals. Only the cache (and preemption's clones) mutate it."""

    __slots__ = ("node", "name", "labels", "taints", "unschedulable", "allocatable", "requested",
                 "non_zero_cpu", "non_zero_memory", "pods", "pods_with_affinity",
                 "pods_with_required_anti_affinity", "used_ports", "generation")

    def __init__(self, node: dict[str, Any] | None = None, pods: Iterable[PodInfo] = ()) -> None:
        self.node: dict[str, Any] | None = None
        self.name = ""
        self.labels: dict[str, str] = {}
        self.taints: list[dict[str, Any]] = []
        self.unschedulable = False
        self.allocatable = Resource()
        self.requested = Resource()
        self.non_zero_cpu = 0
        self.non_zero_memory = 0
        self.pods: dict[str, PodInfo] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_required_anti_affinity: dict[str, PodInfo] = {}
        self.used_ports: dict[tuple[str, str, int], int] = {}
        self.generation = next(_generation)
        if node is not None:
            self.set_node(node)
        for p in pods:
            self.add_pod(p)

    def set_node(self, node: dict[str, Any]) -> None:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        self.node = node
        self.name = str(meta.get("name") or "")
        self.labels = meta.get("labels") or {}
        self.taints = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        try:
            self.allocatable = Resource.from_list((node.get("status") or {}).get("allocatable"))
        except ValueError:
            self.allocatable = Resource()
        self.generation = next(_generation)

    def add_pod(self, p: PodInfo) -> None:
        self.pods[p.key] = p
        self.requested.add(p.requests)
        self.non_zero_cpu += p.non_zero_cpu
        self.non_zero_memory += p.non_zero_memory
        if p.has_affinity:
            self.pods_with_affinity[p.key] = p
        if p.required_anti_affinity:
            self.pods_with_required_anti_affinity[p.key] = p
        for port in p.host_ports:
            self.used_ports[port] = self.used_ports.get(port, 0) + 1
        self.generation = next(_generation)

    def remove_pod(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        self.requested.sub(p.requests)
        self.non_zero_cpu -= p.non_zero_cpu
        self.non_zero_memory -= p.non_zero_memory
        self.pods_with_affinity.pop(key, None)
        self.pods_with_required_anti_affinity.pop(key, None)
        for port in p.host_ports:
            n = self.used_ports.get(port, 0) - 1
            if n > 0:
                self.used_ports[port] = n
            else:
                self.used_ports.pop(port, None)
        self.generation = next(_generation)
        return p

    def clone(self) -> "NodeInfo":
        """A copy whose pod set and totals can change without touching the cache (preemption)."""
        c = NodeInfo.__new__(NodeInfo)
        c.node, c.name, c.labels, c.taints = self.node, self.name, self.labels, self.taints
        c.unschedulable = self.unschedulable
        c.allocatable = self.allocatable
        c.requested = self.requested.clone()
        c.non_zero_cpu, c.non_zero_memory = self.non_zero_cpu, self.non_zero_memory
        c.pods = dict(self.pods)
        c.pods_with_affinity = dict(self.pods_with_affinity)
        c.pods_with_required_anti_affinity = dict(self.pods_with_required_anti_affinity)
        c.used_ports = dict(self.used_ports)
        c.generation = self.generation
        return c

    def port_in_use(self, port: tuple[str, str, int]) -> bool:
        """Upstream HostPortInfo.CheckConflict: 0.0.0.0 conflicts with every IP of the same port."""
        ip, proto, num = port
        if ip == "0.0.0.0":
            return any(p[1] == proto and p[2] == num for p in self.used_ports)
        return (ip, proto, num) in self.used_ports or ("0.0.0.0", proto, num) in self.used_ports

    def __repr__(self) -> str:
        return f"NodeInfo({self.name}, pods={len(self.pods)})"


# ---------------------------------------------------------------------------------- cluster events

class ActionType(IntFlag):
    ADD = 1
    DELETE = 2
    UPDATE_NODE_ALLOCATABLE = 4
    UPDATE_NODE_LABEL = 8
    UPDATE_NODE_TAINT = 16
    UPDATE_NODE_CONDITION = 32
    UPDATE_NODE_ANNOTATION = 64
    UPDATE_POD_LABEL = 128
    UPDATE_POD_SCALE_DOWN = 256
    UPDATE_POD_TOLERATIONS = 512
    UPDATE_POD_SCHEDULING_GATES = 1024
    UPDATE = (UPDATE_NODE_ALLOCATABLE | UPDATE_NODE_LABEL | UPDATE_NODE_TAINT | UPDATE_NODE_CONDITION
              | UPDATE_NODE_ANNOTATION | UPDATE_POD_LABEL | UPDATE_POD_SCALE_DOWN | UPDATE_POD_TOLERATIONS
              | UPDATE_POD_SCHEDULING_GATES)
    ALL = ADD | DELETE | UPDATE


NODE, POD, ASSIGNED_POD, UNSCHEDULED_POD, WILDCARD = "Node", "Pod", "AssignedPod", "UnscheduledPod", "*"


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """A change in the cluster (``Node``/``Pod`` and what happened) that may make pods schedulable."""

    resource: str
    action: ActionType
    label: str = ""

    def matches(self, incoming: "ClusterEvent") -> bool:
        """Whether this registered event covers ``incoming`` (``Pod`` covers assigned pods too)."""
        if self.resource == WILDCARD:
            return True
        same = self.resource == incoming.resource or (
            self.resource == POD and incoming.resource == ASSIGNED_POD)
        return same and bool(self.action & incoming.action)


NODE_ADD = ClusterEvent(NODE, ActionType.ADD, "NodeAdd")
ASSIGNED_POD_ADD = ClusterEvent(ASSIGNED_POD, ActionType.ADD, "AssignedPodAdd")
ASSIGNED_POD_DELETE = ClusterEvent(ASSIGNED_POD, ActionType.DELETE, "AssignedPodDelete")
UNSCHEDULABLE_TIMEOUT = ClusterEvent(WILDCARD, ActionType.ALL, "UnschedulableTimeout")
FORCE_ACTIVATE = ClusterEvent(WILDCARD, ActionType.ALL, "ForceActivate")


def node_update_action(old: Mapping[str, Any], new: Mapping[str, Any]) -> ActionType:
    """What changed between two versions of a node, as upstream's nodeSchedulingPropertiesChange."""
    action = ActionType(0)
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    os_, ns = old.get("spec") or {}, new.get("spec") or {}
    ost, nst = old.get("status") or {}, new.get("status") or {}
    if bool(os_.get("unschedulable")) != bool(ns.get("unschedulable")) or os_.get("taints") != ns.get("taints"):
        action |= ActionType.UPDATE_NODE_TAINT
    if ost.get("allocatable") != nst.get("allocatable"):
        action |= ActionType.UPDATE_NODE_ALLOCATABLE
    if om.get("labels") != nm.get("labels"):
        action |= ActionType.UPDATE_NODE_LABEL
    if om.get("annotations") != nm.get("annotations"):
        action |= ActionType.UPDATE_NODE_ANNOTATION

    def conds(st: Mapping[str, Any]) -> dict[str, Any]:
        return {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    if conds(ost) != conds(nst):
        action |= ActionType.UPDATE_NODE_CONDITION
    return action


def pod_update_action(old: Mapping[str, Any], new: Mapping[str, Any]) -> ActionType:
    action = ActionType(0)
    if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
        action |= ActionType.UPDATE_POD_LABEL
    os_, ns = old.get("spec") or {}, new.get("spec") or {}
    if os_.get("tolerations") != ns.get("tolerations"):
        action |= ActionType.UPDATE_POD_TOLERATIONS
    if os_.get("schedulingGates") != ns.get("schedulingGates"):
        action |= ActionType.UPDATE_POD_SCHEDULING_GATES
    try:
        before, after = pod_requests(os_), pod_requests(ns)
    except ValueError:
        return action
    if (after.milli_cpu < before.milli_cpu or after.memory < before.memory
            or after.ephemeral_storage < before.ephemeral_storage):
        action |= ActionType.UPDATE_POD_SCALE_DOWN
    return action


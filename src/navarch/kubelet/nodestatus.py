"""The Node object: registration and status, as upstream's kubelet writes them.

Registration creates the Node with its labels (``kubernetes.io/hostname``, ``kubernetes.io/os``,
``kubernetes.io/arch`` and their beta twins), pod CIDR and full status; a Node that already exists
(the kubelet restarted) is adopted and its default labels reconciled. Afterwards status is computed
every ``node_status_update_frequency`` and PATCHed to ``nodes/status`` only when something other
than heartbeat times changed, or when ``node_status_report_frequency`` has passed since the last
write: with node Leases carrying liveness, status writes are rare (upstream since 1.17).

Conditions use upstream's reasons and messages (``KubeletReady``/``kubelet is posting ready
status``, ``KubeletHasSufficientMemory``, ...); ``lastTransitionTime`` moves only when a
condition's status does, and conditions of types the kubelet does not own are left alone.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, Sequence

import navarch
from navarch.client.errors import ApiError, is_already_exists, is_not_found
from navarch.client.rest import Client
from navarch.kubelet.config import KubeletConfig
from navarch.kubelet.machine import NodePressure
from navarch.kubelet.podstatus import rfc3339
from navarch.kubelet.runtimes.interface import RuntimeCondition, VersionInfo
from navarch.machinery.clock import Clock

log = logging.getLogger(__name__)

READY = "Ready"
MEMORY_PRESSURE = "MemoryPressure"
DISK_PRESSURE = "DiskPressure"
PID_PRESSURE = "PIDPressure"
KUBELET_CONDITIONS = (MEMORY_PRESSURE, DISK_PRESSURE, PID_PRESSURE, READY)

# Fields the kubelet owns in Node.status and compares to decide whether to write.
_OWNED = ("capacity", "allocatable", "conditions", "addresses", "daemonEndpoints", "nodeInfo")


def kubelet_version() -> str:
    major, minor, patch = navarch.KUBE_VERSION
    return f"v{major}.{minor}.{patch}+navarch.{navarch.__version__}"


def default_labels(config: KubeletConfig) -> dict[str, str]:
    return {
        "beta.kubernetes.io/arch": config.architecture,
        "beta.kubernetes.io/os": config.operating_system,
        "kubernetes.io/arch": config.architecture,
        "kubernetes.io/hostname": config.hostname or config.node_name,
        "kubernetes.io/os": config.operating_system,
    }


def initial_node(config: KubeletConfig) -> dict[str, Any]:
    """The Node as first registered (status is filled by ``node_status``)."""
    spec: dict[str, Any] = {}
    if config.pod_cidr:
        spec["podCIDR"] = config.pod_cidr
        spec["podCIDRs"] = [config.pod_cidr]
    if config.taints:
        spec["taints"] = [dict(t) for t in config.taints]
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": config.node_name,
            "labels": {**default_labels(config), **config.labels},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": spec,
    }


def ready_condition(runtime: Sequence[RuntimeCondition]) -> tuple[str, str, str]:
    """(status, reason, message) of Ready from the runtime's own conditions (upstream's
    ``ReadyCondition`` setter: runtime or network trouble makes the node NotReady)."""
    problems = []
    for cond in runtime:
        if not cond.status:
            kind = "container runtime" if cond.type == "RuntimeReady" else "container runtime network"
            problems.append(f"{kind} not ready: {cond.type}=false reason:{cond.reason} message:{cond.message}")
    if problems:
        return "False", "KubeletNotReady", ", ".join(problems)
    return "True", "KubeletReady", "kubelet is posting ready status"


def pressure_conditions(pressure: NodePressure) -> list[tuple[str, str, str, str]]:
    """(type, status, reason, message) of the three pressure conditions (upstream's setters)."""
    return [
        (MEMORY_PRESSURE, "True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
        if pressure.memory else
        (MEMORY_PRESSURE, "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        (DISK_PRESSURE, "True", "KubeletHasDiskPressure", "kubelet has disk pressure")
        if pressure.disk else
        (DISK_PRESSURE, "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        (PID_PRESSURE, "True", "KubeletHasInsufficientPID", "kubelet has insufficient PID available")
        if pressure.pid else
        (PID_PRESSURE, "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ]


def node_status(config: KubeletConfig, old: Mapping[str, Any], now: datetime,
                runtime: Sequence[RuntimeCondition], version: VersionInfo, boot_id: str,
                pressure: NodePressure = NodePressure()) -> dict[str, Any]:
    """The status this kubelet reports now; transition times carried over from ``old``."""
    ready = ready_condition(runtime)
    wanted = [*pressure_conditions(pressure), (READY, *ready)]
    old_conds = {c.get("type"): c for c in old.get("conditions") or []}
    stamp = rfc3339(now)
    conditions = []
    for ctype, status, reason, message in wanted:
        prev = old_conds.get(ctype)
        transition = prev["lastTransitionTime"] if prev and prev.get("status") == status and \
            prev.get("lastTransitionTime") else stamp
        conditions.append({"type": ctype, "status": status, "lastHeartbeatTime": stamp,
                           "lastTransitionTime": transition, "reason": reason, "message": message})
    conditions.extend(c for t, c in old_conds.items() if t not in KUBELET_CONDITIONS)
    addresses = [{"type": "InternalIP", "address": ip} for ip in config.node_ips]
    addresses.append({"type": "Hostname", "address": config.hostname or config.node_name})
    info = {
        "machineID": "", "systemUUID": "", "bootID": boot_id, "kernelVersion": "", "osImage": "",
        "containerRuntimeVersion": f"{version.runtime_name}://{version.runtime_version}",
        "kubeletVersion": kubelet_version(), "kubeProxyVersion": "",
        "operatingSystem": config.operating_system, "architecture": config.architecture,
    }
    info.update(config.node_info)
    return {
        "capacity": dict(config.capacity),
        "allocatable": dict(config.allocatable_resources),
        "conditions": conditions,
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.kubelet_port}},
        "nodeInfo": info,
    }


def status_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Anything but heartbeat times differs (upstream ``nodeStatusHasChanged``)."""
    for key in _OWNED:
        a, b = old.get(key), new.get(key)
        if key == "conditions":
            a, b = _without_heartbeats(a or []), _without_heartbeats(b or [])
        if a != b:
            return True
    return False


def _without_heartbeats(conds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in c.items() if k != "lastHeartbeatTime"} for c in conds),
                  key=lambda c: str(c.get("type")))


class NodeStatusReporter:
    """Registers one Node and keeps its status current. ``current_node`` reads the informer's copy."""

    def __init__(self, client: Client, config: KubeletConfig, clock: Clock,
                 current_node: Callable[[], Mapping[str, Any] | None],
                 runtime_conditions: Callable[[], Any], runtime_version: Callable[[], Any],
                 pressure: Callable[[], Awaitable[NodePressure]] | None = None) -> None:
        """``pressure`` reads the machine's pressure at each round; None reports none (simulated)."""
        self.client = client
        self.config = config
        self.clock = clock
        self._current_node = current_node
        self._runtime_conditions = runtime_conditions
        self._runtime_version = runtime_version
        self._pressure = pressure
        self.boot_id = config.node_info.get("bootID") or str(uuid.uuid4())
        self.node: dict[str, Any] | None = None  # our last write's answer
        self.registered = False
        self.writes = 0
        self._last_report = float("-inf")

    @property
    def uid(self) -> str:
        return str(((self.node or {}).get("metadata") or {}).get("uid", ""))

    @property
    def pod_cidr(self) -> str:
        spec = (self.node or {}).get("spec") or {}
        return str(spec.get("podCIDR") or self.config.pod_cidr)

    async def register(self) -> None:
        """Create the Node (or adopt the existing one); raises to be retried."""
        if not self.config.register_node:
            # Someone else creates the Node (upstream --register-node=false); NotFound is retried.
            existing = await self.client.get("nodes", self.config.node_name)
            self.node = await self._reconcile(existing)
            log.info("node %s found; not registering it (--register-node=false)", self.config.node_name)
            self.registered = True
            self._last_report = self.clock.monotonic()
            return
        body = initial_node(self.config)
        body["status"] = await self._compute({})
        try:
            self.node = await self.client.create("nodes", body)
            if not (self.node.get("status") or {}).get("conditions"):
                # An API server that drops status on create (upstream keeps it) gets it again here.
                self.node = await self.client.patch("nodes", self.config.node_name, {"status": body["status"]},
                                                    "merge", subresource="status")
            log.info("node %s registered", self.config.node_name)
        except ApiError as e:
            if not is_already_exists(e):
                raise
            existing = await self.client.get("nodes", self.config.node_name)
            self.node = await self._reconcile(existing)
            log.info("node %s already registered; adopted it", self.config.node_name)
        self.registered = True
        self._last_report = self.clock.monotonic()

    async def update(self) -> bool:
        """One status round (every ``node_status_update_frequency``); True when written."""
        current = self._latest()
        if current is None:
            log.warning("node %s is not in the API; its status cannot be updated", self.config.node_name)
            return False
        old = current.get("status") or {}
        new = await self._compute(old)
        due = self.clock.monotonic() - self._last_report >= self.config.node_status_report_frequency
        if not due and not status_changed(old, new):
            return False
        try:
            self.node = await self.client.patch("nodes", self.config.node_name, {"status": new}, "merge",
                                                subresource="status")
        except ApiError as e:
            if is_not_found(e):
                log.warning("node %s was deleted; not re-registering (as upstream)", self.config.node_name)
                return False
            raise
        self._last_report = self.clock.monotonic()
        self.writes += 1
        return True

    def _latest(self) -> Mapping[str, Any] | None:
        cached = self._current_node()
        mine = self.node
        if cached is None:
            return mine
        if mine is None:
            return cached
        ra = str(mine["metadata"].get("resourceVersion", ""))
        rb = str(cached["metadata"].get("resourceVersion", ""))
        if ra.isdigit() and rb.isdigit() and int(ra) > int(rb):
            return mine
        return cached

    async def _compute(self, old: Mapping[str, Any]) -> dict[str, Any]:
        conditions = await self._runtime_conditions()
        version = await self._runtime_version()
        pressure = await self._pressure() if self._pressure is not None else NodePressure()
        return node_status(self.config, old, self.clock.now(), conditions, version, self.boot_id, pressure)

    async def _reconcile(self, existing: dict[str, Any]) -> dict[str, Any]:
        """Upstream ``updateDefaultLabels`` plus the pod CIDR for a Node that never got one."""
        patch: dict[str, Any] = {}
        labels = (existing.get("metadata") or {}).get("labels") or {}
        wanted = {**default_labels(self.config), **self.config.labels}
        missing = {k: v for k, v in wanted.items() if labels.get(k) != v}
        if missing:
            patch["metadata"] = {"labels": missing}
        spec = existing.get("spec") or {}
        if self.config.pod_cidr and not spec.get("podCIDR"):
            patch["spec"] = {"podCIDR": self.config.pod_cidr, "podCIDRs": [self.config.pod_cidr]}
        node = existing
        if patch:
            node = await self.client.patch("nodes", self.config.node_name, patch, "merge")
        status = await self._compute(node.get("status") or {})
        return await self.client.patch("nodes", self.config.node_name, {"status": status}, "merge",
                                       subresource="status")

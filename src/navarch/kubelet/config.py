"""One node's kubelet configuration: what the flags (or ``sim-nodes``) decide, frozen."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Upstream's defaults (KubeletConfiguration and the node lease controller).
LEASE_DURATION = 40
LEASE_RENEW_INTERVAL = 10.0  # a quarter of the lease duration
NODE_STATUS_UPDATE_FREQUENCY = 10.0
NODE_STATUS_REPORT_FREQUENCY = 300.0
POD_RESYNC_INTERVAL = 60.0  # --sync-frequency
KUBELET_PORT = 10250


@dataclass(frozen=True)
class KubeletConfig:
    node_name: str
    # cpu, memory, pods, ephemeral-storage as quantity strings; allocatable defaults to capacity.
    capacity: Mapping[str, str]
    allocatable: Mapping[str, str] | None = None
    node_ips: tuple[str, ...] = ()
    hostname: str = ""
    pod_cidr: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, Any], ...] = ()
    operating_system: str = "linux"
    architecture: str = "amd64"
    # nodeInfo fields this node knows (kernelVersion, osImage, machineID, systemUUID, bootID).
    node_info: Mapping[str, str] = field(default_factory=dict)
    lease_duration: int = LEASE_DURATION
    lease_renew_interval: float = LEASE_RENEW_INTERVAL
    node_status_update_frequency: float = NODE_STATUS_UPDATE_FREQUENCY
    node_status_report_frequency: float = NODE_STATUS_REPORT_FREQUENCY
    pod_resync_interval: float = POD_RESYNC_INTERVAL
    kubelet_port: int = KUBELET_PORT
    record_events: bool = True
    # Liveness/readiness/startup probes run against real containers; simulated nodes have no
    # reachable pod IPs nor exec, so they leave probes alone.
    run_probes: bool = True
    # --root-dir: where the node keeps pod directories (volumes) and its own state; "" for nodes
    # that keep nothing on disk (simulated).
    root_dir: str = ""
    # --register-node: create the Node if missing; False adopts one made by someone else and waits
    # (retrying) until it exists, as upstream.
    register_node: bool = True

    @property
    def allocatable_resources(self) -> Mapping[str, str]:
        return self.allocatable if self.allocatable is not None else self.capacity

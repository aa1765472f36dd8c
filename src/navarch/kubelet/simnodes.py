"""``SimNodes``: N simulated nodes in one process, each a real ``Kubelet`` over a ``SimulatedRuntime``.

Every node gets a /``node_cidr_mask`` pod subnet of ``cluster_cidr`` (set as its ``spec.podCIDR``)
and an InternalIP from ``node_ip_cidr``. Subnets and addresses held by Nodes already in the cluster
are skipped, and a node that already exists keeps its own, so restarts and several ``sim-nodes``
processes against one cluster do not collide.

In-process control for tests: ``pause(name)`` stops a node's heartbeats (``pods=True`` also freezes
its pods), ``resume(name)`` restarts them, ``add_node(...)`` adds a node while running.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from navarch.client.rest import Client
from navarch.kubelet.config import KubeletConfig
from navarch.kubelet.host import KubeletHost
from navarch.kubelet.kubelet import Kubelet
from navarch.kubelet.podcidr import CIDRExhausted, NodeSubnets, nth_address
from navarch.kubelet.runtimes.simulated import SimulatedRuntime
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.events import EventRecorder

log = logging.getLogger(__name__)

SIM_LABEL = "navarch.io/simulated"


@dataclass(frozen=True)
class SimNodesConfig:
    count: int = 1
    name_prefix: str = "sim-node-"
    cpu: str = "4"
    memory: str = "16Gi"
    pods: str = "110"
    ephemeral_storage: str = "100Gi"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, Any], ...] = ()
    cluster_cidr: str = "10.42.0.0/16"
    node_cidr_mask: int = 24
    node_ip_cidr: str = "172.20.0.0/16"
    lease_duration: int = 40
    lease_renew_interval: float = 10.0
    node_status_update_frequency: float = 10.0
    node_status_report_frequency: float = 300.0
    pod_resync_interval: float = 60.0
    record_events: bool = False
    pod_workers: int = 32
    heartbeat_workers: int = 32

    def names(self) -> list[str]:
        return [f"{self.name_prefix}{i}" for i in range(self.count)]


class SimNodes:
    def __init__(self, client: Client, config: SimNodesConfig, *, clock: Clock | None = None,
                 host: KubeletHost | None = None) -> None:
        self.client = client
        self.config = config
        self.clock = clock or RealClock()
        self.host = host or KubeletHost(client, clock=self.clock, pod_workers=config.pod_workers,
                                        heartbeat_workers=config.heartbeat_workers)
        self._subnets: NodeSubnets | None = None
        self._used_ips: set[str] = set()
        self._existing: dict[str, Mapping[str, Any]] = {}
        self._next_ip = 1
        self._recorders: list[EventRecorder] = []

    @property
    def names(self) -> list[str]:
        return list(self.host.kubelets)

    def kubelet(self, name: str) -> Kubelet:
        return self.host.kubelets[name]

    async def prepare(self) -> None:
        """Read the Nodes already in the cluster and build this process's kubelets."""
        nodes = (await self.client.list_all("nodes")).get("items") or []
        self._existing = {n["metadata"]["name"]: n for n in nodes}
        used_cidrs = [c for n in nodes for c in (n.get("spec") or {}).get("podCIDRs") or []]
        self._subnets = NodeSubnets(self.config.cluster_cidr, self.config.node_cidr_mask, used_cidrs)
        self._used_ips = {a.get("address") for n in nodes for a in (n.get("status") or {}).get("addresses") or []
                          if a.get("type") == "InternalIP"}
        fresh = [n for n in self.config.names() if n not in self._existing]
        if len(fresh) > self._subnets.size - len(set(used_cidrs)):
            raise CIDRExhausted(
                f"{len(fresh)} new nodes need {len(fresh)} /{self.config.node_cidr_mask} subnets but "
                f"{self.config.cluster_cidr} has {self._subnets.size - len(set(used_cidrs))} free; "
                f"use a larger --cluster-cidr (e.g. 10.32.0.0/11 holds 8192) or a longer --node-cidr-mask-size")
        for name in self.config.names():
            if name not in self.host.kubelets:
                self.host.add(self._build(name))

    async def run(self) -> None:
        """``prepare`` (if not done), then run every node until cancelled."""
        if self._subnets is None:
            await self.prepare()
        log.info("simulating %d nodes (%s...)", len(self.host.kubelets), self.config.name_prefix)
        try:
            await self.host.run()
        finally:
            for rec in self._recorders:
                await rec.stop(timeout=1.0)

    async def wait_registered(self, timeout: float | None = None) -> bool:
        return await self.host.wait_registered(timeout)

    def pause(self, name: str, *, pods: bool = False) -> None:
        self.host.pause(name, pods=pods)

    def resume(self, name: str) -> None:
        self.host.resume(name)

    def add_node(self, name: str, **overrides: Any) -> Kubelet:
        """Add one more node (same settings unless overridden: cpu, memory, pods, labels, taints...)."""
        if self._subnets is None:
            raise RuntimeError("call prepare() (or run()) before add_node()")
        cfg = replace(self.config, **overrides) if overrides else self.config
        kubelet = self._build(name, cfg)
        self.host.add(kubelet)
        return kubelet

    def _build(self, name: str, cfg: SimNodesConfig | None = None) -> Kubelet:
        cfg = cfg or self.config
        assert self._subnets is not None
        existing = self._existing.get(name)
        cidr = ((existing or {}).get("spec") or {}).get("podCIDR") or self._subnets.allocate()
        ips = [a["address"] for a in ((existing or {}).get("status") or {}).get("addresses") or []
               if a.get("type") == "InternalIP"]
        ip = ips[0] if ips else self._allocate_ip(cfg)
        capacity = {"cpu": cfg.cpu, "memory": cfg.memory, "pods": cfg.pods,
                    "ephemeral-storage": cfg.ephemeral_storage, "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
        config = KubeletConfig(
            node_name=name, capacity=capacity, node_ips=(ip,), hostname=name, pod_cidr=cidr, run_probes=False,
            labels={SIM_LABEL: "true", **cfg.labels}, taints=tuple(cfg.taints),
            node_info={"kernelVersion": "", "osImage": "navarch simulated node"},
            lease_duration=cfg.lease_duration, lease_renew_interval=cfg.lease_renew_interval,
            node_status_update_frequency=cfg.node_status_update_frequency,
            node_status_report_frequency=cfg.node_status_report_frequency,
            pod_resync_interval=cfg.pod_resync_interval, record_events=cfg.record_events)
        recorder = None
        if cfg.record_events:
            recorder = EventRecorder(self.client, "kubelet", name, clock=self.clock)
            self._recorders.append(recorder)
        return Kubelet(config, SimulatedRuntime(self.clock, cidr), self.client, clock=self.clock, recorder=recorder)

    def _allocate_ip(self, cfg: SimNodesConfig) -> str:
        while True:
            ip = nth_address(cfg.node_ip_cidr, self._next_ip)
            self._next_ip += 1
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip


async def run_sim_nodes(client: Client, config: SimNodesConfig, stop_after: float | None = None) -> None:
    """What ``navarch sim-nodes`` runs: the nodes, until cancelled or ``stop_after`` seconds."""
    sim = SimNodes(client, config)
    task = asyncio.create_task(sim.run(), name="sim-nodes")
    try:
        if stop_after is not None and stop_after > 0:
            done, _ = await asyncio.wait({task}, timeout=stop_after)
            if task in done:
                task.result()
        else:
            await task
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

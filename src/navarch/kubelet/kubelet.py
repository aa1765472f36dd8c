"""``Kubelet``: one node, composed of one object per concern.

- ``NodeStatusReporter`` (``nodestatus.py``): registration and node status;
- ``NodeLease`` (``nodelease.py``): the heartbeat Lease;
- ``PodWorkers`` (``podworkers.py``): pods through the runtime;
- ``StatusManager`` (``statusmanager.py``): pod status writes and the final delete;
- ``CrashLoopBackOff`` (``backoff.py``): restart timing.

A Kubelet owns no tasks and no informers: a ``KubeletHost`` drives it (registration, periodic lease
and status rounds, pod syncs) from shared queues, which is what lets one process hold thousands.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping

from navarch.client.rest import Client
from navarch.kubelet.backoff import CrashLoopBackOff
from navarch.kubelet.config import KubeletConfig
from navarch.kubelet.machine import NodePressure
from navarch.kubelet.nodelease import NodeLease
from navarch.kubelet.nodestatus import NodeStatusReporter
from navarch.kubelet.podconfig import PodConfigurator
from navarch.kubelet.podworkers import PodWorkers, Requeue
from navarch.kubelet.prober import ProbeManager
from navarch.kubelet.runtimes.interface import Runtime, RuntimeCondition, VersionInfo
from navarch.kubelet.statusmanager import StatusManager
from navarch.machinery.clock import Clock, RealClock
from navarch.machinery.events import EventRecorder

log = logging.getLogger(__name__)


class Kubelet:
    def __init__(self, config: KubeletConfig, runtime: Runtime, client: Client, *, clock: Clock | None = None,
                 recorder: EventRecorder | None = None,
                 pressure: Callable[[], Awaitable[NodePressure]] | None = None) -> None:
        """``pressure``: the machine's memory/disk/PID pressure, read at each node status round
        (``machine.PressureMonitor``); None for nodes without a machine (simulated)."""
        self.config = config
        self.name = config.node_name
        self.runtime = runtime
        self.client = client
        self.clock = clock or RealClock()
        self._current_node: Callable[[], Mapping[str, Any] | None] = lambda: None
        self._version: VersionInfo | None = None
        self.node_status = NodeStatusReporter(client, config, self.clock, lambda: self._current_node(),
                                              self._runtime_conditions, self._runtime_version, pressure)
        self.lease = NodeLease(client, config.node_name, self.clock, config.lease_duration,
                               lambda: self.node_status.uid)
        self.status_manager = StatusManager(client, config.node_name)
        self.backoff = CrashLoopBackOff(self.clock)
        self.pods = PodWorkers(config.node_name, runtime, self.status_manager, self.clock, self.backoff,
                               runtime_name="", host_ips=lambda: list(config.node_ips),
                               recorder=recorder if config.record_events else None,
                               resync_interval=config.pod_resync_interval,
                               prober=ProbeManager(runtime, self.clock) if config.run_probes else None,
                               configurator=self._configurator(recorder))

    def _configurator(self, recorder: EventRecorder | None) -> PodConfigurator | None:
        """Env, volumes and limits for nodes that run something (a root dir to keep volumes in)."""
        cfg = self.config
        if not cfg.root_dir:
            return None
        from navarch.kubelet.envvars import api_endpoint_of

        server = getattr(getattr(self.client, "config", None), "server", "")
        endpoint = api_endpoint_of(server) if server and getattr(self.runtime, "pods_share_host_network", False) \
            else None
        return PodConfigurator(self.client, cfg.root_dir, node_name=cfg.node_name,
                               host_ips=lambda: list(cfg.node_ips), node_allocatable=cfg.allocatable_resources,
                               isolated=bool(getattr(self.runtime, "isolated", False)),
                               recorder=recorder if cfg.record_events else None, api_endpoint=endpoint)

    def attach(self, requeue_pod: Requeue, current_node: Callable[[], Mapping[str, Any] | None]) -> None:
        """Called by the host that drives this kubelet."""
        self._current_node = current_node
        self.pods.attach(requeue_pod)

    def use_services(self, services: Callable[[], list[Mapping[str, Any]]]) -> None:
        """Where the Services for containers' environment come from (the host's informer)."""
        if self.pods.configurator is not None:
            self.pods.configurator.services = services

    def detach(self) -> None:
        self.pods.detach()

    @property
    def registered(self) -> bool:
        return self.node_status.registered

    async def register(self) -> None:
        version = await self._runtime_version()
        self.pods.runtime_name = version.runtime_name
        if self.config.pod_cidr:
            await self.runtime.update_runtime_config(self.config.pod_cidr)
        await self.node_status.register()
        await self._sync_pod_cidr()

    async def renew_lease(self) -> None:
        await self.lease.renew()

    async def update_node_status(self) -> bool:
        await self._sync_pod_cidr()
        return await self.node_status.update()

    async def sync_pod(self, key: str, pod: Mapping[str, Any] | None) -> None:
        await self.pods.sync(key, pod)

    async def _sync_pod_cidr(self) -> None:
        # The Node's spec.podCIDR is authoritative (set at registration, or by the IPAM controller).
        cidr = self.node_status.pod_cidr
        if cidr:
            await self.runtime.update_runtime_config(cidr)

    async def _runtime_conditions(self) -> list[RuntimeCondition]:
        return await self.runtime.status()

    async def _runtime_version(self) -> VersionInfo:
        if self._version is None:
            self._version = await self.runtime.version()
        return self._version

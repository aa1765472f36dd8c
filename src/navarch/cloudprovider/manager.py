"""The cloud controller manager: one client, informer factory and provider, and the enabled cloud
controllers, run while holding the ``kube-system/cloud-controller-manager`` Lease (as upstream)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from navarch.client.rest import Client
from navarch.cloudprovider.controllers import CloudContext
from navarch.cloudprovider.interface import Interface
from navarch.cloudprovider.providers import get_provider
from navarch.controllers.base import QueueController, enabled_controllers
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.leaderelection import LeaderElectionConfig, LeaderElector

log = logging.getLogger("navarch.cloudprovider")

LEASE_NAME = "cloud-controller-manager"
CONTROLLERS: dict[str, str] = {
    "cloud-node": "navarch.cloudprovider.controllers.node:CloudNodeController",
    "cloud-node-lifecycle": "navarch.cloudprovider.controllers.nodelifecycle:CloudNodeLifecycleController",
    "service-lb": "navarch.cloudprovider.controllers.service:ServiceController",
    "route": "navarch.cloudprovider.controllers.route:RouteController",
}
# Upstream's older names, still accepted by its --controllers.
ALIASES = {"service": "service-lb", "cloud-node-controller": "cloud-node", "service-lb-controller": "service-lb",
           "cloud-node-lifecycle-controller": "cloud-node-lifecycle", "node-route-controller": "route"}
EVENT_SOURCES = {"cloud-node": "cloud-node-controller", "cloud-node-lifecycle": "cloud-node-lifecycle-controller",
                 "service-lb": "service-controller", "route": "route-controller"}


@dataclass(frozen=True)
class CloudControllerManagerConfig:
    kubeconfig: str | None
    cloud_provider: str = "stub"
    controllers: tuple[str, ...] = ("*",)
    cluster_name: str = "kubernetes"
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    # Provider options (e.g. {"lb-ip-pool": "..."}) and controller tunables, by flag name.
    options: dict[str, Any] = field(default_factory=dict, hash=False)


def enabled(spec: tuple[str, ...]) -> list[str]:
    return enabled_controllers(spec, CONTROLLERS, ALIASES)


def load(name: str) -> type[QueueController]:
    module, _, cls = CONTROLLERS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


async def run_cloud_controller_manager(config: CloudControllerManagerConfig) -> None:
    names = enabled(config.controllers)  # fail on a bad flag before connecting anywhere
    cloud = get_provider(config.cloud_provider, config.options)
    client = Client.from_kubeconfig(config.kubeconfig, user_agent="navarch-cloud-controller-manager")
    identity = config.identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    try:
        if not config.leader_elect:
            await _run_controllers(client, cloud, config, names, identity)
            return
        elector = LeaderElector(client, LeaderElectionConfig(
            LEASE_NAME, "kube-system", identity, config.lease_duration, config.renew_deadline,
            config.retry_period))
        await elector.run_as_standby(lambda: _run_controllers(client, cloud, config, names, identity),
                                     "cloud-controller-manager")
    finally:
        await client.close()


async def _run_controllers(client: Client, cloud: Interface, config: CloudControllerManagerConfig,
                           names: list[str], identity: str) -> None:
    import dataclasses

    factory = SharedInformerFactory(client)
    host = socket.gethostname()
    base = CloudContext(client=client, factory=factory, recorder=EventRecorder(client, "cloud-controller-manager", host),
                        options=dict(config.options), cloud=cloud, cluster_name=config.cluster_name)
    cloud.initialize(base)
    recorders = [base.recorder]
    controllers: list[QueueController] = []
    for name in names:
        recorder = EventRecorder(client, EVENT_SOURCES[name], host)
        recorders.append(recorder)
        controllers.append(load(name)(dataclasses.replace(base, recorder=recorder)))
    log.info("started leading as %s; cloud provider %s; running controllers: %s", identity,
             cloud.provider_name(), ", ".join(c.name for c in controllers) or "none")
    factory.start()
    try:
        await factory.wait_for_cache_sync()
        await asyncio.gather(*(c.run() for c in controllers), asyncio.Event().wait())
    finally:
        await factory.stop()
        for r in recorders:
            await r.stop()

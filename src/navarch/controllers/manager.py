"""The controller manager: builds one client, one informer factory and one event recorder, then runs
the enabled controllers while it holds the ``kube-system/kube-controller-manager`` Lease.

Controllers are found by upstream's names in ``CONTROLLERS`` (name -> "module:Class"); a controller
whose module is missing is reported and skipped, so the table can name what is still being built.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

from navarch.client.rest import Client
from navarch.controllers.base import ControllerContext, QueueController, enabled_controllers
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.leaderelection import LeaderElectionConfig, LeaderElector

log = logging.getLogger("navarch.controllers")

CONTROLLERS: dict[str, str] = {
    "replicaset": "navarch.controllers.replicaset:ReplicaSetController",
    "replicationcontroller": "navarch.controllers.replicaset:ReplicationControllerController",
    "deployment": "navarch.controllers.deployment:DeploymentController",
    "statefulset": "navarch.controllers.statefulset:StatefulSetController",
    "daemonset": "navarch.controllers.daemonset:DaemonSetController",
    "job": "navarch.controllers.job:JobController",
    "cronjob": "navarch.controllers.cronjob:CronJobController",
    "endpoints": "navarch.controllers.endpoints:EndpointsController",
    "endpointslice": "navarch.controllers.endpointslice:EndpointSliceController",
    "namespace": "navarch.controllers.namespace:NamespaceController",
    "garbagecollector": "navarch.controllers.garbagecollector:GarbageCollector",
    "serviceaccount": "navarch.controllers.serviceaccount:ServiceAccountController",
    "disruption": "navarch.controllers.disruption:DisruptionController",
    "nodelifecycle": "navarch.controllers.nodelifecycle:NodeLifecycleController",
    "horizontalpodautoscaling": "navarch.controllers.hpa:HorizontalPodAutoscalerController",
    "ttl-after-finished": "navarch.controllers.ttlafterfinished:TTLAfterFinishedController",
    "clusterrole-aggregation": "navarch.controllers.clusterroleaggregation:ClusterRoleAggregationController",
    "resourcequota": "navarch.controllers.resourcequota:ResourceQuotaController",
    "root-ca-cert-publisher": "navarch.controllers.rootcacertpublisher:RootCACertPublisher",
    "csrapproving": "navarch.controllers.certificates.approver:CSRApprovingController",
    "csrsigning": "navarch.controllers.certificates.signer:CSRSigningController",
    "csrcleaner": "navarch.controllers.certificates.cleaner:CSRCleanerController",
}


@dataclass(frozen=True)
class ControllerManagerConfig:
    kubeconfig: str | None
    controllers: tuple[str, ...] = ("*",)
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    identity: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False)


def enabled(spec: tuple[str, ...]) -> list[str]:
    return enabled_controllers(spec, CONTROLLERS)


def load(name: str) -> type[QueueController] | None:
    module, _, cls = CONTROLLERS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ModuleNotFoundError, AttributeError) as e:
        log.warning("controller %s is not available: %s", name, e)
        return None


async def run_controller_manager(config: ControllerManagerConfig) -> None:
    client = Client.from_kubeconfig(config.kubeconfig, user_agent="navarch-controller-manager")
    identity = config.identity or f"{socket.gethostname()}_{uuid.uuid4()}"
    try:
        if not config.leader_elect:
            await _run_controllers(client, config, identity)
            return
        elector = LeaderElector(client, LeaderElectionConfig(
            "kube-controller-manager", "kube-system", identity, config.lease_duration,
            config.renew_deadline, config.retry_period))
        await elector.run_as_standby(lambda: _run_controllers(client, config, identity), "controller-manager")
    finally:
        await client.close()


async def _run_controllers(client: Client, config: ControllerManagerConfig, identity: str) -> None:
    import dataclasses

    factory = SharedInformerFactory(client)
    host = socket.gethostname()
    base = ControllerContext(client=client, factory=factory, recorder=EventRecorder(client, "controller-manager", host),
                             options=dict(config.options))
    controllers: list[QueueController] = []
    recorders = [base.recorder]
    for name in enabled(config.controllers):
        cls = load(name)
        if cls is None:
            continue
        # Each controller reports events under its own source, as upstream ("deployment-controller").
        recorder = EventRecorder(client, _event_source(name), host)
        recorders.append(recorder)
        controllers.append(cls(dataclasses.replace(base, recorder=recorder)))
    log.info("started leading as %s; running controllers: %s", identity,
             ", ".join(c.name for c in controllers) or "none")
    factory.start()
    try:
        await factory.wait_for_cache_sync()
        # Controllers run until cancelled (lost lease or shutdown); with none enabled, just hold on.
        await asyncio.gather(*(c.run() for c in controllers), asyncio.Event().wait())
    finally:
        await factory.stop()
        for r in recorders:
            await r.stop()


_EVENT_SOURCES = {"garbagecollector": "garbage-collector-controller", "nodelifecycle": "node-controller",
                  "horizontalpodautoscaling": "horizontal-pod-autoscaler", "disruption": "controllermanager",
                  "daemonset": "daemonset-controller", "endpointslice": "endpoint-slice-controller",
                  "endpoints": "endpoint-controller", "cronjob": "cronjob-controller",
                  "job": "job-controller", "namespace": "namespace-controller"}


def _event_source(name: str) -> str:
    return _EVENT_SOURCES.get(name, f"{name}-controller")

"""``run_scheduler``: the scheduler as a component, from one frozen config (standalone or embedded).

``navarch scheduler`` builds a ``SchedulerConfig`` from flags; ``navarch server`` builds the same
dataclass. With leader election, only the holder of Lease ``kube-system/kube-scheduler`` schedules;
the others wait, so several copies can run for availability.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

from navarch.client.rest import Client
from navarch.machinery.events import EventRecorder
from navarch.machinery.factory import SharedInformerFactory
from navarch.machinery.leaderelection import LeaderElectionConfig, LeaderElector
from navarch.scheduler.framework.profile import DEFAULT_SCHEDULER_NAME, default_profile
from navarch.scheduler.scheduler import COMPONENT, DEFAULT_BIND_CONCURRENCY, Scheduler

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-system"
LEASE_NAME = "kube-scheduler"


@dataclass(frozen=True)
class SchedulerConfig:
    kubeconfig: Path | None = None
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_namespace: str = LEASE_NAMESPACE
    lease_name: str = LEASE_NAME
    # 0: adaptive (upstream's default); otherwise the percentage of nodes to find feasible.
    percentage_of_nodes_to_score: int = 0
    scheduler_names: tuple[str, ...] = (DEFAULT_SCHEDULER_NAME,)
    bind_concurrency: int = DEFAULT_BIND_CONCURRENCY
    pod_initial_backoff: float = 1.0
    pod_max_backoff: float = 10.0
    identity: str = ""


def default_identity() -> str:
    return f"{socket.gethostname()}_{uuid.uuid4()}"


async def run_scheduler(config: SchedulerConfig, client: Client | None = None,
                        ready: asyncio.Event | None = None) -> None:
    """Run until cancelled. ``client`` lets an embedding process pass its own; else one is built from
    ``config.kubeconfig``. ``ready`` is set once this copy schedules (leads and has synced)."""
    log.info("scheduler config: %s", config)
    own_client = client is None
    if client is None:
        client = Client.from_kubeconfig(str(config.kubeconfig) if config.kubeconfig else None,
                                        user_agent=f"navarch-scheduler/{os.getpid()}")
    try:
        if config.leader_elect:
            le = LeaderElectionConfig(config.lease_name, config.lease_namespace,
                                      config.identity or default_identity(), config.lease_duration,
                                      config.renew_deadline, config.retry_period)
            elector = LeaderElector(client, le)
            await elector.run(lambda: _schedule(config, client, ready),
                              on_new_leader=lambda who: log.info("new scheduler leader: %s", who))
        else:
            await _schedule(config, client, ready)
    finally:
        if own_client:
            await client.close()


async def _schedule(config: SchedulerConfig, client: Client, ready: asyncio.Event | None) -> None:
    factory = SharedInformerFactory(client)
    recorder = EventRecorder(client, COMPONENT)
    sched = Scheduler(client, factory, recorder, profiles=[default_profile(n) for n in config.scheduler_names],
                      percentage_of_nodes_to_score=config.percentage_of_nodes_to_score,
                      bind_concurrency=config.bind_concurrency, initial_backoff=config.pod_initial_backoff,
                      max_backoff=config.pod_max_backoff)
    task = asyncio.create_task(sched.run(), name="scheduler")
    try:
        if ready is not None:
            await factory.wait_for_cache_sync()
            ready.set()
        await task
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await recorder.stop()
        await factory.stop()

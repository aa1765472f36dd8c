"""The cloud-node-lifecycle controller: nodes that stopped reporting are checked against the cloud.

Every ``node-monitor-period`` (default 5 s, upstream's) each node whose Ready condition is not True
is looked up: a shut-down instance gets the ``node.cloudprovider.kubernetes.io/shutdown:NoSchedule``
taint (removed again once the node is Ready), and a node whose instance no longer exists is deleted,
as upstream does, so its pods are garbage-collected and rescheduled. (The stub cloud's instances
always exist and run, so there it never acts.)
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from navarch.client.errors import ApiError, is_not_found
from navarch.cloudprovider.controllers import CloudContext
from navarch.controllers.base import QueueController
from navarch.machinery.cache import Obj
from navarch.machinery.events import NORMAL

SHUTDOWN_TAINT = "node.cloudprovider.kubernetes.io/shutdown"
DEFAULT_MONITOR_PERIOD = 5.0


def ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def has_shutdown_taint(node: Obj) -> bool:
    return any(t.get("key") == SHUTDOWN_TAINT for t in (node.get("spec") or {}).get("taints") or [])


class CloudNodeLifecycleController(QueueController):
    name: ClassVar[str] = "cloud-node-lifecycle"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: CloudContext) -> None:
        super().__init__(ctx)
        self.instances = ctx.cloud.instances_v2() if ctx.cloud is not None else None
        self.period = float(ctx.options.get("node-monitor-period", DEFAULT_MONITOR_PERIOD))
        self.nodes = self.factory.lister("nodes")
        self.factory.informer("nodes")  # registered before the factory starts, so it is synced

    async def run(self, workers: int | None = None) -> None:
        if self.instances is None:
            self.log.warning("the cloud provider has no instances; node lifecycle is not monitored")
            await asyncio.Event().wait()
        monitor = asyncio.create_task(self._monitor(), name=f"{self.name}-monitor")
        try:
            await super().run(workers)
        finally:
            monitor.cancel()
            await asyncio.gather(monitor, return_exceptions=True)

    async def _monitor(self) -> None:
        while True:
            for node in self.nodes.list():
                if not ready(node) or has_shutdown_taint(node):
                    self.enqueue(node)
            await self.clock.sleep(self.period)

    async def sync(self, key: str) -> None:
        node = self.nodes.get(None, key)
        if node is None or self.instances is None:
            return
        if ready(node):
            if has_shutdown_taint(node):
                await self._set_taints(node, [t for t in node["spec"]["taints"] if t.get("key") != SHUTDOWN_TAINT])
            return
        if await self.instances.instance_shutdown(node):
            if not has_shutdown_taint(node):
                taint = {"key": SHUTDOWN_TAINT, "effect": "NoSchedule"}
                await self._set_taints(node, [*((node.get("spec") or {}).get("taints") or []), taint])
                self.log.info("node %s: instance is shut down; tainted %s", key, SHUTDOWN_TAINT)
            return
        if await self.instances.instance_exists(node):
            return
        self.recorder.event(node, NORMAL, "DeletingNode",
                            f"Deleting node {key} because it does not exist in the cloud provider")
        try:
            await self.client.delete("nodes", key, preconditions={"uid": node["metadata"].get("uid")})
        except ApiError as e:
            if not is_not_found(e):
                raise
        self.log.info("deleted node %s: its instance no longer exists", key)

    async def _set_taints(self, node: Obj, taints: list[dict[str, Any]]) -> None:
        body = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]}, "spec": {"taints": taints or None}}
        await self.client.patch("nodes", node["metadata"]["name"], body, "merge")

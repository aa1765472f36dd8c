"""The route controller: each node's pod CIDR is routed to it through the cloud's routing table.

Every ``route-reconciliation-period`` (default 10 s, upstream's) the cloud's routes are compared
with the nodes' ``spec.podCIDRs``: a missing route is created (named after the node's UID), a route
to a node that is gone or to a CIDR the node no longer has is deleted, and each routed node gets
the ``NetworkUnavailable=False`` condition (reason ``RouteCreated``). A provider without routes
(the stub: one machine, or an overlay network) leaves the controller idle.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from navarch.cloudprovider.controllers import CloudContext
from navarch.cloudprovider.interface import Route
from navarch.controllers.base import QueueController
from navarch.machinery.cache import Obj
from navarch.machinery.events import timestamp

DEFAULT_PERIOD = 10.0
ALL = "routes"  # the one queue key: reconciliation is over the whole table at once


def pod_cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class RouteController(QueueController):
    name: ClassVar[str] = "route"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: CloudContext) -> None:
        super().__init__(ctx)
        self.cluster_name = ctx.cluster_name
        self.routes = ctx.cloud.routes() if ctx.cloud is not None else None
        self.period = float(ctx.options.get("route-reconciliation-period", DEFAULT_PERIOD))
        self.nodes = self.factory.lister("nodes")
        if self.routes is not None:
            self.factory.informer("nodes").add_event_handler(
                on_add=lambda _n: self.queue.add(ALL), on_delete=lambda _n: self.queue.add(ALL),
                on_update=self._node_updated)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if pod_cidrs(old) != pod_cidrs(new):
            self.queue.add(ALL)

    async def run(self, workers: int | None = None) -> None:
        if self.routes is None:
            self.log.info("the cloud provider has no routes; the route controller does nothing")
            await asyncio.Event().wait()
        ticker = asyncio.create_task(self._tick(), name=f"{self.name}-ticker")
        try:
            await super().run(workers)
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            self.queue.add(ALL)
            await self.clock.sleep(self.period)

    async def sync(self, key: str) -> None:
        if self.routes is None:
            return
        nodes = {n["metadata"]["name"]: n for n in self.nodes.list()}
        wanted = {(name, cidr) for name, n in nodes.items() for cidr in pod_cidrs(n)}
        existing = await self.routes.list_routes(self.cluster_name)
        have = {(r.target_node, r.destination_cidr) for r in existing}
        for r in existing:
            if (r.target_node, r.destination_cidr) not in wanted or r.blackhole:
                await self.routes.delete_route(self.cluster_name, r)
                self.log.info("deleted route %s (%s -> %s)", r.name, r.destination_cidr, r.target_node)
        for name, cidr in sorted(wanted - have):
            uid = str(nodes[name]["metadata"].get("uid") or name)
            await self.routes.create_route(self.cluster_name, uid, Route(uid, name, cidr))
            self.log.info("created route for node %s: %s", name, cidr)
        for name, n in nodes.items():
            if pod_cidrs(n) and not _route_condition_set(n):
                await self._mark_routed(n)

    async def _mark_routed(self, node: Obj) -> None:
        now = timestamp(self.clock.now())
        cond = {"type": "NetworkUnavailable", "status": "False", "reason": "RouteCreated",
                "message": "RouteController created a route", "lastTransitionTime": now, "lastHeartbeatTime": now}
        others = [c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") != "NetworkUnavailable"]
        body = {"metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "status": {"conditions": [*others, cond]}}
        await self.client.patch("nodes", node["metadata"]["name"], body, "merge", subresource="status")


def _route_condition_set(node: Obj) -> bool:
    return any(c.get("type") == "NetworkUnavailable" and c.get("status") == "False" and c.get("reason") == "RouteCreated"
               for c in (node.get("status") or {}).get("conditions") or [])

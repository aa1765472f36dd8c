"""``stub``: a cloud with nothing behind it, for one-machine and test clusters.

- Load balancers get an address from a local pool (default ``127.0.0.2-127.0.0.254``, loopback
  addresses that need no configuration on Linux), or with pool ``node`` the InternalIPs of the
  eligible nodes, as k3s's ServiceLB answers. Nothing forwards traffic to the address by itself:
  kube-proxy's LoadBalancer rules do, as on any cloud.
- Every node is an instance that exists and runs, with provider ID ``stub://<node name>``.
- There are no routes and no zones beyond what nodes already carry.

The provider keeps its allocations in memory. After a restart it finds them again in the
Services' own ``status.loadBalancer`` (through a Service lister), so an address is never handed to
a second Service and a Service keeps the address it had.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from navarch.cloudprovider.interface import InstanceMetadata, Obj, load_balancer_name
from navarch.cloudprovider.ippool import IPPool

NAME = "stub"
DEFAULT_POOL = "127.0.0.2-127.0.0.254"
NODE_POOL = "node"
INSTANCE_TYPE = "stub"


class PoolExhausted(Exception):
    """No free address for a load balancer (reported in the Service's SyncLoadBalancerFailed event)."""


class StubCloud:
    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        spec = str((options or {}).get("lb-ip-pool") or DEFAULT_POOL)
        self.node_mode = spec == NODE_POOL
        self.pool = None if self.node_mode else IPPool(spec)
        self.allocated: dict[str, str] = {}  # balancer name -> address
        self._services = None

    # ---- Interface ---------------------------------------------------------------------------

    def provider_name(self) -> str:
        return NAME

    def initialize(self, ctx: Any) -> None:
        self._services = ctx.factory.lister("services")

    def load_balancer(self) -> StubCloud:
        return self

    def instances(self) -> None:
        return None

    def instances_v2(self) -> StubCloud:
        return self

    def zones(self) -> None:
        return None

    def routes(self) -> None:
        return None

    def has_cluster_id(self) -> bool:
        return True

    # ---- LoadBalancer ------------------------------------------------------------------------

    def get_load_balancer_name(self, cluster_name: str, service: Obj) -> str:
        return load_balancer_name(service)

    async def get_load_balancer(self, cluster_name: str, service: Obj) -> dict[str, Any] | None:
        ip = self.allocated.get(load_balancer_name(service))
        return {"ingress": [{"ip": ip}]} if ip else None

    async def ensure_load_balancer(self, cluster_name: str, service: Obj, nodes: Sequence[Obj]) -> dict[str, Any]:
        if self.node_mode:
            ips = sorted({ip for n in nodes if (ip := _internal_ip(n))})
            if not ips:
                raise PoolExhausted("no eligible node has an InternalIP to serve the load balancer")
            return {"ingress": [{"ip": ip} for ip in ips]}
        name = load_balancer_name(service)
        held = self.allocated.get(name)
        wanted = str((service.get("spec") or {}).get("loadBalancerIP") or "")
        ip = held if held is not None and (not wanted or held == wanted) else self._allocate(name, service, wanted)
        self.allocated[name] = ip
        return {"ingress": [{"ip": ip}]}

    async def update_load_balancer(self, cluster_name: str, service: Obj, nodes: Sequence[Obj]) -> None:
        return None  # the stub's balancers do not depend on the node set (node mode is recomputed on ensure)

    async def ensure_load_balancer_deleted(self, cluster_name: str, service: Obj) -> None:
        self.allocated.pop(load_balancer_name(service), None)

    def _allocate(self, name: str, service: Obj, wanted: str) -> str:
        assert self.pool is not None
        used = self._in_use(service)
        if wanted:
            if wanted not in self.pool:
                raise PoolExhausted(f"requested loadBalancerIP {wanted} is not in the pool {self.pool.spec}")
            if wanted in used:
                raise PoolExhausted(f"requested loadBalancerIP {wanted} is in use by another service")
            return wanted
        # An address the service already shows (we allocated it before a restart) is kept.
        for ing in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
            ip = str(ing.get("ip") or "")
            if ip and ip in self.pool and ip not in used:
                return ip
        free = self.pool.first_free(used)
        if free is None:
            raise PoolExhausted(f"no free address left in the load balancer pool {self.pool.spec}")
        return free

    def _in_use(self, service: Obj) -> set[str]:
        me = load_balancer_name(service)
        used = {ip for n, ip in self.allocated.items() if n != me}
        if self._services is not None:
            for other in self._services.list():
                if load_balancer_name(other) == me:
                    continue
                for ing in ((other.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                    if ing.get("ip"):
                        used.add(str(ing["ip"]))
        return used

    # ---- InstancesV2 -------------------------------------------------------------------------

    async def instance_exists(self, node: Obj) -> bool:
        return True

    async def instance_shutdown(self, node: Obj) -> bool:
        return False

    async def instance_metadata(self, node: Obj) -> InstanceMetadata:
        name = str((node.get("metadata") or {}).get("name") or "")
        return InstanceMetadata(provider_id=f"{NAME}://{name}", instance_type=INSTANCE_TYPE)


def _internal_ip(node: Obj) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    return ""

"""Upstream's ``k8s.io/cloud-provider`` interface, as Protocols.

A provider answers ``None`` for a capability it lacks (upstream's ``(nil, false)``), and the
controller that needs it stays idle, as the cloud controller manager does upstream. Every method may
do network I/O, so all are coroutines; each must be idempotent, because controllers call them again
after any failure or restart. Objects (services, nodes) are the API's plain dicts and read-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Obj = Mapping[str, Any]


class InstanceNotFound(Exception):
    """The node's instance does not exist (upstream's ``cloudprovider.InstanceNotFound``)."""


@dataclass(frozen=True)
class InstanceMetadata:
    """What the cloud-node controller copies onto a Node when initializing it."""

    provider_id: str
    instance_type: str = ""
    node_addresses: tuple[dict[str, str], ...] = ()  # NodeAddress dicts; empty = keep the kubelet's
    zone: str = ""
    region: str = ""
    additional_labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Zone:
    failure_domain: str = ""
    region: str = ""


@dataclass(frozen=True)
class Route:
    """A route sending ``destination_cidr`` (a node's pod CIDR) to ``target_node``."""

    name: str
    target_node: str
    destination_cidr: str
    blackhole: bool = False


class LoadBalancer(Protocol):
    def get_load_balancer_name(self, cluster_name: str, service: Obj) -> str: ...

    async def get_load_balancer(self, cluster_name: str, service: Obj) -> dict[str, Any] | None:
        """The LoadBalancerStatus (``{"ingress": [...]}``) of an existing balancer, None if absent."""

    async def ensure_load_balancer(self, cluster_name: str, service: Obj, nodes: Sequence[Obj]) -> dict[str, Any]:
        """Create or update the balancer for ``service`` over ``nodes``; returns its LoadBalancerStatus."""

    async def update_load_balancer(self, cluster_name: str, service: Obj, nodes: Sequence[Obj]) -> None:
        """The set of eligible nodes changed; the service itself did not."""

    async def ensure_load_balancer_deleted(self, cluster_name: str, service: Obj) -> None:
        """Release everything held for ``service``; succeeds when nothing is held."""


class InstancesV2(Protocol):
    async def instance_exists(self, node: Obj) -> bool: ...

    async def instance_shutdown(self, node: Obj) -> bool: ...

    async def instance_metadata(self, node: Obj) -> InstanceMetadata:
        """Raises InstanceNotFound when the node has no instance."""


class Instances(Protocol):
    """The older per-field instance interface, kept for providers that only have it."""

    async def node_addresses(self, node_name: str) -> list[dict[str, str]]: ...

    async def instance_id(self, node_name: str) -> str: ...

    async def instance_type(self, node_name: str) -> str: ...

    async def instance_exists_by_provider_id(self, provider_id: str) -> bool: ...

    async def instance_shutdown_by_provider_id(self, provider_id: str) -> bool: ...


class Zones(Protocol):
    async def get_zone_by_node_name(self, node_name: str) -> Zone: ...


class Routes(Protocol):
    async def list_routes(self, cluster_name: str) -> list[Route]: ...

    async def create_route(self, cluster_name: str, name_hint: str, route: Route) -> None: ...

    async def delete_route(self, cluster_name: str, route: Route) -> None: ...


class Interface(Protocol):
    """One cloud. ``initialize`` is called once, before any controller starts, with the controller
    context (API client and informer factory) so a provider may keep listers of its own."""

    def provider_name(self) -> str: ...

    def initialize(self, ctx: Any) -> None: ...

    def load_balancer(self) -> LoadBalancer | None: ...

    def instances(self) -> Instances | None: ...

    def instances_v2(self) -> InstancesV2 | None: ...

    def zones(self) -> Zones | None: ...

    def routes(self) -> Routes | None: ...

    def has_cluster_id(self) -> bool: ...


def load_balancer_name(service: Obj) -> str:
    """Upstream's default balancer name: ``a`` + the service UID without dashes, at most 32 chars."""
    uid = str((service.get("metadata") or {}).get("uid") or "").replace("-", "")
    return ("a" + uid)[:32]

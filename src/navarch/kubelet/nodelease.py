"""The node's heartbeat: a ``coordination.k8s.io`` Lease named after the node in ``kube-node-lease``.

As upstream's node lease controller: the Lease is held by the node (``holderIdentity``), lasts
``leaseDurationSeconds`` (40 s), and is renewed every quarter of that by updating ``renewTime``
(a MicroTime); it is owned by the Node, so deleting the Node deletes its Lease. Renewal PUTs the
last Lease this controller wrote, so the common case is one request; on a conflict or a missing
Lease it reads (or creates) it afresh. The node lifecycle controller reads these renewals.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from navarch.client.errors import ApiError, is_already_exists, is_conflict, is_not_found
from navarch.client.rest import Client
from navarch.machinery.clock import Clock

log = logging.getLogger(__name__)

NAMESPACE = "kube-node-lease"


def micro_time(clock: Clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeLease:
    def __init__(self, client: Client, node_name: str, clock: Clock, duration: int,
                 node_uid: Callable[[], str]) -> None:
        self.client = client
        self.node_name = node_name
        self.clock = clock
        self.duration = duration
        self._node_uid = node_uid
        self.lease: dict[str, Any] | None = None
        self.renewals = 0

    async def renew(self) -> None:
        """One renewal; raises (to be retried sooner than the next interval) on failure."""
        if self.lease is not None:
            try:
                self.lease = await self.client.update("leases", self._renewed(self.lease), NAMESPACE)
                self.renewals += 1
                return
            except ApiError as e:
                if not (is_conflict(e) or is_not_found(e)):
                    raise
                self.lease = None
        await self._ensure()
        self.renewals += 1

    async def _ensure(self) -> None:
        try:
            current = await self.client.get("leases", self.node_name, NAMESPACE)
        except ApiError as e:
            if not is_not_found(e):
                raise
            try:
                self.lease = await self.client.create("leases", self._new(), NAMESPACE)
                return
            except ApiError as e2:
                if not is_already_exists(e2):
                    raise
                current = await self.client.get("leases", self.node_name, NAMESPACE)
        self.lease = await self.client.update("leases", self._renewed(current), NAMESPACE)

    def _new(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": self.node_name, "namespace": NAMESPACE}
        owner = self._owner()
        if owner:
            meta["ownerReferences"] = [owner]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
                "spec": {"holderIdentity": self.node_name, "leaseDurationSeconds": self.duration,
                         "renewTime": micro_time(self.clock)}}

    def _renewed(self, lease: dict[str, Any]) -> dict[str, Any]:
        out = {**lease, "metadata": dict(lease.get("metadata") or {}),
               "spec": {**(lease.get("spec") or {}), "holderIdentity": self.node_name,
                        "leaseDurationSeconds": self.duration, "renewTime": micro_time(self.clock)}}
        if not out["metadata"].get("ownerReferences"):
            owner = self._owner()
            if owner:
                out["metadata"]["ownerReferences"] = [owner]
        return out

    def _owner(self) -> dict[str, Any] | None:
        uid = self._node_uid()
        if not uid:
            return None
        return {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": uid}

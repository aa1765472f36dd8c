"""The cloud-node controller: nodes registered with the ``uninitialized`` taint are completed from
the cloud, then released for scheduling.

A kubelet started with an external cloud provider registers its Node with the taint
``node.cloudprovider.kubernetes.io/uninitialized:NoSchedule``; upstream's cloud-node controller then
sets ``spec.providerID``, the instance-type, zone and region labels (with their beta twins) and the
addresses the cloud knows, and removes the taint. Nodes without the taint are left alone, as
upstream does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from navarch.cloudprovider.controllers import CloudContext
from navarch.cloudprovider.interface import InstanceMetadata
from navarch.controllers.base import QueueController
from navarch.machinery.cache import Obj

UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")


def cloud_taint(node: Obj) -> dict[str, Any] | None:
    return next((t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") == UNINITIALIZED_TAINT),
                None)


def initialization_patch(node: Obj, meta: InstanceMetadata) -> dict[str, Any]:
    """A merge patch that completes ``node`` from ``meta`` and drops the cloud taint."""
    labels: dict[str, str] = {}
    for keys, value in ((INSTANCE_TYPE_LABELS, meta.instance_type), (ZONE_LABELS, meta.zone),
                        (REGION_LABELS, meta.region)):
        if value:
            labels.update(dict.fromkeys(keys, value))
    labels.update(meta.additional_labels)
    current = (node.get("metadata") or {}).get("labels") or {}
    labels = {k: v for k, v in labels.items() if current.get(k) != v}
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != UNINITIALIZED_TAINT]
    spec: dict[str, Any] = {"taints": taints or None}
    if meta.provider_id and not (node.get("spec") or {}).get("providerID"):
        spec["providerID"] = meta.provider_id
    metadata: dict[str, Any] = {"resourceVersion": node["metadata"]["resourceVersion"]}
    if labels:
        metadata["labels"] = labels
    return {"metadata": metadata, "spec": spec}


class CloudNodeController(QueueController):
    name: ClassVar[str] = "cloud-node"
    workers: ClassVar[int] = 1

    def __init__(self, ctx: CloudContext) -> None:
        super().__init__(ctx)
        self.instances = ctx.cloud.instances_v2() if ctx.cloud is not None else None
        self.nodes = self.factory.lister("nodes")
        if self.instances is None:
            self.log.warning("the cloud provider has no instances; nodes stay uninitialized")
            return
        self.factory.informer("nodes").add_event_handler(
            on_add=self._maybe_enqueue, on_update=lambda _old, new: self._maybe_enqueue(new))

    def _maybe_enqueue(self, node: Obj) -> None:
        if cloud_taint(node) is not None:
            self.enqueue(node)

    async def sync(self, key: str) -> None:
        node = self.nodes.get(None, key)
        if node is None or cloud_taint(node) is None or self.instances is None:
            return
        meta = await self.instances.instance_metadata(node)
        if meta.node_addresses:
            # Returns the node at its new resourceVersion, which the patch below is checked against.
            node = await self.client.patch("nodes", key, {"status": {"addresses": list(meta.node_addresses)}},
                                           "merge", subresource="status")
        await self.client.patch("nodes", key, initialization_patch(node, meta), "merge")
        self.log.info("initialized node %s with cloud provider (providerID %s)", key,
                      (node.get("spec") or {}).get("providerID") or meta.provider_id)

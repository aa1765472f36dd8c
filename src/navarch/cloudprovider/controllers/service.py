"""The service load-balancer controller: Services of type LoadBalancer get a balancer from the cloud.

As upstream's ``service-lb-controller``:
- a Service that wants a balancer (type LoadBalancer, no ``spec.loadBalancerClass``) first gets the
  ``service.kubernetes.io/load-balancer-cleanup`` finalizer, so its deletion waits until the balancer
  is released, then ``ensure_load_balancer`` and its ``status.loadBalancer`` written;
- a Service that holds the finalizer but is being deleted, or no longer is of type LoadBalancer,
  has its balancer released, its status cleared and the finalizer removed;
- node changes re-ensure every balancer, since balancers send traffic to the eligible nodes (all
  but those labelled ``node.kubernetes.io/exclude-from-external-load-balancers``).

Events use upstream's reasons (EnsuringLoadBalancer, EnsuredLoadBalancer, UpdatedLoadBalancer,
DeletingLoadBalancer, DeletedLoadBalancer, SyncLoadBalancerFailed). Repeated syncs of an unchanged
Service are silent.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from navarch.client.errors import ApiError, is_not_found
from navarch.cloudprovider.controllers import CloudContext
from navarch.controllers.base import QueueController
from navarch.machinery.cache import Obj, final_state, object_key
from navarch.machinery.events import NORMAL, WARNING

FINALIZER = "service.kubernetes.io/load-balancer-cleanup"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


def wants_load_balancer(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def has_finalizer(svc: Obj) -> bool:
    return FINALIZER in ((svc.get("metadata") or {}).get("finalizers") or [])


def needs_cleanup(svc: Obj) -> bool:
    if not has_finalizer(svc):
        return False
    return bool((svc.get("metadata") or {}).get("deletionTimestamp")) or not wants_load_balancer(svc)


def eligible_nodes(nodes: list[Obj]) -> list[Obj]:
    return sorted((n for n in nodes
                   if EXCLUDE_LABEL not in ((n.get("metadata") or {}).get("labels") or {})
                   and not (n.get("metadata") or {}).get("deletionTimestamp")),
                  key=lambda n: n["metadata"]["name"])


class ServiceController(QueueController):
    name: ClassVar[str] = "service-lb"
    workers: ClassVar[int] = 2

    def __init__(self, ctx: CloudContext) -> None:
        super().__init__(ctx)
        self.cloud = ctx.cloud
        self.cluster_name = ctx.cluster_name
        self.balancers = ctx.cloud.load_balancer() if ctx.cloud is not None else None
        self.services = self.factory.lister("services")
        self.nodes = self.factory.lister("nodes")
        # What each key was last ensured with (service spec, node names), to keep repeats silent, and
        # the last state of services we hold a balancer for, to release one whose Service vanished
        # without our finalizer (deleted while this controller was not running, finalizer stripped).
        self._ensured: dict[str, tuple[bytes, tuple[str, ...]]] = {}
        self._held: dict[str, Obj] = {}
        # The resourceVersion of our last write per key: a cached object older than that is our own
        # write still on its way back through the watch, so acting on it would only repeat the work.
        self._written: dict[str, int] = {}
        if self.balancers is None:
            self.log.warning("the cloud provider has no load balancers; Services of type LoadBalancer stay pending")
            return
        self.factory.informer("services").add_event_handler(
            on_add=self._service_changed, on_update=lambda old, new: self._service_changed(new, old),
            on_delete=lambda obj: self.enqueue(final_state(obj)))
        self.factory.informer("nodes").add_event_handler(
            on_add=lambda _n: self._nodes_changed(), on_delete=lambda _n: self._nodes_changed(),
            on_update=self._node_updated)

    # ---- handlers ----------------------------------------------------------------------------

    def _service_changed(self, svc: Obj, old: Obj | None = None) -> None:
        if old is not None and not _relevant_change(old, svc):
            return
        if wants_load_balancer(svc) or has_finalizer(svc) or object_key(svc) in self._held:
            self.enqueue(svc)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        def view(n: Obj) -> tuple[Any, ...]:
            meta = n.get("metadata") or {}
            return (EXCLUDE_LABEL in (meta.get("labels") or {}), bool(meta.get("deletionTimestamp")),
                    orjson.dumps((n.get("status") or {}).get("addresses") or []))
        if view(old) != view(new):
            self._nodes_changed()

    def _nodes_changed(self) -> None:
        for svc in self.services.list():
            if wants_load_balancer(svc):
                self.enqueue(svc)

    # ---- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if self.balancers is None:
            return
        ns, _, name = key.partition("/")
        svc = self.services.get(ns, name)
        if svc is None:
            gone = self._held.pop(key, None)
            self._ensured.pop(key, None)
            self._written.pop(key, None)
            if gone is not None:
                await self.balancers.ensure_load_balancer_deleted(self.cluster_name, gone)
                self.log.info("released the load balancer of deleted service %s", key)
            return
        if _rv(svc) < self._written.get(key, 0):
            return  # the event for our newer write is on its way and will queue this key again
        if needs_cleanup(svc):
            await self._clean_up(key, svc)
        elif wants_load_balancer(svc):
            await self._ensure(key, svc)
        elif key in self._held:
            # Lost its finalizer and its type: nothing left to keep the balancer for.
            await self.balancers.ensure_load_balancer_deleted(self.cluster_name, self._held.pop(key))
            self._ensured.pop(key, None)

    async def _ensure(self, key: str, svc: Obj) -> None:
        assert self.balancers is not None
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        if not has_finalizer(svc):
            # Before any balancer exists, so a deletion can never leave one behind.
            svc = self._wrote(key, await self._set_finalizers(svc, [*(svc["metadata"].get("finalizers") or []),
                                                                    FINALIZER]))
        nodes = eligible_nodes(self.nodes.list())
        spec_print = orjson.dumps(svc.get("spec") or {}, option=orjson.OPT_SORT_KEYS)
        node_names = tuple(n["metadata"]["name"] for n in nodes)
        last = self._ensured.get(key)
        current = (svc.get("status") or {}).get("loadBalancer") or {}
        first = last is None and not current.get("ingress")
        if first or (last is not None and last[0] != spec_print):
            self.recorder.event(svc, NORMAL, "EnsuringLoadBalancer", "Ensuring load balancer")
        self._held[key] = svc
        try:
            status = await self.balancers.ensure_load_balancer(self.cluster_name, svc, nodes)
        except Exception as e:
            self.recorder.event(svc, WARNING, "SyncLoadBalancerFailed", f"Error syncing load balancer: {e}")
            raise
        if status != current:
            self._wrote(key, await self.client.patch("services", name, {"status": {"loadBalancer": status}},
                                                     "merge", ns, subresource="status"))
            ips = ", ".join(i.get("ip") or i.get("hostname") or "" for i in status.get("ingress") or [])
            self.log.info("service %s: load balancer at %s", key, ips or "(none)")
        if first or status != current or (last is not None and last[0] != spec_print):
            self.recorder.event(svc, NORMAL, "EnsuredLoadBalancer", "Ensured load balancer")
        elif last is not None and last[1] != node_names:
            self.recorder.event(svc, NORMAL, "UpdatedLoadBalancer", "Updated load balancer with new hosts")
        self._ensured[key] = (spec_print, node_names)

    async def _clean_up(self, key: str, svc: Obj) -> None:
        assert self.balancers is not None
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        self.recorder.event(svc, NORMAL, "DeletingLoadBalancer", "Deleting load balancer")
        try:
            await self.balancers.ensure_load_balancer_deleted(self.cluster_name, svc)
        except Exception as e:
            self.recorder.event(svc, WARNING, "SyncLoadBalancerFailed", f"Error deleting load balancer: {e}")
            raise
        if ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            try:
                # The status write moves the resourceVersion the finalizer patch below is checked against.
                svc = self._wrote(key, await self.client.patch(
                    "services", name, {"status": {"loadBalancer": {"ingress": None}}}, "merge", ns,
                    subresource="status"))
            except ApiError as e:
                if not is_not_found(e):
                    raise
        self._wrote(key, await self._set_finalizers(svc, [f for f in svc["metadata"].get("finalizers") or []
                                                          if f != FINALIZER]))
        self._held.pop(key, None)
        self._ensured.pop(key, None)
        self.recorder.event(svc, NORMAL, "DeletedLoadBalancer", "Deleted load balancer")
        self.log.info("service %s: load balancer released", key)

    def _wrote(self, key: str, obj: Obj) -> Obj:
        self._written[key] = max(self._written.get(key, 0), _rv(obj))
        return obj

    async def _set_finalizers(self, svc: Obj, finalizers: list[str]) -> Obj:
        meta = svc["metadata"]
        # The resourceVersion makes this a compare-and-swap: a merge patch replaces the whole list,
        # so a finalizer someone else added meanwhile must not be lost (409, then a retry re-reads).
        body = {"metadata": {"finalizers": finalizers or None, "resourceVersion": meta["resourceVersion"]}}
        try:
            return await self.client.patch("services", meta["name"], body, "merge", meta["namespace"])
        except ApiError as e:
            if is_not_found(e) and not finalizers:
                return svc
            raise


def _rv(obj: Obj) -> int:
    """navarch's resourceVersions are store revisions (integers); anything else compares as 0, which
    never skips a sync."""
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _relevant_change(old: Obj, new: Obj) -> bool:
    """Our own status writes come back as updates; only spec, finalizers, deletion or a status
    someone else changed need a sync."""
    om, nm = old.get("metadata") or {}, new.get("metadata") or {}
    return (old.get("spec") != new.get("spec") or om.get("finalizers") != nm.get("finalizers")
            or om.get("deletionTimestamp") != nm.get("deletionTimestamp") or om.get("uid") != nm.get("uid")
            or (old.get("status") or {}).get("loadBalancer") != (new.get("status") or {}).get("loadBalancer"))

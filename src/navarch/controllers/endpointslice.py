"""The EndpointSlice controller: a Service's pods as ``discovery.k8s.io/v1`` EndpointSlices.

One slice holds endpoints of one address family and one set of ports (named target ports can
resolve differently per pod, so one Service can need several port sets), at most
``max-endpoints-per-slice`` (default 100) endpoints each. Unlike Endpoints, terminating pods stay
listed, with conditions saying what they are: ``serving`` (ready, ignoring termination), ``ready``
(serving and not terminating) and ``terminating``; ``publishNotReadyAddresses`` makes both true.

Slices the controller owns carry ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`` and a controller
reference to the Service; others are never touched. Reconciling keeps existing slices where it can
(fewer writes for watchers such as kube-proxy), fills free room before creating new slices, and
keeps one empty placeholder slice for a service with no endpoints, as upstream's reconciler does.

The informer cache can lag behind the controller's own writes; syncing from a stale cache would
create duplicate slices. A per-service record of written slices makes such a sync fail and retry
until the cache has caught up (upstream's EndpointSliceTracker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from navarch.api import selectors
from navarch.client.errors import ApiError, is_not_found
from navarch.controllers import endpoints as eputil
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state, object_key
from navarch.machinery.controllerref import new_controller_ref

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_ENDPOINTS_PER_SLICE = 100

PortsKey = tuple[tuple[str, int, str, str], ...]
GroupKey = tuple[str, PortsKey]  # (addressType, ports)


def ports_key(ports: Iterable[Mapping[str, Any]]) -> PortsKey:
    return tuple(sorted((str(p.get("name", "")), int(p.get("port", 0)), str(p.get("protocol", "TCP")),
                         str(p.get("appProtocol", ""))) for p in ports))


def endpoint_key(ep: Mapping[str, Any]) -> tuple[str, str]:
    return (str((ep.get("addresses") or [""])[0]), str((ep.get("targetRef") or {}).get("uid", "")))


def pod_ports(svc: Obj, pod: Obj) -> list[dict[str, Any]]:
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        num = eputil.find_port(pod, sp)
        if num is None:
            continue
        p: dict[str, Any] = {"name": sp.get("name", ""), "port": num, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("appProtocol"):
            p["appProtocol"] = sp["appProtocol"]
        out.append(p)
    return out


def pod_to_endpoint(svc: Obj, pod: Obj, ip: str, node: Obj | None) -> dict[str, Any]:
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    serving = publish or eputil.is_pod_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    ep: dict[str, Any] = {
        "addresses": [ip],
        # ready never claims a terminating pod, unless the service asked for unready ones too.
        "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                       "terminating": terminating},
        "targetRef": eputil.target_ref(pod),
    }
    node_name = (pod.get("spec") or {}).get("nodeName")
    if node_name:
        ep["nodeName"] = node_name
    zone = ((node or {}).get("metadata") or {}).get("labels", {}).get(ZONE_LABEL) if node else None
    if zone:
        ep["zone"] = zone
    hostname = eputil.endpoint_hostname(pod, svc)
    if hostname:
        ep["hostname"] = hostname
    return ep


@dataclass
class Group:
    address_type: str
    ports: list[dict[str, Any]]
    endpoints: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def desired_groups(svc: Obj, pods: Iterable[Obj], nodes: Mapping[str, Obj] | None = None) -> dict[GroupKey, Group]:
    nodes = nodes or {}
    groups: dict[GroupKey, Group] = {}
    families = eputil.service_ip_families(svc)
    for pod in pods:
        if not eputil.should_pod_be_in_endpoints(pod, True):
            continue
        ports = pod_ports(svc, pod)
        if (svc.get("spec") or {}).get("ports") and not ports:
            continue  # serves none of the service's ports
        for family in families:
            ip = eputil.pod_ip_for_family(pod, family)
            if ip is None:
                continue
            gkey = (family, ports_key(ports))
            group = groups.setdefault(gkey, Group(family, ports))
            ep = pod_to_endpoint(svc, pod, ip, nodes.get((pod.get("spec") or {}).get("nodeName") or ""))
            group.endpoints[endpoint_key(ep)] = ep
    return groups


def slice_labels(svc: Obj) -> dict[str, str]:
    labels = {k: v for k, v in ((svc.get("metadata") or {}).get("labels") or {}).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, eputil.HEADLESS_LABEL)}
    if eputil.is_headless(svc):
        labels[eputil.HEADLESS_LABEL] = ""
    labels[SERVICE_NAME_LABEL] = str((svc.get("metadata") or {}).get("name", ""))
    labels[MANAGED_BY_LABEL] = CONTROLLER_NAME
    return labels


def new_slice(svc: Obj, address_type: str, ports: list[dict[str, Any]], endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    meta = svc.get("metadata") or {}
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": f"{meta.get('name', '')}-", "namespace": meta.get("namespace", ""),
                     "labels": slice_labels(svc), "ownerReferences": [new_controller_ref(svc, "Service", "v1")]},
        "addressType": address_type, "ports": ports, "endpoints": endpoints,
    }


@dataclass
class Plan:
    create: list[dict[str, Any]] = field(default_factory=list)
    update: list[dict[str, Any]] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def _sorted_eps(eps: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(eps, key=endpoint_key)


def reconcile(svc: Obj, groups: Mapping[GroupKey, Group], existing: list[Obj],
              max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> Plan:
    """What to write to turn ``existing`` managed slices into ``groups`` (pure, no I/O)."""
    plan = Plan()
    labels = slice_labels(svc)
    by_group: dict[GroupKey, list[Obj]] = {}
    for s in sorted(existing, key=lambda s: (s.get("metadata") or {}).get("name", "")):
        by_group.setdefault((str(s.get("addressType", "")), ports_key(s.get("ports") or [])), []).append(s)

    if not any(g.endpoints for g in groups.values()):
        # No endpoints at all: exactly one placeholder slice, so consumers see "none" explicitly.
        family = eputil.service_ip_families(svc)[0]
        keep = next((s for s in existing if not s.get("endpoints") and not s.get("ports")
                     and s.get("addressType") == family), None)
        for s in existing:
            if s is not keep:
                plan.delete.append(s)
        if keep is None:
            plan.create.append(new_slice(svc, family, [], []))
        elif ((keep.get("metadata") or {}).get("labels") or {}) != labels:
            plan.update.append(_with(keep, [], labels))
        return plan

    for gkey, slices in by_group.items():
        if gkey not in groups:
            plan.delete.extend(slices)
    for gkey, group in sorted(groups.items()):
        placed: set[tuple[str, str]] = set()
        changed: list[dict[str, Any]] = []
        unchanged: list[tuple[Obj, list[dict[str, Any]]]] = []
        for s in by_group.get(gkey, []):
            kept = []
            for ep in s.get("endpoints") or []:
                k = endpoint_key(ep)
                if k in group.endpoints and k not in placed:
                    kept.append(group.endpoints[k])
                    placed.add(k)
            if not kept:
                plan.delete.append(s)
                continue
            if kept != list(s.get("endpoints") or []) or ((s.get("metadata") or {}).get("labels") or {}) != labels:
                changed.append(_with(s, kept, labels))
            else:
                unchanged.append((s, kept))
        pending = _sorted_eps(ep for k, ep in group.endpoints.items() if k not in placed)
        # Fill slices we write anyway first, then others with room, then new ones.
        for body in changed:
            room = max_per_slice - len(body["endpoints"])
            if room > 0 and pending:
                body["endpoints"] = body["endpoints"] + pending[:room]
                pending = pending[room:]
        for s, kept in unchanged:
            room = max_per_slice - len(kept)
            if room > 0 and pending:
                changed.append(_with(s, kept + pending[:room], labels))
                pending = pending[room:]
        plan.update.extend(changed)
        while pending:
            plan.create.append(new_slice(svc, group.address_type, group.ports, pending[:max_per_slice]))
            pending = pending[max_per_slice:]
    return plan


def _with(s: Obj, endpoints: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, Any]:
    meta = dict(s.get("metadata") or {})
    meta["labels"] = labels
    return {**s, "metadata": meta, "endpoints": endpoints}


class StaleCache(Exception):
    """The cache has not yet seen this controller's last writes for a service; retry later."""


class EndpointSliceController(QueueController):
    name: ClassVar[str] = "endpointslice"
    workers: ClassVar[int] = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.max_per_slice = int(ctx.options.get("max-endpoints-per-slice", MAX_ENDPOINTS_PER_SLICE))
        self.services = self.factory.lister("services")
        self.pods = self.factory.lister("pods")
        self.nodes = self.factory.lister("nodes")
        self.slices = self.factory.lister("endpointslices")
        # service key → slice name → resourceVersion written (None: deleted).
        self._written: dict[str, dict[str, str | None]] = {}
        self.factory.informer("services").add_event_handler(
            on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.factory.informer("pods").add_event_handler(
            on_add=self._pod_changed, on_update=self._pod_updated,
            on_delete=lambda o: self._pod_changed(final_state(o)))
        self.factory.informer("nodes")
        self.factory.informer("endpointslices").add_event_handler(
            on_add=self._slice_changed, on_update=lambda _o, n: self._slice_changed(n),
            on_delete=lambda o: self._slice_changed(final_state(o)))

    # ---- handlers ----------------------------------------------------------------------------

    def _pod_changed(self, pod: Obj) -> None:
        ns = (pod.get("metadata") or {}).get("namespace")
        if ns:
            for svc in eputil.services_for_pod(self.services.list(ns), pod):
                self.enqueue(svc)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get("resourceVersion"):
            return
        self._pod_changed(new)
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._pod_changed(old)

    def _slice_changed(self, s: Obj) -> None:
        labels = (s.get("metadata") or {}).get("labels") or {}
        svc = labels.get(SERVICE_NAME_LABEL)
        if svc and labels.get(MANAGED_BY_LABEL) == CONTROLLER_NAME:
            self.queue.add(f"{(s.get('metadata') or {}).get('namespace')}/{svc}")

    # ---- sync --------------------------------------------------------------------------------

    def managed_slices(self, ns: str, name: str) -> list[Obj]:
        return self.slices.list(ns, {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME})

    async def sync(self, key: str) -> None:
        ns, _, name = key.partition("/")
        existing = self.managed_slices(ns, name)
        self._check_fresh(key, existing)
        svc = self.services.get(ns, name)
        if svc is None or (svc.get("spec") or {}).get("type") == "ExternalName":
            # Owner references let the garbage collector do this too; doing it here keeps the
            # controller correct on its own.
            await self._apply(key, Plan(delete=list(existing)))
            if svc is None:
                self._written.pop(key, None)
            return
        sel = eputil.selector_of(svc)
        if sel is None:
            return  # slices of selector-less services belong to their users (or the mirroring controller)
        pods = self.pods.list(ns, selectors.label_selector_from_set(sel))
        nodes = {object_key(n): n for n in self.nodes.list()}
        plan = reconcile(svc, desired_groups(svc, pods, nodes), existing, self.max_per_slice)
        await self._apply(key, plan)

    def _check_fresh(self, key: str, existing: list[Obj]) -> None:
        written = self._written.get(key)
        if not written:
            return
        cached = {(s.get("metadata") or {}).get("name"): s for s in existing}
        for slice_name, rv in list(written.items()):
            s = cached.get(slice_name)
            if rv is None:
                if s is not None:
                    raise StaleCache(f"slice {slice_name} deleted but still cached")
            elif s is None or _older((s.get("metadata") or {}).get("resourceVersion"), rv):
                raise StaleCache(f"slice {slice_name} not yet cached at {rv}")
            del written[slice_name]

    async def _apply(self, key: str, plan: Plan) -> None:
        if plan.empty:
            return
        ns = key.partition("/")[0]
        written = self._written.setdefault(key, {})
        for s in plan.delete:
            sname = (s.get("metadata") or {}).get("name", "")
            try:
                await self.client.delete("endpointslices", sname, ns)
            except ApiError as e:
                if not is_not_found(e):
                    raise
            written[sname] = None
        for body in plan.update:
            stored = await self.client.update("endpointslices", body, ns)
            written[stored["metadata"]["name"]] = stored["metadata"].get("resourceVersion")
        for body in plan.create:
            try:
                stored = await self.client.create("endpointslices", body, ns)
            except ApiError as e:
                if eputil.is_forbidden_terminating(e):
                    return
                raise
            written[stored["metadata"]["name"]] = stored["metadata"].get("resourceVersion")
        self.log.info("service %s: %d slice(s) created, %d updated, %d deleted", key, len(plan.create),
                      len(plan.update), len(plan.delete))


def _older(cached_rv: Any, written_rv: str) -> bool:
    try:
        return int(cached_rv) < int(written_rv)
    except (TypeError, ValueError):
        return False

"""The endpoints controller: each Service with a selector gets an ``Endpoints`` of the same name.

Addresses come from the pods the selector matches: pods with an IP, not terminal, ready ones in
``addresses`` and the rest in ``notReadyAddresses`` (all of them in ``addresses`` with
``publishNotReadyAddresses``; terminating pods only then). Each service port is resolved per pod,
so a named ``targetPort`` may map to different container ports on different pods; addresses are
then repacked into subsets of identical port sets. Services without a selector are left alone:
their Endpoints belong to whoever wrote them.

The pod helpers here (readiness, which pods belong, port resolution, hostnames) are shared with the
EndpointSlice controller, as upstream shares them in ``endpointslice/util``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from navarch.api import selectors
from navarch.client.errors import ApiError, is_already_exists, is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state, object_key

HEADLESS_LABEL = "service.kubernetes.io/headless"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"

# ---- pod helpers (shared with endpointslice) ---------------------------------------------------


def is_pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def should_pod_be_in_endpoints(pod: Obj, include_terminating: bool) -> bool:
    """A pod with an IP that has not finished; terminating ones only when asked for."""
    status = pod.get("status") or {}
    if not status.get("podIP") and not status.get("podIPs"):
        return False
    if is_terminal(pod):
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def pod_ips(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")]
    if not ips and status.get("podIP"):
        ips = [status["podIP"]]
    return ips


def ip_family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def service_ip_families(svc: Obj) -> list[str]:
    """The families the service serves: ``spec.ipFamilies``, else from its cluster IP, else IPv4."""
    spec = svc.get("spec") or {}
    fams = [f for f in spec.get("ipFamilies") or [] if f in ("IPv4", "IPv6")]
    if fams:
        return fams
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        return [ip_family(ip)]
    return ["IPv4"]


def pod_ip_for_family(pod: Obj, family: str) -> str | None:
    for ip in pod_ips(pod):
        if ip_family(ip) == family:
            return ip
    return None


def find_port(pod: Obj, svc_port: Mapping[str, Any]) -> int | None:
    """The container port a service port targets on this pod (upstream podutil.FindPort)."""
    target = svc_port.get("targetPort")
    if target is None or target == "":
        return int(svc_port["port"])
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    protocol = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    # Sidecars (init containers that keep running) serve ports too.
    containers = list(spec.get("containers") or []) + [
        c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    for c in containers:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == protocol:
                return int(p["containerPort"])
    return None


def endpoint_hostname(pod: Obj, svc: Obj) -> str:
    """A pod's hostname is published only for the service named by its subdomain."""
    spec = pod.get("spec") or {}
    pmeta, smeta = pod.get("metadata") or {}, svc.get("metadata") or {}
    if spec.get("hostname") and spec.get("subdomain") == smeta.get("name") \
            and pmeta.get("namespace") == smeta.get("namespace"):
        return str(spec["hostname"])
    return ""


def target_ref(pod: Obj) -> dict[str, Any]:
    meta = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": meta.get("namespace", ""), "name": meta.get("name", ""),
            "uid": meta.get("uid", "")}


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def selector_of(svc: Obj) -> dict[str, str] | None:
    sel = (svc.get("spec") or {}).get("selector")
    return dict(sel) if sel else None


def services_for_pod(services: Iterable[Obj], pod: Obj) -> list[Obj]:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for svc in services:
        sel = selector_of(svc)
        if sel is not None and all(labels.get(k) == v for k, v in sel.items()):
            out.append(svc)
    return out


# ---- the Endpoints computation ----------------------------------------------------------------


def _port_key(p: Mapping[str, Any]) -> tuple[str, int, str, str]:
    return (str(p.get("name", "")), int(p.get("port", 0)), str(p.get("protocol", "TCP")), str(p.get("appProtocol", "")))


def _addr_key(a: Mapping[str, Any]) -> tuple[str, str]:
    return (str(a.get("ip", "")), str((a.get("targetRef") or {}).get("uid", "")))


def endpoints_subsets(svc: Obj, pods: Iterable[Obj]) -> list[dict[str, Any]]:
    """The ``subsets`` for ``svc`` given the pods its selector matches, packed and sorted."""
    spec = svc.get("spec") or {}
    tolerate_unready = bool(spec.get("publishNotReadyAddresses"))
    family = service_ip_families(svc)[0]
    # port key → {address key → ready?}; None stands for "no ports" (headless without ports).
    by_port: dict[tuple[str, int, str, str] | None, dict[tuple[str, str], bool]] = {}
    ports: dict[tuple[str, int, str, str], dict[str, Any]] = {}
    addresses: dict[tuple[str, str], dict[str, Any]] = {}
    svc_ports = list(spec.get("ports") or [])
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, tolerate_unready):
            continue
        ip = pod_ip_for_family(pod, family)
        if ip is None:
            continue
        addr: dict[str, Any] = {"ip": ip}
        hostname = endpoint_hostname(pod, svc)
        if hostname:
            addr["hostname"] = hostname
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            addr["nodeName"] = node
        addr["targetRef"] = target_ref(pod)
        akey = _addr_key(addr)
        ready = tolerate_unready or is_pod_ready(pod)
        if not svc_ports:
            if is_headless(svc):
                addresses[akey] = addr
                by_port.setdefault(None, {})[akey] = ready
            continue
        for sp in svc_ports:
            num = find_port(pod, sp)
            if num is None:
                continue  # this pod does not serve this port (a named port it lacks)
            ep: dict[str, Any] = {"port": num, "protocol": sp.get("protocol") or "TCP"}
            if sp.get("name"):
                ep["name"] = sp["name"]
            if sp.get("appProtocol"):
                ep["appProtocol"] = sp["appProtocol"]
            pkey = _port_key(ep)
            ports[pkey] = ep
            addresses[akey] = addr
            seen = by_port.setdefault(pkey, {})
            seen[akey] = seen.get(akey, False) or ready
    return _repack(by_port, ports, addresses)


def _repack(by_port: Mapping[tuple[str, int, str, str] | None, Mapping[tuple[str, str], bool]],
            ports: Mapping[tuple[str, int, str, str], dict[str, Any]],
            addresses: Mapping[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Ports that serve exactly the same ready and not-ready addresses share one subset."""
    groups: dict[tuple[frozenset[Any], frozenset[Any]], list[tuple[str, int, str, str] | None]] = {}
    for pkey, members in by_port.items():
        ready = frozenset(a for a, r in members.items() if r)
        not_ready = frozenset(a for a, r in members.items() if not r)
        groups.setdefault((ready, not_ready), []).append(pkey)
    subsets = []
    for (ready, not_ready), pkeys in groups.items():
        subset: dict[str, Any] = {}
        if ready:
            subset["addresses"] = [addresses[a] for a in sorted(ready)]
        if not_ready:
            subset["notReadyAddresses"] = [addresses[a] for a in sorted(not_ready)]
        real = sorted(p for p in pkeys if p is not None)
        if real:
            subset["ports"] = [ports[p] for p in real]
        subsets.append(subset)
    subsets.sort(key=lambda s: ([_port_key(p) for p in s.get("ports", [])],
                                [_addr_key(a) for a in s.get("addresses", []) + s.get("notReadyAddresses", [])]))
    return subsets


def truncate(subsets: list[dict[str, Any]], limit: int = MAX_CAPACITY) -> tuple[list[dict[str, Any]], bool]:
    """At most ``limit`` addresses in all, ready ones kept first and spread over subsets
    proportionally (upstream truncates over-capacity Endpoints and marks them)."""
    total = sum(len(s.get("addresses", [])) + len(s.get("notReadyAddresses", [])) for s in subsets)
    if total <= limit:
        return subsets, False
    out = []
    budget = limit
    for i, s in enumerate(subsets):
        n = len(s.get("addresses", [])) + len(s.get("notReadyAddresses", []))
        share = budget if i == len(subsets) - 1 else min(budget, round(limit * n / total))
        budget -= share
        ready = list(s.get("addresses", []))[:share]
        not_ready = list(s.get("notReadyAddresses", []))[:max(share - len(ready), 0)]
        t = {k: v for k, v in s.items() if k not in ("addresses", "notReadyAddresses")}
        if ready:
            t["addresses"] = ready
        if not_ready:
            t["notReadyAddresses"] = not_ready
        out.append(t)
    return out, True


def desired_labels(svc: Obj) -> dict[str, str]:
    labels = dict((svc.get("metadata") or {}).get("labels") or {})
    if is_headless(svc):
        labels[HEADLESS_LABEL] = ""
    else:
        labels.pop(HEADLESS_LABEL, None)
    return labels


class EndpointsController(QueueController):
    name: ClassVar[str] = "endpoints"
    workers: ClassVar[int] = 5

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.services = self.factory.lister("services")
        self.pods = self.factory.lister("pods")
        self.endpoints = self.factory.lister("endpoints")
        self.factory.informer("services").add_event_handler(
            on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.factory.informer("pods").add_event_handler(
            on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.factory.informer("endpoints").add_event_handler(on_delete=self._endpoints_deleted)

    # ---- handlers ----------------------------------------------------------------------------

    def _enqueue_services_of(self, pod: Obj) -> None:
        ns = (pod.get("metadata") or {}).get("namespace")
        if ns:
            for svc in services_for_pod(self.services.list(ns), pod):
                self.enqueue(svc)

    def _pod_added(self, pod: Obj) -> None:
        self._enqueue_services_of(pod)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("resourceVersion") == (new.get("metadata") or {}).get("resourceVersion"):
            return
        self._enqueue_services_of(new)
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._enqueue_services_of(old)

    def _pod_deleted(self, obj: Any) -> None:
        self._enqueue_services_of(final_state(obj))

    def _endpoints_deleted(self, obj: Any) -> None:
        # Someone deleted an Endpoints we maintain: put it back.
        key = object_key(obj)
        ns, _, name = key.partition("/")
        if self.services.get(ns, name) is not None:
            self.queue.add(key)

    # ---- sync --------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        ns, _, name = key.partition("/")
        svc = self.services.get(ns, name)
        if svc is None:
            # The service is gone: its Endpoints go too.
            try:
                await self.client.delete("endpoints", name, ns)
            except ApiError as e:
                if not is_not_found(e):
                    raise
            return
        sel = selector_of(svc)
        if sel is None:
            return  # endpoints of selector-less services are managed by their users
        pods = self.pods.list(ns, selectors.label_selector_from_set(sel))
        subsets, truncated = truncate(endpoints_subsets(svc, pods))
        current = self.endpoints.get(ns, name)
        labels = desired_labels(svc)
        annotations = dict((current.get("metadata") or {}).get("annotations") or {}) if current else {}
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        if current is not None:
            cmeta = current.get("metadata") or {}
            if (current.get("subsets") or []) == subsets and (cmeta.get("labels") or {}) == labels \
                    and (cmeta.get("annotations") or {}) == annotations:
                return
        body: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": name, "namespace": ns, "labels": labels, "annotations": annotations},
            "subsets": subsets,
        }
        try:
            if current is None:
                await self.client.create("endpoints", body, ns)
            else:
                body["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
                await self.client.update("endpoints", body, ns)
        except ApiError as e:
            if is_already_exists(e) or is_conflict(e):
                raise  # our cache is behind; retried after it catches up
            if is_not_found(e) and current is not None:
                raise
            if is_forbidden_terminating(e):
                return  # the namespace is being deleted: nothing to publish
            raise


def is_forbidden_terminating(e: ApiError) -> bool:
    causes = (e.details.get("causes") or [])
    return e.code == 403 and any(c.get("reason") == "NamespaceTerminating" for c in causes)

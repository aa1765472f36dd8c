"""Objects every cluster has from its first start, created by the API server itself as upstream's
bootstrap controllers do: the system namespaces, the ``kubernetes`` Service that points pods at the
API, and the system priority classes."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from navarch.api.resources import REGISTRY
from navarch.apiserver.authz.reconcile import ensure_default_policy
from navarch.storage import KeyExists

if TYPE_CHECKING:
    from navarch.apiserver.handlers import ResourceAPI

log = logging.getLogger("navarch.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM_PRIORITY_CLASSES = (
    ("system-node-critical", 2000001000, "Used for system critical pods that must not be moved from their current node."),
    ("system-cluster-critical", 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
)


async def ensure_defaults(api: "ResourceAPI", advertise_ip: str = "127.0.0.1", port: int = 6443) -> None:
    from navarch.apiserver.handlers import now_rfc3339

    def meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
        m: dict[str, Any] = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339(), **extra}
        if namespace:
            m["namespace"] = namespace
        return m

    objects: list[tuple[tuple[str, str, str], str | None, dict[str, Any]]] = []
    for name in SYSTEM_NAMESPACES:
        objects.append((("", "v1", "namespaces"), None, {
            "kind": "Namespace", "apiVersion": "v1",
            "metadata": meta(name, labels={"kubernetes.io/metadata.name": name}),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}))
    svc_ip = api.allocator.kubernetes_ip()
    labels = {"component": "apiserver", "provider": "kubernetes"}
    objects.append((("", "v1", "services"), "default", {
        "kind": "Service", "apiVersion": "v1", "metadata": meta("kubernetes", "default", labels=labels),
        "spec": {"type": "ClusterIP", "clusterIP": svc_ip, "clusterIPs": [svc_ip], "sessionAffinity": "None",
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
        "status": {"loadBalancer": {}}}))
    objects.append((("", "v1", "endpoints"), "default", {
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": meta("kubernetes", "default", labels={"endpointslice.kubernetes.io/skip-mirror": "true"}),
        "subsets": [{"addresses": [{"ip": advertise_ip}],
                     "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}))
    objects.append((("discovery.k8s.io", "v1", "endpointslices"), "default", {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": meta("kubernetes", "default", labels={"kubernetes.io/service-name": "kubernetes"}),
        "addressType": "IPv4",
        "endpoints": [{"addresses": [advertise_ip], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}))
    for name, value, description in SYSTEM_PRIORITY_CLASSES:
        objects.append((("scheduling.k8s.io", "v1", "priorityclasses"), None, {
            "kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1", "metadata": meta(name),
            "value": value, "globalDefault": False, "description": description,
            "preemptionPolicy": "PreemptLowerPriority"}))

    for (group, version, plural), namespace, obj in objects:
        r = REGISTRY.get(group, version, plural)
        key = r.storage_key(namespace, obj["metadata"]["name"])
        if await api.store.get(key) is not None:
            continue
        try:
            await api.store.create(key, orjson.dumps(obj))
            log.info("created %s %s", r.kind, obj["metadata"]["name"])
        except KeyExists:
            pass
    await ensure_default_policy(api)  # the default RBAC roles and bindings

"""Printers for ``apps/v1``: deployments, replica sets, stateful sets, daemon sets, controller revisions."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from navarch.apiserver.printers import format as f
from navarch.apiserver.printers.spec import Printer, age_column, col, container_columns, name_column, wide


def _replicas(spec: dict[str, Any]) -> int:
    """``spec.replicas``, which defaulting sets to 1 when omitted."""
    r = spec.get("replicas")
    return 1 if r is None else r


def deployment_cells(d: dict[str, Any], now: float) -> list[Any]:
    meta = d.get("metadata") or {}
    spec = d.get("spec") or {}
    status = d.get("status") or {}
    names, images = f.container_cells(f.template_spec(d))
    selector = f.selector_string(spec.get("selector"))
    return [meta.get("name", ""), f"{status.get('readyReplicas') or 0}/{_replicas(spec)}",
            status.get("updatedReplicas") or 0, status.get("availableReplicas") or 0,
            f.since(meta.get("creationTimestamp"), now), names, images,
            "<invalid>" if selector is None else selector]


def replicaset_cells(rs: dict[str, Any], now: float) -> list[Any]:
    meta = rs.get("metadata") or {}
    spec = rs.get("spec") or {}
    status = rs.get("status") or {}
    names, images = f.container_cells(f.template_spec(rs))
    return [meta.get("name", ""), _replicas(spec), status.get("replicas") or 0, status.get("readyReplicas") or 0,
            f.since(meta.get("creationTimestamp"), now), names, images,
            f.format_label_selector(spec.get("selector"))]


def statefulset_cells(sts: dict[str, Any], now: float) -> list[Any]:
    meta = sts.get("metadata") or {}
    status = sts.get("status") or {}
    names, images = f.container_cells(f.template_spec(sts))
    return [meta.get("name", ""), f"{status.get('readyReplicas') or 0}/{_replicas(sts.get('spec') or {})}",
            f.since(meta.get("creationTimestamp"), now), names, images]


def daemonset_cells(ds: dict[str, Any], now: float) -> list[Any]:
    meta = ds.get("metadata") or {}
    status = ds.get("status") or {}
    pod_spec = f.template_spec(ds)
    names, images = f.container_cells(pod_spec)
    return [meta.get("name", ""), status.get("desiredNumberScheduled") or 0,
            status.get("currentNumberScheduled") or 0, status.get("numberReady") or 0,
            status.get("updatedNumberScheduled") or 0, status.get("numberAvailable") or 0,
            f.format_labels(pod_spec.get("nodeSelector")), f.since(meta.get("creationTimestamp"), now),
            names, images, f.format_label_selector((ds.get("spec") or {}).get("selector"))]


def controller_name(meta: dict[str, Any]) -> str:
    """``<kind>.<group>/<name>`` of the controlling owner, lower-cased kind and group, as upstream prints it."""
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            api_version = ref.get("apiVersion", "")
            group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
            kind = ref.get("kind", "")
            if not kind and not group:
                return str(ref.get("name", ""))
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{ref.get('name', '')}"
    return f.NONE


def controllerrevision_cells(cr: dict[str, Any], now: float) -> list[Any]:
    meta = cr.get("metadata") or {}
    return [meta.get("name", ""), controller_name(meta), cr.get("revision") or 0,
            f.since(meta.get("creationTimestamp"), now)]


PRINTERS = MappingProxyType({
    ("apps", "deployments"): Printer((
        name_column(),
        col("Ready", "Number of the pod with ready state"),
        col("Up-to-date", "Total number of non-terminated pods targeted by this deployment that have the "
                          "desired template spec."),
        col("Available", "Total number of available pods (ready for at least minReadySeconds) targeted by "
                         "this deployment."),
        age_column(),
        *container_columns(),
        wide("Selector", "Label selector for pods."),
    ), deployment_cells),
    ("apps", "replicasets"): Printer((
        name_column(),
        col("Desired", "Number of desired pods.", "integer"),
        col("Current", "The most recently observed number of replicas.", "integer"),
        col("Ready", "The number of ready replicas for this replica set.", "integer"),
        age_column(),
        *container_columns(),
        wide("Selector", "Label query over pods that should match the replica count."),
    ), replicaset_cells),
    ("apps", "statefulsets"): Printer((
        name_column(),
        col("Ready", "Number of the pod with ready state"),
        age_column(),
        *container_columns(),
    ), statefulset_cells),
    ("apps", "daemonsets"): Printer((
        name_column(),
        col("Desired", "The total number of nodes that should be running the daemon pod.", "integer"),
        col("Current", "The number of nodes running at least one daemon pod and supposed to.", "integer"),
        col("Ready", "The number of nodes running the daemon pod with a Ready pod.", "integer"),
        col("Up-to-date", "The total number of nodes running the updated daemon pod.", "integer"),
        col("Available", "The number of nodes running the daemon pod with an available pod.", "integer"),
        col("Node Selector", "Selector which must match a node's labels for the pod to be scheduled there."),
        age_column(),
        *container_columns(),
        wide("Selector", "A label query over pods that are managed by the daemon set."),
    ), daemonset_cells),
    ("apps", "controllerrevisions"): Printer((
        name_column(),
        col("Controller", "Controller of the object"),
        col("Revision", "Revision indicates the revision of the state represented by Data."),
        age_column(),
    ), controllerrevision_cells),
})

"""Per-resource write rules (upstream's registry strategies): what a create or update may set.

``prepare_create``/``prepare_update`` run after decoding and before defaulting and validation; they
reset status on create, keep status on spec updates (and spec on status updates) for resources with a
status subresource, and bump ``metadata.generation`` when the spec changes.
"""

from __future__ import annotations

from typing import Any

from navarch.apiserver.patching import jsondoc
from navarch.api.resources import ResourceInfo

# Kinds whose metadata.generation tracks spec changes (upstream strategies that set it).
_GENERATION = {
    ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("batch", "Job"), ("batch", "CronJob"), ("", "ReplicationController"), ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"), ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"), ("", "Pod"),
    ("networking.k8s.io", "IngressClass"), ("scheduling.k8s.io", "PriorityClass"),
}

# Top-level fields that are not "spec" for generation purposes.
_NOT_SPEC = ("metadata", "status", "apiVersion", "kind")


def tracks_generation(r: ResourceInfo) -> bool:
    return (r.group, r.kind) in _GENERATION


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


def prepare_create(r: ResourceInfo, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    if tracks_generation(r):
        meta["generation"] = 1
    else:
        meta.pop("generation", None)
    if r.has_status and r.kind not in ("Node", "PersistentVolume", "PersistentVolumeClaim"):
        obj.pop("status", None)
    if r.kind == "Pod" and r.group == "":
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(obj.get("spec") or {})}
    elif r.kind == "Namespace" and r.group == "":
        obj["status"] = {"phase": "Active"}
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta.get("name", "")
    elif r.kind == "PersistentVolume" and r.group == "":
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": meta.get("creationTimestamp")}
    elif r.kind == "PersistentVolumeClaim" and r.group == "":
        obj["status"] = {"phase": "Pending"}
    elif r.kind == "PodDisruptionBudget":
        obj["status"] = {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0, "expectedPods": 0}
    elif r.kind == "HorizontalPodAutoscaler":
        obj["status"] = {"desiredReplicas": 0, "currentReplicas": 0}
    elif r.kind == "Ingress":
        obj["status"] = {"loadBalancer": {}}
    elif r.kind == "Service" and r.group == "":
        obj["status"] = {"loadBalancer": {}}
    elif r.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "ReplicationController") and r.has_status:
        obj["status"] = {} if r.kind != "StatefulSet" else {"replicas": 0, "availableReplicas": 0}
        if r.kind == "DaemonSet":
            obj["status"] = {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                             "desiredNumberScheduled": 0, "numberReady": 0}
        if r.kind in ("ReplicaSet", "ReplicationController"):
            obj["status"] = {"replicas": 0}
    elif r.kind == "CertificateSigningRequest":
        obj["status"] = {}
    elif r.kind == "Node" and r.group == "":
        # Kubelets register their Node with its status in one create, as upstream allows.
        obj.setdefault("status", {})
    elif r.has_status:
        obj["status"] = {}
    if r.kind == "Node" and r.group == "":
        spec = obj.get("spec") or {}
        if spec.get("podCIDR") and not spec.get("podCIDRs"):
            spec["podCIDRs"] = [spec["podCIDR"]]


def prepare_update(r: ResourceInfo, obj: dict[str, Any], old: dict[str, Any]) -> None:
    """A write to the main resource: status is kept from ``old`` where a status subresource exists."""
    _keep_system_metadata(obj, old)
    if r.has_status and "status" in old:
        obj["status"] = jsondoc.copy(old["status"])  # ``old`` is a stored object: plain JSON
    elif r.has_status:
        obj.pop("status", None)
    if tracks_generation(r):
        gen = old["metadata"].get("generation", 1)
        if _spec_part(obj) != _spec_part(old):
            gen += 1
        obj["metadata"]["generation"] = gen
    elif "generation" in old["metadata"]:
        obj["metadata"]["generation"] = old["metadata"]["generation"]
    else:
        obj["metadata"].pop("generation", None)


def prepare_status_update(r: ResourceInfo, obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A write to ``/status``: status (and, as upstream's status strategies allow, annotations, plus
    labels on Nodes) come from the request; spec and everything else from ``old`` (a stored object:
    plain JSON, copied through orjson)."""
    out = jsondoc.copy(old)
    meta = obj.get("metadata") or {}
    if "status" in obj:
        out["status"] = obj["status"]
    else:
        out.pop("status", None)
    if "annotations" in meta:
        if meta["annotations"]:
            out["metadata"]["annotations"] = meta["annotations"]
        else:
            out["metadata"].pop("annotations", None)
    if r.kind == "Node" and "labels" in meta:
        out["metadata"]["labels"] = meta["labels"]
    if r.kind == "CertificateSigningRequest":
        stamp_conditions(out, old)
    out["metadata"]["resourceVersion"] = meta.get("resourceVersion", "")
    return out


_SYSTEM_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generateName", "selfLink")


def _keep_system_metadata(obj: dict[str, Any], old: dict[str, Any]) -> None:
    meta = obj.setdefault("metadata", {})
    old_meta = old["metadata"]
    for k in _SYSTEM_META:
        if k in old_meta:
            meta[k] = old_meta[k]
        else:
            meta.pop(k, None)
    if "namespace" in old_meta:
        meta["namespace"] = old_meta["namespace"]
    if "managedFields" not in meta and "managedFields" in old_meta:
        meta["managedFields"] = old_meta["managedFields"]


def qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits (upstream's rules)."""
    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        lim = res.get("limits") or {}
        if req or lim:
            any_set = True
        for name in ("cpu", "memory"):
            limit = lim.get(name)
            request = req.get(name, limit)
            if limit is None or str(request) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def stamp_conditions(obj: dict[str, Any], old: dict[str, Any]) -> None:
    """CSR conditions get server-set times when the writer left them out (upstream's status strategy)."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = {c.get("type"): c for c in ((old.get("status") or {}).get("conditions") or [])}
    for c in (obj.get("status") or {}).get("conditions") or []:
        prev = before.get(c.get("type"))
        if not c.get("lastUpdateTime"):
            c["lastUpdateTime"] = now
        if not c.get("lastTransitionTime"):
            same = prev is not None and prev.get("status") == c.get("status")
            c["lastTransitionTime"] = prev.get("lastTransitionTime", now) if same else now


def ephemeral_container_causes(new: dict[str, Any], old: dict[str, Any]) -> list:
    """pods/ephemeralcontainers may only add ephemeral containers (upstream's ValidatePodEphemeralContainersUpdate)."""
    from navarch.api import errors

    causes = []
    path = "spec.ephemeralContainers"
    before = {c.get("name"): c for c in (old.get("spec") or {}).get("ephemeralContainers") or []}
    after = (new.get("spec") or {}).get("ephemeralContainers") or []
    names = {c.get("name") for c in (new.get("spec") or {}).get("containers") or []} | \
        {c.get("name") for c in (new.get("spec") or {}).get("initContainers") or []}
    seen: set = set()
    for i, c in enumerate(after):
        name = c.get("name")
        if not name:
            causes.append(errors.field_required(f"{path}[{i}].name"))
        elif name in names or name in seen:
            causes.append(errors.field_duplicate(f"{path}[{i}].name", name))
        seen.add(name)
        if not c.get("image"):
            causes.append(errors.field_required(f"{path}[{i}].image"))
        if c.get("ports"):
            causes.append(errors.field_forbidden(f"{path}[{i}].ports", "cannot be set for an Ephemeral Container"))
        prev = before.get(name)
        if prev is not None and prev != c:
            causes.append(errors.field_forbidden(path, f'existing ephemeral containers "{name}" may not be changed'))
    for name in before:
        if name not in seen:
            causes.append(errors.field_forbidden(path, f'existing ephemeral containers "{name}" may not be removed'))
    return causes

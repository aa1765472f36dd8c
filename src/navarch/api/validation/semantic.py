"""Upstream's per-kind validation (pkg/apis/<group>/validation), answered as 422 Invalid causes.

``validate(resource, obj, old)`` runs the create rules, or with ``old`` the update rules, and returns
the causes in upstream's order; the caller wraps them with ``errors.invalid(kind, group, name, causes)``.
Objects are expected already defaulted (upstream validates after defaulting), so a field the
defaults always set is reported as ``Required value`` only when a client explicitly cleared it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from navarch.api import errors
from navarch.api.errors import Cause
from navarch.api.resources import ResourceInfo
from navarch.api.validation import gofmt, names, pods, selectors
from navarch.api.validation.objectmeta import (
    NameFn,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

MAX_SECRET_SIZE = 1024 * 1024
CRONJOB_NAME_MAX = 52
SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
SESSION_AFFINITIES = ["ClientIP", "None"]
ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")

Validator = Callable[[dict[str, Any], "dict[str, Any] | None"], list[Cause]]


def validate(resource: ResourceInfo, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Every cause upstream would report for creating ``obj`` (or updating ``old`` to ``obj``)."""
    if resource.virtual:
        return []
    meta = obj.get("metadata") or {}
    if old is None:
        out = validate_object_meta(meta, resource.namespaced, _name_fn(resource))
        if resource.kind == "CronJob" and len(meta.get("name") or "") > CRONJOB_NAME_MAX:
            out.append(errors.field_invalid("metadata.name", meta["name"],
                                            f"must be no more than {CRONJOB_NAME_MAX} characters"))
    else:
        out = validate_object_meta_update(meta, old.get("metadata") or {})
    check = _VALIDATORS.get((resource.group, resource.kind))
    if check is not None:
        out += check(obj, old)
    return out


# ---------------------------------------------------------------------------------------------
# Names per kind


def _name_fn(resource: ResourceInfo) -> NameFn:
    key = (resource.group, resource.kind)
    if key in (("", "Namespace"), ("apps", "StatefulSet")):
        return names.name_is_dns_label
    if key == ("", "Service"):
        return names.name_is_dns1035_label
    if resource.group == "rbac.authorization.k8s.io" or key == ("certificates.k8s.io", "CertificateSigningRequest"):
        return names.path_segment_name
    return names.name_is_dns_subdomain


# ---------------------------------------------------------------------------------------------
# Helpers


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _nonnegative(value: Any, path: str, out: list[Cause]) -> None:
    v = _int(value)
    if v is not None and v < 0:
        out.append(errors.field_invalid(path, v, "must be greater than or equal to 0"))


def _immutable(new: Any, old: Any, path: str, out: list[Cause], show: str | None = None) -> None:
    if new != old:
        if show is None:
            out.append(errors.field_immutable(path, new))
        else:
            out.append(Cause("FieldValueInvalid", f"Invalid value: {show}: field is immutable", path))


def _spec(obj: dict[str, Any] | None) -> dict[str, Any]:
    spec = (obj or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _percent_or_int(value: Any, path: str, out: list[Cause]) -> int:
    """ValidatePositiveIntOrPercent; returns the value (percent number for strings)."""
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]+%", value):
            out.append(errors.field_invalid(path, value, "a valid percent string must be a numeric string "
                                            "followed by an ending '%' (e.g. '1%',  or '93%', regex used "
                                            "for validation is '[0-9]+%')"))
            return 0
        pct = int(value[:-1])
        if pct > 100:
            out.append(errors.field_invalid(path, value, "must not be greater than 100%"))
        return pct
    v = _int(value)
    if v is None:
        return 0
    _nonnegative(v, path, out)
    return v


# ---------------------------------------------------------------------------------------------
# core/v1


def _pod(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    if old is not None:
        return pods.validate_pod_update(obj, old)
    return pods.validate_pod_spec(_spec(obj), "spec")


def _pod_template(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    return pods.validate_pod_template_spec(obj.get("template"), "template")


def _namespace(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for i, f in enumerate(_spec(obj).get("finalizers") or []):
        _validate_finalizer_name(f, f"spec.finalizers[{i}]", out)
    return out


def _validate_finalizer_name(name: str, path: str, out: list[Cause]) -> None:
    msgs = names.is_qualified_name(name)
    for msg in msgs:
        out.append(errors.field_invalid(path, name, msg))
    if not msgs and "/" not in name and name not in STANDARD_FINALIZERS:
        out.append(errors.field_invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))


def _config_map(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    total = 0
    for key, value in data.items():
        for msg in names.is_config_map_key(key):
            out.append(errors.field_invalid(f"data[{key}]", key, msg))
        if key in binary:
            out.append(errors.field_invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(value.encode()) if isinstance(value, str) else 0
    for key, value in binary.items():
        for msg in names.is_config_map_key(key):
            out.append(errors.field_invalid(f"binaryData[{key}]", key, msg))
        if key in data:
            out.append(errors.field_invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
        total += (len(value) * 3) // 4 if isinstance(value, str) else 0
    if total > MAX_SECRET_SIZE:
        out.append(errors.field_too_long("", "", MAX_SECRET_SIZE))
    if old is not None and old.get("immutable") is True:
        out += _immutable_data(obj, old, ("data", "binaryData"))
    return out


def _immutable_data(obj: dict[str, Any], old: dict[str, Any], keys: tuple[str, ...]) -> list[Cause]:
    out: list[Cause] = []
    if obj.get("immutable") is not True:
        out.append(errors.field_forbidden("immutable", "field is immutable when `immutable` is set"))
    for key in keys:
        if (obj.get(key) or {}) != (old.get(key) or {}):
            out.append(errors.field_forbidden(key, "field is immutable when `immutable` is set"))
    return out


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _secret(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    data = obj.get("data") or {}
    total = 0
    for key, value in data.items():
        for msg in names.is_config_map_key(key):
            out.append(errors.field_invalid(f"data[{key}]", key, msg))
        total += (len(value) * 3) // 4 if isinstance(value, str) else 0
    if total > MAX_SECRET_SIZE:
        out.append(errors.field_too_long("data", "", MAX_SECRET_SIZE))
    stype = obj.get("type") or ""
    if stype == "kubernetes.io/service-account-token":
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            out.append(errors.field_required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif stype == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            out.append(errors.field_required("data[username]"))
            out.append(errors.field_required("data[password]"))
    for key in _SECRET_REQUIRED_KEYS.get(stype, ()):
        if key not in data:
            out.append(errors.field_required(f"data[{key}]"))
    if old is not None:
        _immutable(obj.get("type") or "", old.get("type") or "", "type", out)
        if old.get("immutable") is True:
            out += _immutable_data(obj, old, ("data",))
    return out


def _service(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    stype = spec.get("type") or "ClusterIP"
    if stype not in SERVICE_TYPES:
        out.append(errors.field_not_supported("spec.type", stype, SERVICE_TYPES))
    headless = spec.get("clusterIP") == "None"
    ports = spec.get("ports") or []
    if not ports and not headless and stype != "ExternalName":
        out.append(errors.field_required("spec.ports"))
    if stype == "ExternalName":
        ext = spec.get("externalName") or ""
        if not ext:
            out.append(errors.field_required("spec.externalName"))
        else:
            for msg in names.is_dns1123_subdomain(ext.rstrip(".")):
                out.append(errors.field_invalid("spec.externalName", ext, msg))
    seen_names: set[str] = set()
    seen_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        p = f"spec.ports[{i}]"
        pname = port.get("name") or ""
        if len(ports) > 1 and not pname:
            out.append(errors.field_required(f"{p}.name"))
        elif pname:
            for msg in names.is_dns1123_label(pname):
                out.append(errors.field_invalid(f"{p}.name", pname, msg))
            if pname in seen_names:
                out.append(errors.field_duplicate(f"{p}.name", pname))
            seen_names.add(pname)
        num = _int(port.get("port"))
        for msg in names.is_valid_port_num(num or 0):
            out.append(errors.field_invalid(f"{p}.port", num or 0, msg))
        proto = port.get("protocol")
        if "protocol" in port and not proto:
            out.append(errors.field_required(f"{p}.protocol"))
        elif proto and proto not in pods.PROTOCOLS:
            out.append(errors.field_not_supported(f"{p}.protocol", proto, pods.PROTOCOLS))
        target = port.get("targetPort")
        if isinstance(target, str):
            for msg in names.is_valid_port_name(target):
                out.append(errors.field_invalid(f"{p}.targetPort", target, msg))
        elif _int(target) is not None:
            for msg in names.is_valid_port_num(target):
                out.append(errors.field_invalid(f"{p}.targetPort", target, msg))
        node_port = _int(port.get("nodePort"))
        if node_port:
            if stype == "ClusterIP":
                out.append(errors.field_forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            else:
                for msg in names.is_valid_port_num(node_port):
                    out.append(errors.field_invalid(f"{p}.nodePort", node_port, msg))
        key = (num, proto or "TCP")
        if key in seen_ports:
            out.append(errors.field_duplicate(p, {"port": num, "protocol": proto or "TCP"}))
        seen_ports.add(key)
    affinity = spec.get("sessionAffinity")
    if affinity and affinity not in SESSION_AFFINITIES:
        out.append(errors.field_not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    out += validate_labels(spec.get("selector"), "spec.selector")
    if old is not None:
        old_spec = _spec(old)
        if stype != "ExternalName" and (old_spec.get("type") or "ClusterIP") != "ExternalName":
            new_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
            old_ips = old_spec.get("clusterIPs") or ([old_spec["clusterIP"]] if old_spec.get("clusterIP") else [])
            for i, ip in enumerate(old_ips):
                if i < len(new_ips) and new_ips[i] != ip or (i == 0 and not new_ips):
                    out.append(Cause("FieldValueInvalid",
                                     f"Invalid value: {gofmt.string_list(new_ips)}: may not change once set",
                                     f"spec.clusterIPs[{i}]"))
    return out


def _pvc(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    if old is not None:
        old_spec = _spec(old)
        munged = copy.deepcopy(spec)
        # Resizing (requests) and first binding (volumeName) are the only spec changes allowed.
        if "resources" in old_spec or "resources" in munged:
            res = munged.setdefault("resources", {})
            old_res = old_spec.get("resources") or {}
            if "requests" in old_res:
                res["requests"] = copy.deepcopy(old_res["requests"])
            else:
                res.pop("requests", None)
            if not res and "resources" not in old_spec:
                munged.pop("resources")
        if not old_spec.get("volumeName"):
            if "volumeName" in old_spec:
                munged["volumeName"] = old_spec["volumeName"]
            else:
                munged.pop("volumeName", None)
        if munged != old_spec:
            diff = gofmt.struct_diff("core.PersistentVolumeClaimSpec", old_spec, munged)
            out.append(errors.field_forbidden(
                "spec", f"spec is immutable after creation except resources.requests for bound claims\n{diff}"))
        return out
    modes = spec.get("accessModes") or []
    if not modes:
        out.append(errors.field_required("spec.accessModes", "at least 1 access mode is required"))
    for mode in modes:
        if mode not in ACCESS_MODES:
            out.append(errors.field_not_supported("spec.accessModes", mode, ACCESS_MODES))
    requests = (spec.get("resources") or {}).get("requests") or {}
    if not spec.get("dataSource") and not spec.get("dataSourceRef") and "storage" not in requests:
        out.append(errors.field_required("spec.resources[storage]"))
    mode = spec.get("volumeMode")
    if mode and mode not in ("Block", "Filesystem"):
        out.append(errors.field_not_supported("spec.volumeMode", mode, ["Block", "Filesystem"]))
    return out


def _pv(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    if not spec.get("accessModes"):
        out.append(errors.field_required("spec.accessModes"))
    for mode in spec.get("accessModes") or []:
        if mode not in ACCESS_MODES:
            out.append(errors.field_not_supported("spec.accessModes", mode, ACCESS_MODES))
    if "storage" not in (spec.get("capacity") or {}):
        out.append(errors.field_required("spec.capacity", "must specify a storage capacity"))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in ("Delete", "Recycle", "Retain"):
        out.append(errors.field_not_supported("spec.persistentVolumeReclaimPolicy", policy, ["Delete", "Recycle", "Retain"]))
    return out


def _replication_controller(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    _nonnegative(spec.get("replicas"), "spec.replicas", out)
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    selector = spec.get("selector") or {}
    if not selector:
        out.append(errors.field_required("spec.selector"))
    else:
        out += validate_labels(selector, "spec.selector")
    template = spec.get("template")
    if not isinstance(template, dict):
        out.append(errors.field_required("spec.template"))
        return out
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and any(labels.get(k) != v for k, v in selector.items()):
        out.append(Cause("FieldValueInvalid", f"Invalid value: {gofmt.string_map(labels)}: "
                         "`selector` does not match template `labels`", "spec.template.metadata.labels"))
    out += pods.validate_pod_template_spec(template, "spec.template")
    _restart_always(template, "spec.template", "ReplicationController", out)
    return out


def _restart_always(template: dict[str, Any], path: str, kind: str, out: list[Cause]) -> None:
    tspec = template.get("spec") or {}
    policy = tspec.get("restartPolicy")
    if policy and policy != "Always" and policy in pods.RESTART_POLICIES:
        out.append(errors.field_not_supported(f"{path}.spec.restartPolicy", policy, ["Always"]))
    if tspec.get("activeDeadlineSeconds") is not None:
        out.append(errors.field_forbidden(f"{path}.spec.activeDeadlineSeconds",
                                          f"activeDeadlineSeconds in {kind} is not Supported"))


# ---------------------------------------------------------------------------------------------
# apps/v1


def _selector_and_template(spec: dict[str, Any], kind: str, out: list[Cause], validate_pod: bool = True) -> None:
    selector = spec.get("selector")
    if selector is None:
        out.append(errors.field_required("spec.selector"))
    else:
        out += selectors.validate_label_selector(selector, "spec.selector")
        if selectors.is_empty(selector):
            out.append(Cause("FieldValueInvalid", f"Invalid value: {gofmt.label_selector(selector)}: "
                             f"empty selector is invalid for {kind.lower()}", "spec.selector"))
    template = spec.get("template")
    if not isinstance(template, dict):
        out.append(errors.field_required("spec.template"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not selectors.is_empty(selector) and not selectors.matches(selector, labels):
        out.append(Cause("FieldValueInvalid", f"Invalid value: {gofmt.string_map(labels)}: "
                         "`selector` does not match template `labels`", "spec.template.metadata.labels"))
    if validate_pod:
        out += pods.validate_pod_template_spec(template, "spec.template")
    else:
        meta = template.get("metadata") or {}
        out += validate_labels(meta.get("labels"), "spec.template.labels")


def _selector_immutable(obj: dict[str, Any], old: dict[str, Any] | None, out: list[Cause]) -> None:
    if old is None:
        return
    new_sel, old_sel = _spec(obj).get("selector"), _spec(old).get("selector")
    if new_sel != old_sel:
        out.append(Cause("FieldValueInvalid",
                         f"Invalid value: {gofmt.label_selector(new_sel)}: field is immutable", "spec.selector"))


def _deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    _nonnegative(spec.get("replicas"), "spec.replicas", out)
    _selector_and_template(spec, "Deployment", out)
    template = spec.get("template")
    if isinstance(template, dict):
        _restart_always(template, "spec.template", "ReplicaSet", out)
    strategy = spec.get("strategy") or {}
    stype = strategy.get("type")
    if stype == "Recreate":
        if strategy.get("rollingUpdate") is not None:
            out.append(errors.field_forbidden("spec.strategy.rollingUpdate",
                                              "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            out.append(errors.field_required("spec.strategy.rollingUpdate", "this should be defaulted and never be nil"))
        else:
            unavailable = _percent_or_int(ru.get("maxUnavailable"), "spec.strategy.rollingUpdate.maxUnavailable", out)
            surge = _percent_or_int(ru.get("maxSurge"), "spec.strategy.rollingUpdate.maxSurge", out)
            if unavailable == 0 and surge == 0:
                out.append(errors.field_invalid("spec.strategy.rollingUpdate.maxUnavailable",
                                                ru.get("maxUnavailable"), "may not be 0 when `maxSurge` is 0"))
    elif stype is not None:
        out.append(errors.field_not_supported("spec.strategy", strategy, ["Recreate", "RollingUpdate"]))
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    _nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", out)
    pds = _int(spec.get("progressDeadlineSeconds"))
    if pds is not None:
        _nonnegative(pds, "spec.progressDeadlineSeconds", out)
        if pds <= (_int(spec.get("minReadySeconds")) or 0):
            out.append(errors.field_invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    _selector_immutable(obj, old, out)
    return out


def _replica_set(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    _nonnegative(spec.get("replicas"), "spec.replicas", out)
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    _selector_and_template(spec, "ReplicaSet", out)
    template = spec.get("template")
    if isinstance(template, dict):
        _restart_always(template, "spec.template", "ReplicaSet", out)
    _selector_immutable(obj, old, out)
    return out


def _daemon_set(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    _selector_and_template(spec, "DaemonSet", out)
    template = spec.get("template")
    if isinstance(template, dict):
        _restart_always(template, "spec.template", "DaemonSet", out)
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    _nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit", out)
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype == "RollingUpdate":
        ru = strategy.get("rollingUpdate")
        if ru is None:
            out.append(errors.field_required("spec.updateStrategy.rollingUpdate"))
        else:
            p = "spec.updateStrategy.rollingUpdate"
            unavailable = _percent_or_int(ru.get("maxUnavailable"), f"{p}.maxUnavailable", out)
            surge = _percent_or_int(ru.get("maxSurge"), f"{p}.maxSurge", out)
            if unavailable and surge:
                out.append(errors.field_invalid(f"{p}.maxSurge", ru.get("maxSurge"),
                                                "may not be set when maxUnavailable is non-zero"))
            elif not unavailable and not surge:
                out.append(errors.field_required(f"{p}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    elif stype not in (None, "OnDelete"):
        out.append(errors.field_not_supported("spec.updateStrategy", strategy, ["RollingUpdate", "OnDelete"]))
    _selector_immutable(obj, old, out)
    return out


def _stateful_set(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    pmp = spec.get("podManagementPolicy")
    if "podManagementPolicy" in spec and not pmp:
        out.append(errors.field_required("spec.podManagementPolicy"))
    elif pmp and pmp not in ("OrderedReady", "Parallel"):
        out.append(errors.field_invalid("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    stype = strategy.get("type")
    if stype == "OnDelete" and strategy.get("rollingUpdate") is not None:
        out.append(errors.field_invalid("spec.updateStrategy.rollingUpdate", strategy["rollingUpdate"],
                                        "only allowed for updateStrategy 'RollingUpdate'"))
    elif stype == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        _nonnegative(strategy["rollingUpdate"].get("partition"), "spec.updateStrategy.rollingUpdate.partition", out)
    elif stype not in (None, "OnDelete", "RollingUpdate"):
        out.append(errors.field_invalid("spec.updateStrategy", strategy, "must be 'RollingUpdate' or 'OnDelete'"))
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if isinstance(retention, dict):
        for key in ("whenDeleted", "whenScaled"):
            v = retention.get(key)
            if v is not None and v not in ("Retain", "Delete"):
                out.append(errors.field_not_supported(f"spec.persistentVolumeClaimRetentionPolicy.{key}", v,
                                                      ["Retain", "Delete"]))
    _nonnegative(spec.get("replicas"), "spec.replicas", out)
    _nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds", out)
    # Upstream checks only the template's labels and annotations for StatefulSets, not its pod spec.
    _selector_and_template(spec, "StatefulSet", out, validate_pod=False)
    template = spec.get("template")
    if isinstance(template, dict):
        _restart_always(template, "spec.template", "StatefulSet", out)
    if old is not None:
        mutable = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                   "minReadySeconds")
        a = {k: v for k, v in spec.items() if k not in mutable}
        b = {k: v for k, v in _spec(old).items() if k not in mutable}
        if a != b:
            out.append(errors.field_forbidden(
                "spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
    return out


def _controller_revision(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    if obj.get("data") is None:
        out.append(errors.field_required("data", "data is mandatory"))
    _nonnegative(obj.get("revision"), "revision", out)
    if old is not None:
        _immutable(obj.get("data"), old.get("data"), "data", out)
    return out


# ---------------------------------------------------------------------------------------------
# batch/v1


def _job_spec(spec: dict[str, Any], path: str, out: list[Cause], require_selector: bool) -> None:
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        _nonnegative(spec.get(key), f"{path}.{key}", out)
    ads = _int(spec.get("activeDeadlineSeconds"))
    if ads == 0:
        out.append(errors.field_invalid(f"{path}.activeDeadlineSeconds", 0, "must be greater than 0"))
    mode = spec.get("completionMode")
    if mode and mode not in ("NonIndexed", "Indexed"):
        out.append(errors.field_not_supported(f"{path}.completionMode", mode, ["NonIndexed", "Indexed"]))
    if mode == "Indexed" and spec.get("completions") is None:
        out.append(errors.field_required(f"{path}.completions",
                                         "when completion mode is Indexed"))
    selector = spec.get("selector")
    template = spec.get("template")
    if require_selector and selector is None:
        out.append(errors.field_required(f"{path}.selector"))
    elif selector is not None:
        out += selectors.validate_label_selector(selector, f"{path}.selector")
    if not isinstance(template, dict):
        out.append(errors.field_required(f"{path}.template"))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is not None and not selectors.matches(selector, labels):
        out.append(Cause("FieldValueInvalid", f"Invalid value: {gofmt.string_map(labels)}: "
                         "`selector` does not match template `labels`", f"{path}.template.metadata.labels"))
    out += pods.validate_pod_template_spec(template, f"{path}.template")
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("OnFailure", "Never") and policy in pods.RESTART_POLICIES:
        out.append(errors.field_not_supported(f"{path}.template.spec.restartPolicy", policy, ["OnFailure", "Never"]))


def _job(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    _job_spec(spec, "spec", out, require_selector=spec.get("manualSelector") is True or old is not None)
    if old is not None:
        old_spec = _spec(old)
        _selector_immutable(obj, old, out)
        if spec.get("completionMode") != old_spec.get("completionMode"):
            _immutable(spec.get("completionMode"), old_spec.get("completionMode"), "spec.completionMode", out)
        if spec.get("completions") != old_spec.get("completions") and spec.get("completionMode") != "Indexed":
            _immutable(spec.get("completions"), old_spec.get("completions"), "spec.completions", out)
        if spec.get("podFailurePolicy") != old_spec.get("podFailurePolicy"):
            _immutable(spec.get("podFailurePolicy"), old_spec.get("podFailurePolicy"), "spec.podFailurePolicy", out)
        # A suspended job that never started may have its template's scheduling fields changed; any
        # other template change is refused.
        if spec.get("template") != old_spec.get("template") and not old_spec.get("suspend"):
            _immutable(spec.get("template"), old_spec.get("template"), "spec.template", out)
    return out


_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _cron_job(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    schedule = spec.get("schedule") or ""
    if not schedule:
        out.append(errors.field_required("spec.schedule"))
    elif "TZ" in schedule:
        out.append(errors.field_invalid("spec.schedule", schedule,
                                        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
    elif schedule.startswith("@"):
        if schedule not in _CRON_MACROS and not schedule.startswith("@every "):
            out.append(errors.field_invalid("spec.schedule", schedule, f"unrecognized descriptor: {schedule}"))
    else:
        fields = schedule.split()
        if len(fields) != 5:
            out.append(errors.field_invalid("spec.schedule", schedule,
                                            f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"))
    policy = spec.get("concurrencyPolicy")
    if "concurrencyPolicy" in spec and not policy:
        out.append(errors.field_required("spec.concurrencyPolicy"))
    elif policy and policy not in ("Allow", "Forbid", "Replace"):
        out.append(errors.field_not_supported("spec.concurrencyPolicy", policy, ["Allow", "Forbid", "Replace"]))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        _nonnegative(spec.get(key), f"spec.{key}", out)
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, dict):
        out.append(errors.field_required("spec.jobTemplate"))
    else:
        meta = job_template.get("metadata") or {}
        out += validate_labels(meta.get("labels"), "spec.jobTemplate.metadata.labels")
        _job_spec(job_template.get("spec") or {}, "spec.jobTemplate.spec", out, require_selector=False)
    return out


# ---------------------------------------------------------------------------------------------
# other groups


def _ingress(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    if not spec.get("rules") and not spec.get("defaultBackend"):
        out.append(errors.field_invalid("spec", spec, "either `defaultBackend` or `rules` must be specified"))
    if isinstance(spec.get("defaultBackend"), dict):
        _ingress_backend(spec["defaultBackend"], "spec.defaultBackend", out)
    for i, rule in enumerate(spec.get("rules") or []):
        p = f"spec.rules[{i}]"
        host = (rule or {}).get("host") or ""
        if host:
            check = host[2:] if host.startswith("*.") else host
            for msg in names.is_dns1123_subdomain(check):
                out.append(errors.field_invalid(f"{p}.host", host, msg))
        http = (rule or {}).get("http")
        if http is None:
            continue
        paths = http.get("paths") or []
        if not paths:
            out.append(errors.field_required(f"{p}.http.paths"))
        for j, item in enumerate(paths):
            pp = f"{p}.http.paths[{j}]"
            path_type = item.get("pathType")
            path = item.get("path") or ""
            if not path_type:
                out.append(errors.field_required(f"{pp}.pathType", "pathType must be specified"))
            elif path_type not in ("Exact", "ImplementationSpecific", "Prefix"):
                out.append(errors.field_not_supported(f"{pp}.pathType", path_type,
                                                      ["Exact", "ImplementationSpecific", "Prefix"]))
            if path_type in ("Exact", "Prefix") and not path.startswith("/"):
                out.append(errors.field_invalid(f"{pp}.path", path, "must be an absolute path"))
            if isinstance(item.get("backend"), dict):
                _ingress_backend(item["backend"], f"{pp}.backend", out)
            else:
                out.append(errors.field_required(f"{pp}.backend"))
    return out


def _ingress_backend(backend: dict[str, Any], path: str, out: list[Cause]) -> None:
    service = backend.get("service")
    if service is None and backend.get("resource") is None:
        out.append(errors.field_invalid(path, backend, "one backend type must be specified"))
        return
    if isinstance(service, dict):
        sname = service.get("name") or ""
        if not sname:
            out.append(errors.field_required(f"{path}.service.name"))
        else:
            for msg in names.is_dns1035_label(sname):
                out.append(errors.field_invalid(f"{path}.service.name", sname, msg))
        port = service.get("port") or {}
        if not port.get("name") and not port.get("number"):
            out.append(errors.field_invalid(f"{path}.service.port", port, "port name or number is required"))
        elif port.get("number"):
            for msg in names.is_valid_port_num(port["number"]):
                out.append(errors.field_invalid(f"{path}.service.port.number", port["number"], msg))


def _network_policy(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out = selectors.validate_label_selector(spec.get("podSelector"), "spec.podSelector")
    types = spec.get("policyTypes") or []
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            out.append(errors.field_not_supported(f"spec.policyTypes[{i}]", t, ["Ingress", "Egress"]))
    if len(types) > 2:
        out.append(errors.field_invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
    return out


def _pdb(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
        out.append(errors.field_invalid("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if spec.get(key) is not None:
            _percent_or_int(spec[key], f"spec.{key}", out)
    out += selectors.validate_label_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy and policy not in ("AlwaysAllow", "IfHealthyBudget"):
        out.append(errors.field_not_supported("spec.unhealthyPodEvictionPolicy", policy,
                                              ["AlwaysAllow", "IfHealthyBudget"]))
    return out


def _hpa(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = _spec(obj)
    out: list[Cause] = []
    ref = spec.get("scaleTargetRef") or {}
    if not ref.get("kind"):
        out.append(errors.field_required("spec.scaleTargetRef.kind"))
    if not ref.get("name"):
        out.append(errors.field_required("spec.scaleTargetRef.name"))
    min_r = _int(spec.get("minReplicas"))
    max_r = _int(spec.get("maxReplicas")) or 0
    if min_r is not None and min_r < 1:
        out.append(errors.field_invalid("spec.minReplicas", min_r, "must be greater than or equal to 1"))
    if max_r < 1:
        out.append(errors.field_invalid("spec.maxReplicas", max_r, "must be greater than 0"))
    if min_r is not None and max_r < min_r:
        out.append(errors.field_invalid("spec.maxReplicas", max_r, "must be greater than or equal to `minReplicas`"))
    return out


_RBAC_SUBJECT_KINDS = ["ServiceAccount", "User", "Group"]


def _rbac_rules(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate(obj.get("rules") or []):
        p = f"rules[{i}]"
        if not rule.get("verbs"):
            out.append(errors.field_required(f"{p}.verbs", "verbs must contain at least one value"))
        if rule.get("nonResourceURLs"):
            if obj.get("kind") == "Role" or (obj.get("metadata") or {}).get("namespace"):
                out.append(errors.field_invalid(f"{p}.nonResourceURLs", rule["nonResourceURLs"],
                                                "namespaced rules cannot apply to non-resource URLs"))
            if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
                out.append(errors.field_invalid(f"{p}.nonResourceURLs", rule["nonResourceURLs"],
                                                "rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not rule.get("apiGroups"):
            out.append(errors.field_required(f"{p}.apiGroups", "resource rules must supply at least one api group"))
        if not rule.get("resources"):
            out.append(errors.field_required(f"{p}.resources", "resource rules must supply at least one resource"))
    return out


def _rbac_binding(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    namespaced = obj.get("kind") == "RoleBinding"
    ref = obj.get("roleRef") or {}
    allowed = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("apiGroup") != "rbac.authorization.k8s.io":
        out.append(errors.field_not_supported("roleRef.apiGroup", ref.get("apiGroup") or "", ["rbac.authorization.k8s.io"]))
    if ref.get("kind") not in allowed:
        out.append(errors.field_not_supported("roleRef.kind", ref.get("kind") or "", allowed))
    if not ref.get("name"):
        out.append(errors.field_required("roleRef.name"))
    else:
        for msg in names.path_segment_name(ref["name"]):
            out.append(errors.field_invalid("roleRef.name", ref["name"], msg))
    for i, subject in enumerate(obj.get("subjects") or []):
        p = f"subjects[{i}]"
        if not subject.get("name"):
            out.append(errors.field_required(f"{p}.name"))
        kind = subject.get("kind")
        if kind not in _RBAC_SUBJECT_KINDS:
            out.append(errors.field_not_supported(f"{p}.kind", kind or "", _RBAC_SUBJECT_KINDS))
        elif kind == "ServiceAccount":
            if subject.get("apiGroup"):
                out.append(errors.field_not_supported(f"{p}.apiGroup", subject["apiGroup"], [""]))
            if not namespaced and not subject.get("namespace"):
                out.append(errors.field_required(f"{p}.namespace"))
        elif subject.get("apiGroup") != "rbac.authorization.k8s.io":
            out.append(errors.field_not_supported(f"{p}.apiGroup", subject.get("apiGroup") or "",
                                                  ["rbac.authorization.k8s.io"]))
    if old is not None and obj.get("roleRef") != old.get("roleRef"):
        out.append(errors.field_invalid("roleRef", obj.get("roleRef"), "cannot change roleRef"))
    return out


def _storage_class(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    provisioner = obj.get("provisioner") or ""
    if not provisioner:
        out.append(errors.field_required("provisioner"))
    else:
        for msg in names.is_qualified_name(provisioner.lower()):
            out.append(errors.field_invalid("provisioner", provisioner, msg))
    policy = obj.get("reclaimPolicy")
    if policy and policy not in ("Delete", "Retain"):
        out.append(errors.field_not_supported("reclaimPolicy", policy, ["Delete", "Retain"]))
    mode = obj.get("volumeBindingMode")
    if mode and mode not in ("Immediate", "WaitForFirstConsumer"):
        out.append(errors.field_not_supported("volumeBindingMode", mode, ["Immediate", "WaitForFirstConsumer"]))
    if old is not None:
        for key in ("parameters", "provisioner", "reclaimPolicy"):
            if obj.get(key) != old.get(key):
                out.append(errors.field_forbidden(key, f"updates to {key} are forbidden."))
        _immutable(obj.get("volumeBindingMode"), old.get("volumeBindingMode"), "volumeBindingMode", out)
    return out


def _priority_class(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    name = (obj.get("metadata") or {}).get("name") or ""
    value = _int(obj.get("value"))
    if name.startswith("system-") and name not in ("system-cluster-critical", "system-node-critical"):
        out.append(errors.field_forbidden("metadata.name", "priority class names with 'system-' prefix are reserved"))
    elif value is not None and value > 1_000_000_000:
        out.append(errors.field_forbidden("value", "maximum allowed value of a user defined priority is 1000000000"))
    policy = obj.get("preemptionPolicy")
    if policy and policy not in ("Never", "PreemptLowerPriority"):
        out.append(errors.field_not_supported("preemptionPolicy", policy, ["Never", "PreemptLowerPriority"]))
    if old is not None:
        if obj.get("value") != old.get("value"):
            out.append(errors.field_forbidden("value", "may not be changed in an update."))
        _immutable(obj.get("preemptionPolicy"), old.get("preemptionPolicy"), "preemptionPolicy", out)
    return out


def _endpoint_slice(obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out: list[Cause] = []
    types = ["FQDN", "IPv4", "IPv6"]
    at = obj.get("addressType")
    if not at:
        out.append(errors.field_required("addressType"))
    elif at not in types:
        out.append(errors.field_not_supported("addressType", at, types))
    for i, ep in enumerate(obj.get("endpoints") or []):
        if not (ep or {}).get("addresses"):
            out.append(errors.field_required(f"endpoints[{i}].addresses", "must contain at least 1 address"))
    for i, port in enumerate(obj.get("ports") or []):
        proto = (port or {}).get("protocol")
        if proto and proto not in pods.PROTOCOLS:
            out.append(errors.field_not_supported(f"ports[{i}].protocol", proto, pods.PROTOCOLS))
    if old is not None:
        _immutable(obj.get("addressType"), old.get("addressType"), "addressType", out)
    return out


_VALIDATORS: dict[tuple[str, str], Validator] = {
    ("", "Pod"): _pod,
    ("", "PodTemplate"): _pod_template,
    ("", "Namespace"): _namespace,
    ("", "ConfigMap"): _config_map,
    ("", "Secret"): _secret,
    ("", "Service"): _service,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "PersistentVolume"): _pv,
    ("", "ReplicationController"): _replication_controller,
    ("apps", "Deployment"): _deployment,
    ("apps", "ReplicaSet"): _replica_set,
    ("apps", "DaemonSet"): _daemon_set,
    ("apps", "StatefulSet"): _stateful_set,
    ("apps", "ControllerRevision"): _controller_revision,
    ("batch", "Job"): _job,
    ("batch", "CronJob"): _cron_job,
    ("networking.k8s.io", "Ingress"): _ingress,
    ("networking.k8s.io", "NetworkPolicy"): _network_policy,
    ("policy", "PodDisruptionBudget"): _pdb,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpa,
    ("rbac.authorization.k8s.io", "Role"): _rbac_rules,
    ("rbac.authorization.k8s.io", "ClusterRole"): _rbac_rules,
    ("rbac.authorization.k8s.io", "RoleBinding"): _rbac_binding,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _rbac_binding,
    ("storage.k8s.io", "StorageClass"): _storage_class,
    ("scheduling.k8s.io", "PriorityClass"): _priority_class,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slice,
}

"""Pod spec rules (core ValidatePodSpec and ValidatePodUpdate), shared by Pods and every pod template.

Paths and messages are upstream's: ``spec.containers[0].image: Required value``,
``spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"``,
and the long ``spec: Forbidden: pod updates may not change fields other than ...`` on update.
"""

from __future__ import annotations

from typing import Any

from navarch.api import errors, jsoncopy
from navarch.api.errors import Cause
from navarch.api.validation import gofmt, names
from navarch.api.validation.objectmeta import validate_annotations, validate_labels

MAX_INT32 = 2**31 - 1
RESTART_POLICIES = ["Always", "OnFailure", "Never"]
DNS_POLICIES = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["File", "FallbackToLogsOnError"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
TOLERATION_OPERATORS = ["Equal", "Exists"]
TAINT_EFFECTS = ["NoExecute", "NoSchedule", "PreferNoSchedule"]
_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
    "image",
)

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def validate_pod_template_spec(template: Any, path: str) -> list[Cause]:
    """ValidatePodTemplateSpec: the template's labels and annotations, then its pod spec."""
    if not isinstance(template, dict):
        return [errors.field_required(path)]
    meta = template.get("metadata") or {}
    out = validate_labels(meta.get("labels"), f"{path}.labels")
    out += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    out += validate_pod_spec(template.get("spec") or {}, f"{path}.spec")
    return out


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    if not isinstance(spec, dict):
        spec = {}
    out: list[Cause] = []
    volumes = spec.get("volumes") or []
    volume_names = _validate_volumes(volumes, f"{path}.volumes", out)
    containers = spec.get("containers") or []
    init_containers = spec.get("initContainers") or []
    if not containers:
        out.append(errors.field_required(f"{path}.containers"))
    seen: set[str] = set()
    for i, c in enumerate(init_containers):
        _validate_container(c, f"{path}.initContainers[{i}]", volume_names, seen, out)
    for i, c in enumerate(containers):
        _validate_container(c, f"{path}.containers[{i}]", volume_names, seen, out)

    policy = spec.get("restartPolicy")
    if policy is not None or "restartPolicy" in spec:
        if not policy:
            out.append(errors.field_required(f"{path}.restartPolicy"))
        elif policy not in RESTART_POLICIES:
            out.append(errors.field_not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns and dns not in DNS_POLICIES:
        out.append(errors.field_not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    if dns == "None" and not spec.get("dnsConfig"):
        out.append(errors.field_required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))

    out += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    sa = spec.get("serviceAccountName")
    if sa:
        for msg in names.is_dns1123_subdomain(sa):
            out.append(errors.field_invalid(f"{path}.serviceAccountName", sa, msg))
    for key in ("hostname", "subdomain"):
        v = spec.get(key)
        if v:
            for msg in names.is_dns1123_label(v):
                out.append(errors.field_invalid(f"{path}.{key}", v, msg))
    ads = _int(spec.get("activeDeadlineSeconds"))
    if ads is not None and not 1 <= ads <= MAX_INT32:
        out.append(errors.field_invalid(f"{path}.activeDeadlineSeconds", ads,
                                        f"must be between 1 and {MAX_INT32}, inclusive"))
    tgps = _int(spec.get("terminationGracePeriodSeconds"))
    if tgps is not None and tgps < 0:
        out.append(errors.field_invalid(f"{path}.terminationGracePeriodSeconds", tgps,
                                        "must be greater than or equal to 0"))
    for i, t in enumerate(spec.get("tolerations") or []):
        _validate_toleration(t, f"{path}.tolerations[{i}]", out)
    return out


def _validate_volumes(volumes: list[Any], path: str, out: list[Cause]) -> set[str]:
    seen: set[str] = set()
    for i, vol in enumerate(volumes):
        p = f"{path}[{i}]"
        if not isinstance(vol, dict):
            continue
        name = vol.get("name") or ""
        if not name:
            out.append(errors.field_required(f"{p}.name"))
        else:
            for msg in names.is_dns1123_label(name):
                out.append(errors.field_invalid(f"{p}.name", name, msg))
            if name in seen:
                out.append(errors.field_duplicate(f"{p}.name", name))
            seen.add(name)
        sources = [s for s in _VOLUME_SOURCES if vol.get(s) is not None]
        if not sources:
            out.append(errors.field_required(p, "must specify a volume type"))
        elif len(sources) > 1:
            out.append(errors.field_forbidden(f"{p}.{sources[1]}", "may not specify more than 1 volume type"))
        for kind in ("configMap", "secret"):
            src = vol.get(kind)
            mode = _int((src or {}).get("defaultMode"))
            if mode is not None and not 0 <= mode <= 0o777:
                out.append(errors.field_invalid(f"{p}.{kind}.defaultMode", mode,
                                                "must be a number between 0 and 0777 (octal), both inclusive"))
        pvc = vol.get("persistentVolumeClaim")
        if isinstance(pvc, dict) and not pvc.get("claimName"):
            out.append(errors.field_required(f"{p}.persistentVolumeClaim.claimName"))
        host = vol.get("hostPath")
        if isinstance(host, dict) and not host.get("path"):
            out.append(errors.field_required(f"{p}.hostPath.path"))
    return seen


def _validate_container(c: Any, path: str, volumes: set[str], seen: set[str], out: list[Cause]) -> None:
    if not isinstance(c, dict):
        return
    name = c.get("name") or ""
    if not name:
        out.append(errors.field_required(f"{path}.name"))
    else:
        for msg in names.is_dns1123_label(name):
            out.append(errors.field_invalid(f"{path}.name", name, msg))
        if name in seen:
            out.append(errors.field_duplicate(f"{path}.name", name))
        seen.add(name)
    image = c.get("image")
    if not image:
        out.append(errors.field_required(f"{path}.image"))
    elif image != image.strip():
        out.append(errors.field_invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))
    pull = c.get("imagePullPolicy")
    if "imagePullPolicy" in c:
        if not pull:
            out.append(errors.field_required(f"{path}.imagePullPolicy"))
        elif pull not in PULL_POLICIES:
            out.append(errors.field_not_supported(f"{path}.imagePullPolicy", pull, PULL_POLICIES))
    tmp = c.get("terminationMessagePolicy")
    if "terminationMessagePolicy" in c:
        if not tmp:
            out.append(errors.field_required(f"{path}.terminationMessagePolicy",
                                             "must be 'File' or 'FallbackToLogsOnError'"))
        elif tmp not in TERMINATION_MESSAGE_POLICIES:
            out.append(errors.field_invalid(f"{path}.terminationMessagePolicy", tmp,
                                            "must be 'File' or 'FallbackToLogsOnError'"))
    _validate_ports(c.get("ports") or [], f"{path}.ports", out)
    _validate_env(c.get("env") or [], f"{path}.env", out)
    for i, m in enumerate(c.get("volumeMounts") or []):
        p = f"{path}.volumeMounts[{i}]"
        mname = (m or {}).get("name") or ""
        if not mname:
            out.append(errors.field_required(f"{p}.name"))
        elif mname not in volumes:
            out.append(Cause("FieldValueNotFound", f'Not found: "{mname}"', f"{p}.name"))
        if not (m or {}).get("mountPath"):
            out.append(errors.field_required(f"{p}.mountPath"))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(c.get(probe), dict):
            _validate_probe(c[probe], f"{path}.{probe}", probe, out)
    _validate_resources(c.get("resources") or {}, f"{path}.resources", out)


def _validate_ports(ports: list[Any], path: str, out: list[Cause]) -> None:
    names_seen: set[str] = set()
    for i, port in enumerate(ports):
        if not isinstance(port, dict):
            continue
        p = f"{path}[{i}]"
        pname = port.get("name")
        if pname:
            for msg in names.is_valid_port_name(pname):
                out.append(errors.field_invalid(f"{p}.name", pname, msg))
            if pname in names_seen:
                out.append(errors.field_duplicate(f"{p}.name", pname))
            names_seen.add(pname)
        cp = _int(port.get("containerPort"))
        if not cp:
            out.append(errors.field_required(f"{p}.containerPort"))
        else:
            for msg in names.is_valid_port_num(cp):
                out.append(errors.field_invalid(f"{p}.containerPort", cp, msg))
        hp = _int(port.get("hostPort"))
        if hp:
            for msg in names.is_valid_port_num(hp):
                out.append(errors.field_invalid(f"{p}.hostPort", hp, msg))
        if "protocol" in port:
            proto = port.get("protocol")
            if not proto:
                out.append(errors.field_required(f"{p}.protocol"))
            elif proto not in PROTOCOLS:
                out.append(errors.field_not_supported(f"{p}.protocol", proto, PROTOCOLS))


def _validate_env(env: list[Any], path: str, out: list[Cause]) -> None:
    for i, e in enumerate(env):
        if not isinstance(e, dict):
            continue
        p = f"{path}[{i}]"
        name = e.get("name") or ""
        if not name:
            out.append(errors.field_required(f"{p}.name"))
        else:
            for msg in names.is_env_var_name(name):
                out.append(errors.field_invalid(f"{p}.name", name, msg))
        source = e.get("valueFrom")
        if isinstance(source, dict):
            if e.get("value"):
                out.append(errors.field_invalid(f"{p}.valueFrom", "", "may not be specified when `value` is not empty"))
            kinds = [k for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef") if source.get(k)]
            if not kinds:
                out.append(errors.field_invalid(f"{p}.valueFrom", "", "must specify one of: `fieldRef`, "
                                                "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
            elif len(kinds) > 1:
                out.append(errors.field_invalid(f"{p}.valueFrom", "", "may not have more than one field specified at a time"))
            for ref in ("configMapKeyRef", "secretKeyRef"):
                r = source.get(ref)
                if isinstance(r, dict):
                    if not r.get("key"):
                        out.append(errors.field_required(f"{p}.valueFrom.{ref}.key"))
                    if not r.get("name"):
                        out.append(errors.field_required(f"{p}.valueFrom.{ref}.name"))
            fr = source.get("fieldRef")
            if isinstance(fr, dict) and not fr.get("fieldPath"):
                out.append(errors.field_required(f"{p}.valueFrom.fieldRef.fieldPath"))


def _validate_probe(probe: dict[str, Any], path: str, which: str, out: list[Cause]) -> None:
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        v = _int(probe.get(key))
        if v is not None and v < 0:
            out.append(errors.field_invalid(f"{path}.{key}", v, "must be greater than or equal to 0"))
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if not handlers:
        out.append(errors.field_required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        out.append(errors.field_forbidden(f"{path}.{handlers[1]}", "may not specify more than 1 handler type"))
    if which in ("livenessProbe", "startupProbe"):
        st = _int(probe.get("successThreshold"))
        if st is not None and st != 1:
            out.append(errors.field_invalid(f"{path}.successThreshold", st, "must be 1"))
    http = probe.get("httpGet")
    if isinstance(http, dict):
        port = http.get("port")
        if port is None:
            out.append(errors.field_required(f"{path}.httpGet.port"))
        elif isinstance(port, int) and not isinstance(port, bool):
            for msg in names.is_valid_port_num(port):
                out.append(errors.field_invalid(f"{path}.httpGet.port", port, msg))
        scheme = http.get("scheme")
        if scheme and scheme not in ("HTTP", "HTTPS"):
            out.append(errors.field_not_supported(f"{path}.httpGet.scheme", scheme, ["HTTP", "HTTPS"]))


_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def _quantity_value(q: Any) -> float | None:
    """A quantity's magnitude, close enough to compare requests with limits (None if unparsable)."""
    if isinstance(q, (int, float)) and not isinstance(q, bool):
        return float(q)
    if not isinstance(q, str):
        return None
    text = q.strip()
    for suffix, power in _BINARY.items():
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * 2**power
            except ValueError:
                return None
    for suffix, exp in _DECIMAL.items():
        if suffix and text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * 10.0**exp
            except ValueError:
                return None
    try:
        return float(text)
    except ValueError:
        return None


def _validate_resources(res: dict[str, Any], path: str, out: list[Cause]) -> None:
    limits = res.get("limits") or {}
    requests = res.get("requests") or {}
    if not isinstance(limits, dict) or not isinstance(requests, dict):
        return
    for name, req in requests.items():
        lim = limits.get(name)
        if lim is None:
            continue
        rv, lv = _quantity_value(req), _quantity_value(lim)
        if rv is not None and lv is not None and rv > lv:
            out.append(errors.field_invalid(f"{path}.requests", req,
                                            f"must be less than or equal to {name} limit of {lim}"))


def _validate_toleration(t: Any, path: str, out: list[Cause]) -> None:
    if not isinstance(t, dict):
        return
    key = t.get("key") or ""
    if key:
        for msg in names.is_qualified_name(key):
            out.append(errors.field_invalid(f"{path}.key", key, msg))
    op = t.get("operator") or ""
    if not key and op != "Exists" and op:
        out.append(errors.field_invalid(f"{path}.operator", op,
                                        "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
    if op and op not in TOLERATION_OPERATORS:
        out.append(errors.field_not_supported(f"{path}.operator", op, TOLERATION_OPERATORS))
    if op == "Exists" and t.get("value"):
        out.append(errors.field_invalid(f"{path}.operator", t.get("value"),
                                        "value must be empty when `operator` is 'Exists'"))
    effect = t.get("effect")
    if effect and effect not in TAINT_EFFECTS:
        out.append(errors.field_not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
    if t.get("tolerationSeconds") is not None and effect != "NoExecute":
        out.append(errors.field_invalid(f"{path}.effect", effect or "",
                                        "effect must be 'NoExecute' when `tolerationSeconds` is set"))


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    """ValidatePodUpdate's spec rules: only images, activeDeadlineSeconds, added tolerations and a
    negative terminationGracePeriodSeconds set to 1 may change."""
    spec = new.get("spec") or {}
    old_spec = old.get("spec") or {}
    out: list[Cause] = []
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            if isinstance(c, dict) and not c.get("image"):
                out.append(errors.field_required(f"spec.{key}[{i}].image"))
    new_ads = _int(spec.get("activeDeadlineSeconds"))
    old_ads = _int(old_spec.get("activeDeadlineSeconds"))
    if new_ads is not None:
        if not 0 <= new_ads <= MAX_INT32:
            return out + [errors.field_invalid("spec.activeDeadlineSeconds", new_ads,
                                               f"must be between 0 and {MAX_INT32}, inclusive")]
        if old_ads is not None and old_ads < new_ads:
            return out + [errors.field_invalid("spec.activeDeadlineSeconds", new_ads,
                                               "must be less than or equal to previous value")]
    elif old_ads is not None:
        out.append(errors.field_invalid("spec.activeDeadlineSeconds", None,
                                        "must not update from a positive integer to nil value"))

    if spec == old_spec:
        return out  # restoring the updatable fields from old_spec below would change nothing
    munged = jsoncopy.deep_copy(spec)
    for key in ("containers", "initContainers"):
        old_list = old_spec.get(key) or []
        for i, c in enumerate(munged.get(key) or []):
            if isinstance(c, dict) and i < len(old_list) and isinstance(old_list[i], dict):
                if "image" in old_list[i]:
                    c["image"] = old_list[i]["image"]
                else:
                    c.pop("image", None)
    _restore(munged, old_spec, "activeDeadlineSeconds")
    old_tols = old_spec.get("tolerations") or []
    new_tols = spec.get("tolerations") or []
    if all(t in new_tols for t in old_tols):
        _restore(munged, old_spec, "tolerations")
    old_grace = _int(old_spec.get("terminationGracePeriodSeconds"))
    if old_grace is not None and old_grace < 0 and spec.get("terminationGracePeriodSeconds") == 1:
        _restore(munged, old_spec, "terminationGracePeriodSeconds")
    if munged != old_spec:
        diff = gofmt.struct_diff("core.PodSpec", old_spec, munged)
        out.append(errors.field_forbidden(
            "spec", f"pod updates may not change fields other than {','.join(UPDATABLE_POD_SPEC_FIELDS)}\n{diff}"))
    return out


def _restore(target: dict[str, Any], source: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = jsoncopy.deep_copy(source[key])
    else:
        target.pop(key, None)

"""The advisory ``Warning`` headers upstream's API server adds, that kubectl prints as ``Warning: ...``:
the deprecation of a whole resource (KEP-1693) and the warnings of pod specs and pod templates
(upstream's ``pkg/api/pod/warnings.go``: deprecated node labels, annotations and volume plugins,
duplicates that ``kubectl apply`` would drop, fractional byte quantities). They never refuse a write.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from navarch.api import quantity
from navarch.api.goprint import quote as go_quote
from navarch.api.podtemplates import template_of
from navarch.api.resources import ResourceInfo

# (group, version, plural) -> the warning every request to the resource gets.
_DEPRECATED_RESOURCES = {
    ("", "v1", "endpoints"): "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
}

_DEPRECATED_NODE_LABELS = {
    "beta.kubernetes.io/arch": 'deprecated since v1.14; use "kubernetes.io/arch" instead',
    "beta.kubernetes.io/os": 'deprecated since v1.14; use "kubernetes.io/os" instead',
    "failure-domain.beta.kubernetes.io/region": 'deprecated since v1.17; use "topology.kubernetes.io/region" instead',
    "failure-domain.beta.kubernetes.io/zone": 'deprecated since v1.17; use "topology.kubernetes.io/zone" instead',
    "beta.kubernetes.io/instance-type": 'deprecated since v1.17; use "node.kubernetes.io/instance-type" instead',
}

_DEPRECATED_ANNOTATIONS = {
    "scheduler.alpha.kubernetes.io/critical-pod": 'non-functional in v1.16+; use the "priorityClassName" field instead',
    "security.alpha.kubernetes.io/sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
    "security.alpha.kubernetes.io/unsafe-sysctls": 'non-functional in v1.11+; use the "sysctls" field instead',
}

_DEPRECATED_VOLUMES = {
    "photonPersistentDisk": "deprecated in v1.11, non-functional in v1.16+",
    "gitRepo": "deprecated in v1.11",
    "scaleIO": "deprecated in v1.16, non-functional in v1.22+",
    "flocker": "deprecated in v1.22, non-functional in v1.25+",
    "storageos": "deprecated in v1.22, non-functional in v1.25+",
    "quobyte": "deprecated in v1.22, non-functional in v1.25+",
    "glusterfs": "deprecated in v1.25, non-functional in v1.26+",
    "cephfs": "deprecated in v1.28, non-functional in v1.31+",
    "rbd": "deprecated in v1.28, non-functional in v1.31+",
}
# Upstream names the field path with the Go field name where it differs from the JSON one.
_VOLUME_PATH_NAMES = {"storageos": "storageOS"}

SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def resource_deprecation(r: ResourceInfo) -> str:
    """The warning every request to a deprecated resource gets ("" for the others)."""
    return _DEPRECATED_RESOURCES.get((r.group, r.version, r.plural), "")


def object_warnings(r: ResourceInfo, obj: Mapping[str, Any]) -> list[str]:
    """A pod's, or a workload's pod template's, warnings on create and update."""
    if r.group == "" and r.kind == "Pod":
        return pod_warnings(obj.get("spec") or {}, obj.get("metadata") or {}, "")
    found = template_of(r.group, r.plural, obj)
    if found is None:
        return []
    path, template = found
    return pod_warnings(template.get("spec") or {}, template.get("metadata") or {}, ".".join(path) + ".")


def pod_warnings(spec: Mapping[str, Any], meta: Mapping[str, Any], prefix: str) -> list[str]:
    """upstream's warningsForPodSpecAndMeta (the checks navarch makes), paths under ``prefix``."""
    out: list[str] = []
    s = prefix + "spec"
    for key in spec.get("nodeSelector") or {}:
        if key in _DEPRECATED_NODE_LABELS:
            out.append(f"{s}.nodeSelector[{key}]: {_DEPRECATED_NODE_LABELS[key]}")
    node_affinity = ((spec.get("affinity") or {}).get("nodeAffinity")) or {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    for i, term in enumerate(required.get("nodeSelectorTerms") or []):
        out += _term_warnings(term, f"{s}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
                                    f".nodeSelectorTerms[{i}]")
    for i, term in enumerate(node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
        out += _term_warnings((term or {}).get("preference") or {},
                              f"{s}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[{i}].preference")
    for i, constraint in enumerate(spec.get("topologySpreadConstraints") or []):
        key = (constraint or {}).get("topologyKey") or ""
        if key in _DEPRECATED_NODE_LABELS:
            out.append(f"{s}.topologySpreadConstraints[{i}].topologyKey: {key} is {_DEPRECATED_NODE_LABELS[key]}")
        if (constraint or {}).get("labelSelector") is None:
            out.append(f"{s}.topologySpreadConstraints[{i}].labelSelector: a null labelSelector results in matching no pod")
    annotations = meta.get("annotations") or {}
    for key, message in _DEPRECATED_ANNOTATIONS.items():
        if key in annotations:
            out.append(f"{prefix}metadata.annotations[{key}]: {message}")
    for i, volume in enumerate(spec.get("volumes") or []):
        for plugin in _DEPRECATED_VOLUMES.keys() & (volume or {}).keys():
            if volume[plugin] is not None:
                out.append(f"{s}.volumes[{i}].{_VOLUME_PATH_NAMES.get(plugin, plugin)}: {_DEPRECATED_VOLUMES[plugin]}")
    out += _overlapping_paths(spec.get("volumes") or [])
    out += _duplicates(spec.get("hostAliases") or [], "ip", f"{s}.hostAliases", "duplicate ip")
    pull_secrets = spec.get("imagePullSecrets") or []
    out += _duplicates(pull_secrets, "name", f"{s}.imagePullSecrets", "duplicate name")
    for i, ref in enumerate(pull_secrets):
        if not (ref or {}).get("name"):
            out.append(f'{s}.imagePullSecrets[{i}].name: invalid empty name ""')
    for resource in ("memory", "ephemeral-storage"):
        out += _fractional(spec.get("overhead") or {}, resource, f"{s}.overhead")
    seccomp_field = ((spec.get("securityContext") or {}).get("seccompProfile")) is not None
    if not seccomp_field and SECCOMP_POD_ANNOTATION in annotations:
        out.append(f'{prefix}metadata.annotations[{SECCOMP_POD_ANNOTATION}]: non-functional in v1.27+; '
                   'use the "seccompProfile" field instead')
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(field_name) or []):
            out += _container_warnings(c or {}, annotations, f"{s}.{field_name}[{i}]", prefix)
    out += _port_warnings(spec, s)
    affinity = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        terms = affinity.get(kind) or {}
        base = f"{s}.affinity.{kind}"
        for i, term in enumerate(terms.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
            if (term or {}).get("labelSelector") is None:
                out.append(f"{base}.requiredDuringSchedulingIgnoredDuringExecution[{i}].labelSelector: "
                           "a null labelSelector results in matching no pod")
        for i, term in enumerate(terms.get("preferredDuringSchedulingIgnoredDuringExecution") or []):
            if ((term or {}).get("podAffinityTerm") or {}).get("labelSelector") is None:
                out.append(f"{base}.preferredDuringSchedulingIgnoredDuringExecution[{i}].podAffinityTerm.labelSelector: "
                           "a null labelSelector results in matching no pod")
    return out


def _overlapping_paths(volumes: list[Any]) -> list[str]:
    """Items of one configMap, secret, downwardAPI or projected volume written to the same path, or
    one inside another (the second write fails or replaces the first): upstream's
    warningsForOverlappingVirtualPaths, messages and quirks included (a projected source without
    items is checked again with the paths of the source before it)."""
    out: list[str] = []
    for v in volumes:
        v = v or {}
        name = go_quote(str(v.get("name", "")))
        for plugin, label, ref in (("configMap", "ConfigMap", "name"), ("secret", "Secret", "secretName")):
            src = v.get(plugin)
            if src and src.get("items") is not None:
                out += _overlaps(_item_paths(src["items"]),
                                 f"volume {name} ({label} {go_quote(str(src.get(ref) or ''))}): overlapping paths")
        downward = v.get("downwardAPI")
        if downward and downward.get("items") is not None:
            out += _overlaps(_item_paths(downward["items"]), f"volume {name} (DownwardAPI): overlapping paths")
        projected = v.get("projected")
        if not projected:
            continue
        paths: list[str] = []
        message = ""
        seen: list[str] = []
        for source in projected.get("sources") or []:
            source = {k: x for k, x in (source or {}).items() if x is not None}
            if not source:
                out.append(f"volume {name} (Projected) has no sources provided")
                continue
            if (source.get("configMap") or {}).get("items") is not None:
                paths = _item_paths(source["configMap"]["items"])
                message = f"volume {name} (Projected ConfigMap {go_quote(str(source['configMap'].get('name') or ''))})"
            elif (source.get("secret") or {}).get("items") is not None:
                paths = _item_paths(source["secret"]["items"])
                message = f"volume {name} (Projected Secret {go_quote(str(source['secret'].get('name') or ''))})"
            elif (source.get("downwardAPI") or {}).get("items") is not None:
                paths = _item_paths(source["downwardAPI"]["items"])
                message = f"volume {name} (Projected DownwardAPI)"
            elif "serviceAccountToken" in source:
                paths = [str(source["serviceAccountToken"].get("path") or "")]
                message = f"volume {name} (Projected ServiceAccountToken)"
            elif "clusterTrustBundle" in source:
                bundle = source["clusterTrustBundle"]
                paths = [str(bundle.get("path") or "")]
                which = bundle.get("name") if bundle.get("name") is not None else bundle.get("signerName")
                message = f"volume {name} (Projected ClusterTrustBundle {go_quote(str(which or ''))})"
            if not paths:
                continue
            out += _overlaps(paths, message + ": overlapping paths")
            unique = list(dict.fromkeys(paths))
            out += _overlaps(sorted(unique + seen), message + ": overlapping paths")
            seen += [p for p in unique if p not in seen]
    return out


def _item_paths(items: list[Any]) -> list[str]:
    return [str((item or {}).get("path") or "") for item in items]


def _overlaps(paths: list[str], message: str) -> list[str]:
    out: list[str] = []
    before: list[str] = []
    for path in paths:
        path = path.rstrip("/")
        collision = _overlap(before, path)
        if collision:
            out.append(f"{message}: {go_quote(path)} with {go_quote(collision)}")
        if path not in before:
            before.append(path)
    return out


def _overlap(paths: list[str], path: str) -> str:
    # Upstream's prefix tests, kept as they are ("ab" and "a" overlap for it too).
    for item in paths:
        if item == "" or path == "":
            return ""
        if item == path or (item + "/").startswith(path) or (path + "/").startswith(item):
            return item
    return ""


def _port_warnings(spec: Mapping[str, Any], s: str) -> list[str]:
    """Container ports of the pod that repeat or shadow one another (same port and protocol, in
    any container), and host IPs without a host port: upstream compares each with those before it."""
    out: list[str] = []
    seen: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(field_name) or []):
            for j, port in enumerate((c or {}).get("ports") or []):
                port = port or {}
                path = f"{s}.{field_name}[{i}].ports[{j}]"
                host_ip, host_port = port.get("hostIP") or "", port.get("hostPort") or 0
                if host_ip and not host_port:
                    out.append(f"{path}: hostIP set without hostPort: {_go_port(port)}")
                key = f"{port.get('containerPort') or 0}/{port.get('protocol') or ''}"
                for other_path, other in seen.get(key, ()):
                    other_ip, other_port = other.get("hostIP") or "", other.get("hostPort") or 0
                    if host_ip == other_ip and host_port == other_port:
                        out.append(f"{path}: duplicate port definition with {other_path}")
                    elif not host_port or not other_port:
                        out.append(f"{path}: overlapping port definition with {other_path}")
                    elif host_port == other_port and bool(host_ip) != bool(other_ip):
                        out.append(f"{path}: dangerously ambiguous port definition with {other_path}")
                seen.setdefault(key, []).append((path, port))
    return out


def _go_port(port: Mapping[str, Any]) -> str:
    """A ContainerPort as Go's ``%+v`` prints the struct."""
    return (f"{{Name:{port.get('name') or ''} HostPort:{port.get('hostPort') or 0} "
            f"ContainerPort:{port.get('containerPort') or 0} Protocol:{port.get('protocol') or ''} "
            f"HostIP:{port.get('hostIP') or ''}}}")


def _term_warnings(term: Mapping[str, Any], path: str) -> list[str]:
    return [f"{path}.matchExpressions[{j}].key: {e['key']} is {_DEPRECATED_NODE_LABELS[e['key']]}"
            for j, e in enumerate(term.get("matchExpressions") or []) if (e or {}).get("key") in _DEPRECATED_NODE_LABELS]


def _duplicates(items: list[Any], key: str, path: str, what: str) -> list[str]:
    seen: set[Any] = set()
    out = []
    for i, item in enumerate(items):
        value = (item or {}).get(key)
        if value in seen:
            out.append(f'{path}[{i}].{key}: {what} "{value}"')
        seen.add(value)
    return out


def _container_warnings(c: Mapping[str, Any], annotations: Mapping[str, Any], path: str, prefix: str) -> list[str]:
    out: list[str] = []
    seccomp_key = SECCOMP_CONTAINER_PREFIX + str(c.get("name", ""))
    if ((c.get("securityContext") or {}).get("seccompProfile")) is None and seccomp_key in annotations:
        out.append(f'{prefix}metadata.annotations[{seccomp_key}]: non-functional in v1.27+; '
                   'use the "seccompProfile" field instead')
    resources = c.get("resources") or {}
    for kind in ("limits", "requests"):
        for resource in ("memory", "ephemeral-storage"):
            out += _fractional(resources.get(kind) or {}, resource, f"{path}.resources.{kind}")
    seen: set[str] = set()
    for i, env in enumerate(c.get("env") or []):
        name = str((env or {}).get("name", ""))
        if name in seen:
            # A later definition may build on the earlier one (X=$(X)...); anything else hides it.
            ref, value = f"$({name})", str(env.get("value") or "")
            if env.get("valueFrom") is not None or value == ref or ref not in value:
                out.append(f'{path}.env[{i}]: hides previous definition of "{name}", which may be dropped when using apply')
        seen.add(name)
    return out


def _fractional(values: Mapping[str, Any], resource: str, path: str) -> list[str]:
    """upstream's ``MilliValue() % 1000 != 0`` check: a byte count that is not a whole number."""
    raw = values.get(resource)
    if raw is None:
        return []
    try:
        whole = quantity.milli_value(raw) % 1000 == 0
    except ValueError:
        return []  # not a quantity: validation says so
    return [] if whole else [f'{path}[{resource}]: fractional byte value "{raw}" is invalid, must be an integer']

"""A container's environment, built as upstream's kubelet ``makeEnvironmentVariables`` builds it.

Order matters and follows upstream exactly:
1. ``envFrom`` sources, in order (a later source overwrites an earlier key; ``prefix`` is prepended);
2. ``env`` entries, in order: a literal ``value`` has its ``$(VAR)`` references expanded against what
   is defined so far (envFrom keys and earlier entries), then the service variables; ``valueFrom``
   is resolved (fieldRef, resourceFieldRef, configMapKeyRef, secretKeyRef); an ``optional`` source
   that is missing leaves the variable unset;
3. service variables (``FOO_SERVICE_HOST`` ...) for every name not already defined.
Failures raise ``CreateContainerConfigError`` with upstream's messages, which the pod workers report
as the container's waiting message.

The downward-API helpers here (``pod_field_value``, ``resource_field_value``) are shared with the
downwardAPI and projected volume plugins, as upstream shares ``pkg/fieldpath``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from navarch.api import quantity
from navarch.client.errors import ApiError, is_not_found
from navarch.kubelet.runtimes.interface import CreateContainerConfigError

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

# Only the master service of the default namespace is always linked, even with enableServiceLinks false.
MASTER_SERVICES = frozenset({"kubernetes"})

# The field paths a fieldRef may name (upstream ConvertDownwardAPIFieldLabel); spec.host is the old name.
_POD_FIELDS = frozenset({
    "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
    "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
    "status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
})
# Limits the kubelet fills in from node allocatable when a container sets none (MergeContainerResourceLimits).
_DEFAULTED_LIMITS = ("cpu", "memory", "ephemeral-storage")


class FieldError(ValueError):
    """A downward-API field that cannot be resolved; the message is upstream's."""


# ---- $(VAR) expansion (upstream third_party/forked/golang/expansion) ----------------------------

def expand(value: str, env: Mapping[str, str]) -> str:
    """``$(VAR)`` replaced by ``env[VAR]``; an unknown reference is left as written, ``$$`` is a
    literal ``$``, and a ``$`` not followed by ``(`` or ``$`` stays as it is (with what follows)."""
    return expand_with(value, lambda name: env.get(name, f"$({name})"))


def expand_with(value: str, mapping: Callable[[str], str]) -> str:
    """``expand`` with a lookup function, for callers (subPathExpr) that must see which names miss."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    n = len(value)
    while cursor < n:
        if value[cursor] == "$" and cursor + 1 < n:
            out.append(value[checkpoint:cursor])
            nxt = value[cursor + 1]
            if nxt == "$":
                out.append("$")
                advance = 1
            elif nxt == "(":
                close = value.find(")", cursor + 2)
                if close == -1:
                    # An unterminated reference: "$(" is kept and scanning resumes after it.
                    out.append("$(")
                    advance = 1
                else:
                    out.append(mapping(value[cursor + 2:close]))
                    advance = close - cursor
            else:
                out.append("$" + nxt)
                advance = 1
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    out.append(value[checkpoint:])
    return "".join(out)


# ---- service links (upstream pkg/kubelet/envvars) ------------------------------------------------

def service_env(services: Iterable[Obj], namespace: str, enable_service_links: bool = True,
                api_endpoint: tuple[str, int] | None = None) -> dict[str, str]:
    """The Docker-link style variables for the Services a pod in ``namespace`` sees: those of its own
    namespace when ``enable_service_links``, and ``default/kubernetes`` always. Headless Services
    (clusterIP None or empty) give none.

    ``api_endpoint`` (host, port): where pods reach the API server when its Service's cluster IP is
    unreachable to them (host-network pods without a proxy, docs/adr/0006): the ``kubernetes``
    variables then name that address, as if the Service were there."""
    chosen: dict[str, Obj] = {}
    for svc in services:
        meta = svc.get("metadata") or {}
        name = meta.get("name") or ""
        if not _service_ip_set(svc):
            continue
        if meta.get("namespace") == "default" and name in MASTER_SERVICES:
            chosen.setdefault(name, svc)
        elif meta.get("namespace") == namespace and enable_service_links:
            chosen[name] = svc
    if api_endpoint is not None:
        master = chosen.get("kubernetes")
        if master is None or (master.get("metadata") or {}).get("namespace") == "default":
            chosen["kubernetes"] = _endpoint_service("kubernetes", *api_endpoint)
    env: dict[str, str] = {}
    for svc in chosen.values():
        env.update(_service_vars(svc))
    return env


def _endpoint_service(name: str, host: str, port: int) -> Obj:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": host, "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}}


def api_endpoint_of(server_url: str) -> tuple[str, int] | None:
    """(host, port) of a kubeconfig's ``server`` URL (https default port 443)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(server_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return (parts.hostname, port) if parts.hostname else None


def _service_ip_set(svc: Obj) -> bool:
    ip = (svc.get("spec") or {}).get("clusterIP") or ""
    return ip not in ("", "None")


def _env_name(name: str) -> str:
    return name.replace("-", "_").upper()


def _service_vars(svc: Obj) -> dict[str, str]:
    spec = svc.get("spec") or {}
    ip = spec["clusterIP"]
    ports = spec.get("ports") or []
    if not ports:  # validation forbids this for a ClusterIP Service; nothing sensible to link
        return {}
    prefix = _env_name(svc["metadata"]["name"])
    out = {f"{prefix}_SERVICE_HOST": ip, f"{prefix}_SERVICE_PORT": str(ports[0].get("port"))}
    for p in ports:
        if p.get("name"):
            out[f"{prefix}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p.get("port"))
    host = f"[{ip}]" if ":" in ip else ip  # net.JoinHostPort
    for i, p in enumerate(ports):
        proto = (p.get("protocol") or "TCP")
        url = f"{proto.lower()}://{host}:{p.get('port')}"
        if i == 0:
            out[f"{prefix}_PORT"] = url
        port_prefix = f"{prefix}_PORT_{p.get('port')}_{proto.upper()}"
        out[port_prefix] = url
        out[f"{port_prefix}_PROTO"] = proto.lower()
        out[f"{port_prefix}_PORT"] = str(p.get("port"))
        out[f"{port_prefix}_ADDR"] = ip
    return out


# ---- ConfigMaps and Secrets ---------------------------------------------------------------------

async def fetch(client: Any, resource: str, namespace: str, name: str, objects: Any = None
                ) -> dict[str, Any] | None:
    """The object, or None when it does not exist; other API failures raise ``ApiError``.
    ``objects``: a ``kubelet.objectcache.ObjectCache`` serving ConfigMaps and Secrets from watches."""
    if objects is not None and resource in ("configmaps", "secrets"):
        return await objects.get(resource, namespace, name)
    try:
        return await client.get(resource, name, namespace)
    except ApiError as e:
        if is_not_found(e):
            return None
        raise


def not_found(kind: str, name: str) -> str:
    """Upstream's kubelet object managers name the kind in the singular: ``configmap "x" not found``."""
    return f'{kind} "{name}" not found'


def secret_data(secret: Obj) -> dict[str, bytes]:
    """A Secret's ``data`` decoded (it travels base64-encoded in JSON)."""
    out: dict[str, bytes] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v or "", validate=True)
        except (binascii.Error, ValueError):
            log.warning("secret %s: key %s is not valid base64; skipping it",
                        (secret.get("metadata") or {}).get("name"), k)
    return out


def configmap_data(cm: Obj) -> dict[str, bytes]:
    """``data`` and ``binaryData`` together, as the configMap volume projects them."""
    out = {k: (v or "").encode() for k, v in (cm.get("data") or {}).items()}
    for k, v in (cm.get("binaryData") or {}).items():
        try:
            out[k] = base64.b64decode(v or "", validate=True)
        except (binascii.Error, ValueError):
            log.warning("configmap %s: binaryData key %s is not valid base64; skipping it",
                        (cm.get("metadata") or {}).get("name"), k)
    return out


class _Objects:
    """ConfigMaps and Secrets fetched once per environment build, as upstream caches them per call."""

    def __init__(self, client: Any, namespace: str, cache: Any = None) -> None:
        self.client = client
        self.cache = cache
        self.namespace = namespace
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        key = (kind, name)
        if key not in self._cache:
            if self.client is None:
                raise CreateContainerConfigError(
                    f"couldn't get {'configMap' if kind == 'configmap' else kind} {self.namespace}/{name}, "
                    "no kubeClient defined")
            try:
                self._cache[key] = await fetch(self.client, kind + "s", self.namespace, name, self.cache)
            except ApiError as e:
                raise CreateContainerConfigError(e.message or str(e)) from e
        return self._cache[key]


# ---- the environment ----------------------------------------------------------------------------

async def container_env(pod: Obj, container: Obj, *, client: Any, node_name: str, host_ips: Sequence[str],
                        node_allocatable: Mapping[str, Any], pod_ips: Sequence[str] = (),
                        services: Iterable[Obj] | None = None, recorder: Any = None,
                        api_endpoint: tuple[str, int] | None = None, objects: Any = None) -> dict[str, str]:
    """The container's environment (without the image's own), in upstream's precedence.

    ``pod_ips`` are the sandbox's IPs (for status.podIP(s)); when empty, the pod's reported IPs are
    used, or the host's for a hostNetwork pod. ``services`` is every Service the kubelet knows (an
    informer's list); when None they are read through ``client``. ``recorder`` (an EventRecorder)
    receives the InvalidEnvironmentVariableNames warning. ``node_name`` answers spec.nodeName before
    the pod object carries it. ``api_endpoint``: see ``service_env``.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    namespace = meta.get("namespace") or "default"
    links = spec.get("enableServiceLinks") is not False
    if services is None:
        services = await _read_services(client, namespace, links)
    svc_env = service_env(services, namespace, links, api_endpoint)
    objects = _Objects(client, namespace, cache=objects)
    env: dict[str, str] = {}

    for source in container.get("envFrom") or []:
        prefix = source.get("prefix") or ""
        if source.get("configMapRef") is not None:
            ref, kind, label = source["configMapRef"], "configmap", "configMap"
        elif source.get("secretRef") is not None:
            ref, kind, label = source["secretRef"], "secret", "secret"
        else:
            continue
        name = ref.get("name") or ""
        obj = await objects.get(kind, name)
        if obj is None:
            if ref.get("optional"):
                continue
            raise CreateContainerConfigError(not_found(kind, name))
        if kind == "configmap":
            values = dict(obj.get("data") or {})
        else:
            values = {k: v.decode("utf-8", "surrogateescape") for k, v in secret_data(obj).items()}
        invalid = []
        for key, value in values.items():
            key = prefix + key
            if not _env_name_usable(key):
                invalid.append(key)
                continue
            env[key] = value
        if invalid:
            # Upstream (1.34) passes every key on since names were relaxed; a process environment
            # cannot hold a name with "=" or NUL, so those alone are skipped, with upstream's former event.
            message = (f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {label} {namespace}/{name} were "
                       "skipped since they are considered invalid environment variable names.")
            log.warning("pod %s/%s: %s", namespace, meta.get("name"), message)
            if recorder is not None:
                recorder.event(pod, "Warning", "InvalidEnvironmentVariableNames", message)

    def lookup(name: str) -> str:
        if name in env:
            return env[name]
        if name in svc_env:
            return svc_env[name]
        return f"$({name})"

    for var in container.get("env") or []:
        name = var.get("name") or ""
        value = var.get("value") or ""
        source = var.get("valueFrom")
        if value:
            value = expand_with(value, lookup)
        elif source:
            resolved = await _value_from(source, pod, container, objects, namespace=namespace,
                                         node_name=node_name, host_ips=host_ips, pod_ips=pod_ips,
                                         node_allocatable=node_allocatable)
            if resolved is None:
                continue
            value = resolved
        env[name] = value

    for k, v in svc_env.items():
        env.setdefault(k, v)
    return env


def _env_name_usable(name: str) -> bool:
    return bool(name) and "=" not in name and "\x00" not in name


async def _read_services(client: Any, namespace: str, links: bool) -> list[Obj]:
    if client is None:
        return []
    try:
        found: list[Obj] = []
        if links:
            found.extend((await client.list_all("services", namespace)).get("items") or [])
        if not links or namespace != "default":
            master = await fetch(client, "services", "default", "kubernetes")
            if master is not None:
                found.append(master)
    except ApiError as e:
        log.warning("listing services for env vars in %s: %s", namespace, e)
        raise CreateContainerConfigError("failed to list services when setting up env vars") from e
    return found


async def _value_from(source: Obj, pod: Obj, container: Obj, objects: _Objects, *, namespace: str,
                      node_name: str, host_ips: Sequence[str], pod_ips: Sequence[str],
                      node_allocatable: Mapping[str, Any]) -> str | None:
    """The value of one ``valueFrom``; None when an optional source is missing (the variable is unset)."""
    try:
        if source.get("fieldRef") is not None:
            return _env_field(source["fieldRef"], pod, node_name, host_ips, pod_ips)
        if source.get("resourceFieldRef") is not None:
            return resource_field_value(pod, container, source["resourceFieldRef"], node_allocatable)
    except FieldError as e:
        raise CreateContainerConfigError(str(e)) from e
    for field, kind, label in (("configMapKeyRef", "configmap", "ConfigMap"), ("secretKeyRef", "secret", "Secret")):
        ref = source.get(field)
        if ref is None:
            continue
        name, key, optional = ref.get("name") or "", ref.get("key") or "", bool(ref.get("optional"))
        obj = await objects.get(kind, name)
        if obj is None:
            if optional:
                return None
            raise CreateContainerConfigError(not_found(kind, name))
        if kind == "configmap":
            data = obj.get("data") or {}
            found = data.get(key)
        else:
            raw = secret_data(obj).get(key)
            found = None if raw is None else raw.decode("utf-8", "surrogateescape")
        if found is None:
            if optional:
                return None
            raise CreateContainerConfigError(f"couldn't find key {key} in {label} {namespace}/{name}")
        return found
    if source.get("fileKeyRef") is not None:
        raise CreateContainerConfigError("env valueFrom.fileKeyRef is not supported by navarch")
    return ""


# ---- the downward API ---------------------------------------------------------------------------

def _env_field(ref: Obj, pod: Obj, node_name: str, host_ips: Sequence[str], pod_ips: Sequence[str]) -> str:
    """upstream podFieldSelectorRuntimeValue: node and IP fields from the kubelet, the rest from the pod."""
    version = ref.get("apiVersion") or "v1"
    path = ref.get("fieldPath") or ""
    if version != "v1":
        raise FieldError(f"unsupported pod version: {version}")
    base, _, ok = _split_subscript(path)
    if ok:
        if base not in ("metadata.annotations", "metadata.labels"):
            raise FieldError(f"field label does not support subscript: {path}")
    elif path == "spec.host":
        path = "spec.nodeName"
    elif path not in _POD_FIELDS:
        raise FieldError(f"field label not supported: {path}")
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    ips = list(pod_ips) or [p.get("ip") for p in status.get("podIPs") or [] if p.get("ip")] \
        or ([status["podIP"]] if status.get("podIP") else []) \
        or (list(host_ips) if spec.get("hostNetwork") else [])
    if path == "spec.nodeName":
        return spec.get("nodeName") or node_name
    if path == "spec.serviceAccountName":
        return spec.get("serviceAccountName") or ""
    if path == "status.hostIP":
        return host_ips[0] if host_ips else ""
    if path == "status.hostIPs":
        return ",".join(host_ips)
    if path == "status.podIP":
        return _sorted_ips(ips, host_ips)[0] if ips else ""
    if path == "status.podIPs":
        return ",".join(_sorted_ips(ips, host_ips))
    return pod_field_value(pod, path)


def _sorted_ips(ips: Sequence[str], host_ips: Sequence[str]) -> list[str]:
    """Pod IPs with the node's preferred family first (upstream sortPodIPs, #97979)."""
    if not ips or not host_ips:
        return list(ips)
    try:
        v6_first = ipaddress.ip_address(host_ips[0]).version == 6
        return sorted(ips, key=lambda ip: (ipaddress.ip_address(ip).version == 6) != v6_first)
    except ValueError:
        return list(ips)


def _split_subscript(path: str) -> tuple[str, str, bool]:
    """``metadata.labels['k']`` -> (``metadata.labels``, ``k``, True)."""
    if not path.endswith("']"):
        return path, "", False
    base, sep, key = path[:-2].partition("['")
    if not sep or not base:
        return path, "", False
    return base, key, True


def pod_field_value(pod: Obj, path: str) -> str:
    """upstream fieldpath.ExtractFieldPathAsString: the metadata fields a downward API may read."""
    meta = pod.get("metadata") or {}
    base, key, ok = _split_subscript(path)
    if ok:
        if base == "metadata.annotations":
            return (meta.get("annotations") or {}).get(key, "")
        if base == "metadata.labels":
            return (meta.get("labels") or {}).get(key, "")
        raise FieldError(f"fieldPath {_go_quote(path)} does not support subscript")
    if path == "metadata.annotations":
        return format_map(meta.get("annotations") or {})
    if path == "metadata.labels":
        return format_map(meta.get("labels") or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return meta.get(path.split(".", 1)[1]) or ""
    raise FieldError(f"unsupported fieldPath: {path}")


def format_map(m: Mapping[str, str]) -> str:
    """Sorted ``key="value"`` lines with Go-quoted values (upstream fieldpath.FormatMap)."""
    return "\n".join(f"{k}={_go_quote(m[k])}" for k in sorted(m))


_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
               '"': r"\"", "\\": r"\\"}


def _go_quote(s: str) -> str:
    """Go's ``%q`` of a string: printable characters kept, the rest escaped."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def resource_field_value(pod: Obj, container: Obj | None, ref: Obj, node_allocatable: Mapping[str, Any]) -> str:
    """upstream containerResourceRuntimeValue with limits defaulted (defaultPodLimitsForDownwardAPI):
    the named container's (or ``container``'s) request or limit, divided by ``divisor`` and rounded up.
    A limit the container does not set is the pod-level limit, else the node's allocatable."""
    name = ref.get("containerName") or ""
    if name:
        container = _find_container(pod, name)
        if container is None:
            raise FieldError(f"container {name} not found")
    if container is None:
        raise FieldError("resourceFieldRef needs a containerName")
    resource = ref.get("resource") or ""
    kind, _, res_name = resource.partition(".")
    if kind not in ("limits", "requests") or not (res_name in _DEFAULTED_LIMITS or res_name.startswith("hugepages-")):
        raise FieldError(f"unsupported container resource : {resource}")
    resources = container.get("resources") or {}
    values = dict(resources.get(kind) or {})
    if kind == "limits" and res_name in _DEFAULTED_LIMITS:
        pod_limits = ((pod.get("spec") or {}).get("resources") or {}).get("limits") or {}
        current = values.get(res_name)
        if current is None or _is_zero(current):
            fallback = pod_limits.get(res_name, node_allocatable.get(res_name))
            if fallback is not None:
                values[res_name] = fallback
    try:
        amount = parse_quantity(values.get(res_name, "0"))
        divisor_q = ref.get("divisor")
        divisor = parse_quantity(divisor_q) if divisor_q not in (None, "", 0) else Decimal(0)
    except ValueError as e:
        raise FieldError(str(e)) from e
    if divisor == 0:
        divisor = Decimal(1)
    if res_name == "cpu":
        numerator, denominator = _ceil(amount * 1000), _ceil(divisor * 1000)
    else:
        numerator, denominator = _ceil(amount), _ceil(divisor)
    if denominator == 0:
        raise FieldError(f"invalid divisor for {resource}")
    return str(-(-numerator // denominator))


def _is_zero(q: Any) -> bool:
    try:
        return parse_quantity(q) == 0
    except ValueError:
        return False


def _find_container(pod: Obj, name: str) -> Obj | None:
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    return None


# ---- quantities ---------------------------------------------------------------------------------

parse_quantity = quantity.parse
quantity_bytes = quantity.value  # ``Quantity.Value()``: rounded up to a whole unit
_ceil = quantity.ceil


"""Resource quota arithmetic: what an object counts against a ResourceQuota, and quantities that
print as upstream prints them.

Shared by the ResourceQuota admission plugin (the delta of one object) and the resourcequota
controller (the total over a namespace), as upstream's ``pkg/quota/v1/evaluator/core`` is. Pure
data, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from navarch.api import quantity

_BINARY_SUFFIXES = ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki")
_DECIMAL_STEPS = ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, ""), (-3, "m"),
                  (-6, "u"), (-9, "n"))


@dataclass(frozen=True)
class Q:
    """A quantity with the format it prints in (``bin`` for Ki/Mi..., else ``dec``), as apimachinery's
    ``resource.Quantity``: a sum takes the format of its first non-zero term."""

    value: Decimal
    fmt: str = "dec"

    @classmethod
    def parse(cls, q: Any) -> Q:
        text = str(q).strip()
        return cls(quantity.parse(text), "bin" if text.endswith(_BINARY_SUFFIXES) else "dec")

    def __add__(self, other: Q) -> Q:
        return Q(self.value + other.value, other.fmt if self.value == 0 else self.fmt)

    def __sub__(self, other: Q) -> Q:
        return Q(self.value - other.value, other.fmt if self.value == 0 else self.fmt)

    def __str__(self) -> str:
        return format_quantity(self.value, self.fmt)


ZERO = Q(Decimal(0))
ONE = Q(Decimal(1))


def format_quantity(d: Decimal, fmt: str = "dec") -> str:
    """The canonical text of a quantity: the largest suffix that keeps the number whole."""
    if d == 0:
        return "0"
    sign = "-" if d < 0 else ""
    d = abs(d)
    if fmt == "bin" and d == d.to_integral_value() and d >= 1024:
        i = int(d)
        for n, suffix in zip(range(6, 0, -1), _BINARY_SUFFIXES):
            if i % (1024 ** n) == 0:
                return f"{sign}{i // 1024 ** n}{suffix}"
        return f"{sign}{i}"
    for exp, suffix in _DECIMAL_STEPS:
        m = d.scaleb(-exp)
        if m == m.to_integral_value():
            return f"{sign}{int(m)}{suffix}"
    return f"{sign}{quantity.ceil(d.scaleb(9))}n"


ResourceList = dict[str, Q]


def parse_list(rl: Mapping[str, Any] | None) -> ResourceList:
    out: ResourceList = {}
    for k, v in (rl or {}).items():
        try:
            out[k] = Q.parse(v)
        except ValueError:
            continue
    return out


def render_list(rl: Mapping[str, Q]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(rl.items())}


def add(a: Mapping[str, Q], b: Mapping[str, Q]) -> ResourceList:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, ZERO) + v
    return out


def subtract_non_negative(a: Mapping[str, Q], b: Mapping[str, Q]) -> ResourceList:
    out: ResourceList = {}
    for k, v in a.items():
        d = v - b.get(k, ZERO)
        out[k] = d if d.value > 0 else Q(Decimal(0), v.fmt)
    return out


def pretty(rl: Mapping[str, Q]) -> str:
    """``a=1,b=2``: sorted, comma-joined, as upstream's quota messages print a resource list."""
    return ",".join(f"{k}={v}" for k, v in sorted(rl.items()))


# ----------------------------------------------------------------------------- which objects count

def object_count_name(plural: str, group: str) -> str:
    return f"count/{plural}.{group}" if group else f"count/{plural}"


_CORE_COUNTED = ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets",
                 "replicationcontrollers", "resourcequotas")
_POD_NAMES = ("pods", "cpu", "memory", "ephemeral-storage")
_SERVICE_NAMES = ("services", "services.loadbalancers", "services.nodeports")
_STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"


def kind_of(name: str) -> tuple[str, str] | None:
    """The (group, plural) whose objects a quota resource name counts."""
    if name.startswith("count/"):
        plural, _, group = name[len("count/"):].partition(".")
        return (group, plural)
    if name in _POD_NAMES or name.startswith("hugepages-"):
        return ("", "pods")
    if name in _SERVICE_NAMES:
        return ("", "services")
    if name in ("persistentvolumeclaims", "requests.storage") or _STORAGE_CLASS_SUFFIX in name:
        return ("", "persistentvolumeclaims")
    if name.startswith(("requests.", "limits.")):
        return ("", "pods")
    if name in _CORE_COUNTED:
        return ("", name)
    return None


def matching_resources(names: Iterable[str], plural: str, group: str) -> set[str]:
    """The quota resource names that objects of this kind change."""
    return {n for n in names if kind_of(n) == (group, plural)}


def kinds_of(names: Iterable[str]) -> set[tuple[str, str]]:
    return {k for k in (kind_of(n) for n in names) if k is not None}


def usage(plural: str, group: str, obj: Mapping[str, Any], now: dt.datetime | None = None) -> ResourceList:
    """What one object counts against quota."""
    if not group and plural == "pods":
        return pod_usage(obj, now)
    if not group and plural == "services":
        return service_usage(obj)
    if not group and plural == "persistentvolumeclaims":
        return pvc_usage(obj)
    out: ResourceList = {object_count_name(plural, group): ONE}
    if not group and plural in _CORE_COUNTED:
        out[plural] = ONE
    return out


# ----------------------------------------------------------------------------- pods

def _containers(spec: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [c for c in (spec.get(key) or []) if isinstance(c, Mapping)]


def _res(c: Mapping[str, Any], which: str) -> ResourceList:
    return parse_list((c.get("resources") or {}).get(which))


def _max(a: Mapping[str, Q], b: Mapping[str, Q]) -> ResourceList:
    out = dict(a)
    for k, v in b.items():
        if k not in out or v.value > out[k].value:
            out[k] = v
    return out


def pod_totals(pod: Mapping[str, Any], which: str) -> ResourceList:
    """A pod's effective requests or limits: containers summed, restartable (sidecar) init containers
    added, each other init container's need (plus the sidecars started before it) as a floor, plus
    overhead, as upstream's ``resourcehelper.PodRequests``."""
    spec = pod.get("spec") or {}
    total: ResourceList = {}
    for c in _containers(spec, "containers"):
        total = add(total, _res(c, which))
    sidecars: ResourceList = {}
    floor: ResourceList = {}
    for c in _containers(spec, "initContainers"):
        r = _res(c, which)
        if c.get("restartPolicy") == "Always":
            total = add(total, r)
            sidecars = add(sidecars, r)
        else:
            floor = _max(floor, add(r, sidecars))
    total = _max(total, floor)
    overhead = parse_list(spec.get("overhead"))
    if overhead:
        total = add(total, {k: v for k, v in overhead.items() if k in total or which == "requests"})
    return total


def pod_counts(pod: Mapping[str, Any], now: dt.datetime | None = None) -> bool:
    """Whether a pod still uses quota: not finished, and not past its deletion grace period."""
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    meta = pod.get("metadata") or {}
    when = meta.get("deletionTimestamp")
    if when and meta.get("deletionGracePeriodSeconds") is not None:
        try:
            deadline = dt.datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError:
            return True
        now = now or dt.datetime.now(dt.UTC)
        return now <= deadline + dt.timedelta(seconds=int(meta["deletionGracePeriodSeconds"]))
    return True


def pod_usage(pod: Mapping[str, Any], now: dt.datetime | None = None) -> ResourceList:
    if not pod_counts(pod, now):
        return {}
    out: ResourceList = {"pods": ONE, "count/pods": ONE}
    requests = pod_totals(pod, "requests")
    limits = pod_totals(pod, "limits")
    for r in ("cpu", "memory", "ephemeral-storage"):
        if r in requests:
            out[r] = requests[r]
            out[f"requests.{r}"] = requests[r]
        if r in limits:
            out[f"limits.{r}"] = limits[r]
    for r, v in requests.items():
        if r.startswith("hugepages-"):
            out[r] = v
            out[f"requests.{r}"] = v
        elif "/" in r and not r.startswith("kubernetes.io/") and not r.startswith("requests."):
            out[f"requests.{r}"] = v  # extended resources are only quota'd as requests.<name>
    return out


def best_effort(pod: Mapping[str, Any]) -> bool:
    """Upstream's BestEffort QoS class: no container asks for or is limited in cpu or memory."""
    spec = pod.get("spec") or {}
    for c in _containers(spec, "containers") + _containers(spec, "initContainers"):
        for which in ("requests", "limits"):
            if any(k in ("cpu", "memory") and v.value != 0 for k, v in _res(c, which).items()):
                return False
    return True


# Resource names upstream insists every container states when a quota limits them.
_MUST_SPECIFY = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")


def missing_requests(pod: Mapping[str, Any], required: Iterable[str]) -> str | None:
    """Upstream's ``must specify ...`` when a quota limits cpu/memory and a container does not say
    how much it needs; None when every container does."""
    needed = set(required) & set(_MUST_SPECIFY)
    if not needed:
        return None
    missing: dict[str, set[str]] = {}
    spec = pod.get("spec") or {}
    for c in _containers(spec, "containers") + _containers(spec, "initContainers"):
        req, lim = _res(c, "requests"), _res(c, "limits")
        has: set[str] = set()
        for r in ("cpu", "memory"):
            if r in req:
                has |= {r, f"requests.{r}"}
            if r in lim:
                has.add(f"limits.{r}")
        for r in needed - has:
            missing.setdefault(r, set()).add(str(c.get("name", "")))
    if not missing:
        return None
    parts = [f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing)]
    return "must specify " + "; ".join(parts)


# ----------------------------------------------------------------------------- services, claims

def service_usage(svc: Mapping[str, Any]) -> ResourceList:
    spec = svc.get("spec") or {}
    ports = [p for p in (spec.get("ports") or []) if isinstance(p, Mapping)]
    out: ResourceList = {"services": ONE, "count/services": ONE, "services.loadbalancers": ZERO,
                         "services.nodeports": ZERO}
    kind = spec.get("type") or "ClusterIP"
    if kind == "NodePort":
        out["services.nodeports"] = Q(Decimal(len(ports)))
    elif kind == "LoadBalancer":
        out["services.loadbalancers"] = ONE
        if spec.get("allocateLoadBalancerNodePorts") is False:
            out["services.nodeports"] = Q(Decimal(sum(1 for p in ports if p.get("nodePort"))))
        else:
            out["services.nodeports"] = Q(Decimal(len(ports)))
    return out


def pvc_usage(pvc: Mapping[str, Any]) -> ResourceList:
    spec = pvc.get("spec") or {}
    out: ResourceList = {"persistentvolumeclaims": ONE, "count/persistentvolumeclaims": ONE}
    cls = spec.get("storageClassName") or (pvc.get("metadata") or {}).get("annotations", {}).get(
        "volume.beta.kubernetes.io/storage-class") or ""
    if cls:
        out[f"{cls}{_STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    storage = parse_list((spec.get("resources") or {}).get("requests")).get("storage")
    allocated = parse_list((pvc.get("status") or {}).get("allocatedResources")).get("storage")
    if allocated is not None and (storage is None or allocated.value > storage.value):
        storage = allocated
    if storage is not None:
        out["requests.storage"] = storage
        if cls:
            out[f"{cls}{_STORAGE_CLASS_SUFFIX}requests.storage"] = storage
    return out


# ----------------------------------------------------------------------------- scopes

def _scope_terms(quota: Mapping[str, Any]) -> list[tuple[str, str, list[str]]]:
    spec = quota.get("spec") or {}
    terms: list[tuple[str, str, list[str]]] = [(s, "Exists", []) for s in (spec.get("scopes") or [])]
    for e in ((spec.get("scopeSelector") or {}).get("matchExpressions") or []):
        terms.append((e.get("scopeName", ""), e.get("operator", ""), list(e.get("values") or [])))
    return terms


def has_scopes(quota: Mapping[str, Any]) -> bool:
    return bool(_scope_terms(quota))


def matches_scopes(quota: Mapping[str, Any], plural: str, group: str, obj: Mapping[str, Any]) -> bool:
    """Whether a scoped quota covers this object: every scope term must hold; only pods have scopes."""
    terms = _scope_terms(quota)
    if not terms:
        return True
    if group or plural != "pods":
        return False
    return all(_pod_matches(name, op, values, obj) for name, op, values in terms)


def _pod_matches(scope: str, op: str, values: list[str], pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    if scope == "PriorityClass":
        cls = spec.get("priorityClassName") or ""
        if op == "In":
            return cls in values
        if op == "NotIn":
            return cls not in values
        if op == "DoesNotExist":
            return not cls
        return bool(cls)
    if scope in ("Terminating", "NotTerminating"):
        deadline = spec.get("activeDeadlineSeconds")
        holds = deadline is not None and deadline >= 0
    elif scope in ("BestEffort", "NotBestEffort"):
        holds = best_effort(pod)
    elif scope == "CrossNamespacePodAffinity":
        holds = _cross_namespace_affinity(spec)
    else:
        return False
    positive = not scope.startswith("Not")
    matched = holds if positive else not holds
    return not matched if op == "DoesNotExist" else matched


def _cross_namespace_affinity(spec: Mapping[str, Any]) -> bool:
    aff = spec.get("affinity") or {}
    for kind in ("podAffinity", "podAntiAffinity"):
        a = aff.get(kind) or {}
        terms = list(a.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        terms += [t.get("podAffinityTerm") or {} for t in a.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        if any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms):
            return True
    return False


# ----------------------------------------------------------------------------- totals

def compute_used(quota: Mapping[str, Any], objects: Mapping[tuple[str, str], Iterable[Mapping[str, Any]]],
                 now: dt.datetime | None = None) -> ResourceList:
    """status.used of a quota from every object in its namespace, by (group, plural)."""
    hard = parse_list((quota.get("spec") or {}).get("hard"))
    used: ResourceList = {name: ZERO for name in hard}
    for (group, plural), items in objects.items():
        names = matching_resources(hard, plural, group)
        if not names:
            continue
        for obj in items:
            if not matches_scopes(quota, plural, group, obj):
                continue
            u = usage(plural, group, obj, now)
            for n in names:
                if n in u:
                    used[n] = used[n] + u[n]
    return used

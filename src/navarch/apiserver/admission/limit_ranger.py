"""LimitRanger: a namespace's LimitRanges fill in the requests and limits a pod's containers leave out,
then bound what containers, pods and claims may ask for (min, max, maxLimitRequestRatio).

Defaults apply on pod create only, as upstream's (containers cannot be added later); a pod that got
some says so in the ``kubernetes.io/limit-ranger`` annotation. Bounds apply to pod creates and to
claim creates and updates; a refusal is a 403 listing every broken bound in upstream's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from navarch.api.quota import Q, ResourceList, parse_list
from navarch.apiserver.admission import Attributes, forbidden
from navarch.apiserver.admission.access import access_of

NAME = "LimitRanger"
# (group, plural) of the only resources this plugin acts on; the chain skips it for the rest.
RESOURCES = frozenset({("", "pods"), ("", "persistentvolumeclaims")})
ANNOTATION = "kubernetes.io/limit-ranger"


def _is_pod_create(a: Attributes) -> bool:
    r = a.resource
    return (a.operation == "CREATE" and r.plural == "pods" and not r.group and not a.subresource
            and a.obj is not None)


def _is_claim_write(a: Attributes) -> bool:
    r = a.resource
    return (a.operation in ("CREATE", "UPDATE") and r.plural == "persistentvolumeclaims" and not r.group
            and not a.subresource and a.obj is not None)


async def _limit_items(a: Attributes) -> list[dict[str, Any]]:
    access = access_of(a)
    if access is None or not a.namespace:
        return []
    ranges = await access.list("", "limitranges", a.namespace)
    return [_with_defaults(item) for lr in sorted(ranges, key=lambda o: o["metadata"].get("name", ""))
            for item in ((lr.get("spec") or {}).get("limits") or []) if isinstance(item, dict)]


def _with_defaults(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Container item with upstream's LimitRange defaulting: default limit from max, default
    request from the default limit, else from min (stored objects may predate that defaulting)."""
    item = dict(item)
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    request = dict(item.get("defaultRequest") or {})
    for k, v in (item.get("max") or {}).items():
        default.setdefault(k, v)
    for k, v in default.items():
        request.setdefault(k, v)
    for k, v in (item.get("min") or {}).items():
        request.setdefault(k, v)
    item["default"], item["defaultRequest"] = default, request
    return item


# ----------------------------------------------------------------------------- defaults

async def admit(a: Attributes) -> None:
    if not _is_pod_create(a):
        return
    items = [i for i in await _limit_items(a) if i.get("type") == "Container"]
    if not items:
        return
    default_limits: dict[str, Any] = {}
    default_requests: dict[str, Any] = {}
    for item in items:
        default_limits.update(item.get("default") or {})
        default_requests.update(item.get("defaultRequest") or {})
    if not default_limits and not default_requests:
        return
    assert a.obj is not None
    spec = a.obj.setdefault("spec", {})
    notes: list[str] = []
    for key, label in (("containers", "container"), ("initContainers", "init container")):
        for c in spec.get(key) or []:
            notes += _merge(c, default_requests, default_limits, label)
    if notes:
        meta = a.obj.setdefault("metadata", {})
        annotations = meta.get("annotations") or {}
        annotations[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
        meta["annotations"] = annotations


def _merge(c: dict[str, Any], requests: Mapping[str, Any], limits: Mapping[str, Any], label: str) -> list[str]:
    res = c.get("resources") or {}
    have_limits = dict(res.get("limits") or {})
    have_requests = dict(res.get("requests") or {})
    set_limits = sorted(k for k in limits if k not in have_limits)
    set_requests = sorted(k for k in requests if k not in have_requests)
    for k in set_limits:
        have_limits[k] = limits[k]
    for k in set_requests:
        have_requests[k] = requests[k]
    if set_limits:
        res["limits"] = have_limits
    if set_requests:
        res["requests"] = have_requests
    if set_limits or set_requests:
        c["resources"] = res
    notes = []
    name = c.get("name", "")
    if set_requests:
        notes.append(f"{', '.join(set_requests)} request for {label} {name}")
    if set_limits:
        notes.append(f"{', '.join(set_limits)} limit for {label} {name}")
    return notes


# ----------------------------------------------------------------------------- bounds

async def validate(a: Attributes) -> None:
    if _is_pod_create(a):
        assert a.obj is not None
        problems = check_pod(a.obj, await _limit_items(a))
    elif _is_claim_write(a):
        assert a.obj is not None
        problems = check_claim(a.obj, await _limit_items(a))
    else:
        return
    if problems:
        raise forbidden(a, problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]")


def check_pod(pod: Mapping[str, Any], items: list[dict[str, Any]]) -> list[str]:
    spec = pod.get("spec") or {}
    containers = [c for c in spec.get("containers") or [] if isinstance(c, Mapping)]
    inits = [c for c in spec.get("initContainers") or [] if isinstance(c, Mapping)]
    problems: list[str] = []
    for item in items:
        kind = item.get("type")
        if kind == "Container":
            for c in containers + inits:
                res = c.get("resources") or {}
                problems += _bounds(kind, item, parse_list(res.get("requests")), parse_list(res.get("limits")))
        elif kind == "Pod":
            requests = _sum_present([parse_list((c.get("resources") or {}).get("requests")) for c in containers])
            limits = _sum_present([parse_list((c.get("resources") or {}).get("limits")) for c in containers])
            for c in inits:
                requests = _max(requests, parse_list((c.get("resources") or {}).get("requests")))
                limits = _max(limits, parse_list((c.get("resources") or {}).get("limits")))
            problems += _bounds(kind, item, requests, limits)
    return _unique(problems)


def check_claim(pvc: Mapping[str, Any], items: list[dict[str, Any]]) -> list[str]:
    requests = parse_list(((pvc.get("spec") or {}).get("resources") or {}).get("requests"))
    problems: list[str] = []
    for item in items:
        if item.get("type") != "PersistentVolumeClaim":
            continue
        kind = "PersistentVolumeClaim"
        for k, v in parse_list(item.get("min")).items():
            problems += _min(kind, k, v, requests, {})
        for k, v in parse_list(item.get("max")).items():
            # A claim's limits are not the user's ask: only the request is held to the max.
            req = requests.get(k)
            if req is None:
                problems.append(f"maximum {k} usage per {kind} is {v}.  No request is specified")
            elif req.value > v.value:
                problems.append(f"maximum {k} usage per {kind} is {v}, but request is {req}")
    return _unique(problems)


def _bounds(kind: str, item: Mapping[str, Any], requests: ResourceList, limits: ResourceList) -> list[str]:
    out: list[str] = []
    for k, v in parse_list(item.get("min")).items():
        out += _min(kind, k, v, requests, limits)
    for k, v in parse_list(item.get("max")).items():
        out += _max_bound(kind, k, v, requests, limits)
    for k, v in parse_list(item.get("maxLimitRequestRatio")).items():
        out += _ratio(kind, k, v, requests, limits)
    return out


def _min(kind: str, k: str, bound: Q, requests: ResourceList, limits: ResourceList) -> list[str]:
    req, lim = requests.get(k), limits.get(k)
    if req is None:
        return [f"minimum {k} usage per {kind} is {bound}.  No request is specified"]
    if req.value < bound.value:
        return [f"minimum {k} usage per {kind} is {bound}, but request is {req}"]
    if lim is not None and lim.value < bound.value:
        return [f"minimum {k} usage per {kind} is {bound}, but limit is {lim}"]
    return []


def _max_bound(kind: str, k: str, bound: Q, requests: ResourceList, limits: ResourceList) -> list[str]:
    req, lim = requests.get(k), limits.get(k)
    if lim is None:
        return [f"maximum {k} usage per {kind} is {bound}.  No limit is specified"]
    if lim.value > bound.value:
        return [f"maximum {k} usage per {kind} is {bound}, but limit is {lim}"]
    if req is not None and req.value > bound.value:
        return [f"maximum {k} usage per {kind} is {bound}, but request is {req}"]
    return []


def _ratio(kind: str, k: str, bound: Q, requests: ResourceList, limits: ResourceList) -> list[str]:
    req, lim = requests.get(k), limits.get(k)
    if req is None or req.value == 0:
        return [f"{k} max limit to request ratio per {kind} is {bound}, but no request is specified or "
                "request is 0"]
    if lim is None or lim.value == 0:
        return [f"{k} max limit to request ratio per {kind} is {bound}, but no limit is specified or limit is 0"]
    ratio = lim.value / req.value
    if ratio > bound.value:
        return [f"{k} max limit to request ratio per {kind} is {bound}, but provided ratio is {float(ratio):f}"]
    return []


def _sum_present(lists: list[ResourceList]) -> ResourceList:
    """Totals of the resources every container states (one container without it: no total)."""
    if not lists:
        return {}
    keys = set(lists[0]).intersection(*lists[1:])
    out: ResourceList = {}
    for k in keys:
        total = Q(Decimal(0))
        for rl in lists:
            total = total + rl[k]
        out[k] = total
    return out


def _max(a: ResourceList, b: ResourceList) -> ResourceList:
    out = dict(a)
    for k, v in b.items():
        if k not in out or v.value > out[k].value:
            out[k] = v
    return out


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))

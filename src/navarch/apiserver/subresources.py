"""POST subresources: pods/binding, pods/eviction, serviceaccounts/token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from navarch.api import errors
from navarch.apiserver import codec

if TYPE_CHECKING:
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI


async def create(api: "ResourceAPI", info: "RequestInfo") -> web.Response:
    from navarch.apiserver.handlers import _read_body

    r = info.resource
    body = await _read_body(info.request)
    obj = codec.decode_object(body, info.request.headers.get("Content-Type"))
    sub = info.subresource
    if r.plural == "pods" and sub == "binding":
        return await _bind(api, info, obj)
    if r.plural == "pods" and sub == "eviction":
        return await _evict(api, info, obj)
    if r.plural == "serviceaccounts" and sub == "token":
        raise errors.StatusError(
            501, "NotImplemented",
            "serviceaccounts/token is not supported by navarch yet: service-account tokens come with "
            "service-account authentication")
    raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")


async def _bind(api: "ResourceAPI", info: "RequestInfo", binding: dict[str, Any]) -> web.Response:
    from navarch.apiserver.handlers import now_rfc3339

    target = (binding.get("target") or {})
    node = target.get("name")
    if not node:
        raise errors.invalid("Binding", "", info.name or "", [errors.field_required("target.name")])

    def mutate(pod: dict[str, Any]) -> dict[str, Any]:
        spec = pod.setdefault("spec", {})
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", "", info.name or "", "pod is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise errors.conflict("pods", "", info.name or "",
                                  f"pod {info.name} is already assigned to node \"{spec['nodeName']}\"")
        spec["nodeName"] = node
        status = pod.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conds
        return pod

    sub = _plain(info)
    sub.subresource = "status"
    await api._update_with(sub, _keep_spec_node(mutate), precondition_from_body=False, retries=3)
    return api._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                     status=201)


def _keep_spec_node(mutate: Any) -> Any:
    # The status path copies spec from the stored pod; binding must change spec.nodeName too, so the
    # mutation's spec is carried across by marking it.
    def wrapped(pod: dict[str, Any]) -> dict[str, Any]:
        out = mutate(pod)
        out["metadata"]["__binding_node__"] = out["spec"]["nodeName"]
        return out
    return wrapped


def _plain(info: "RequestInfo") -> "RequestInfo":
    from navarch.apiserver.handlers import RequestInfo

    return RequestInfo(info.verb, info.resource, info.namespace, info.name, None, info.query,
                       info.request, info.user, info.warnings)


async def _evict(api: "ResourceAPI", info: "RequestInfo", eviction: dict[str, Any]) -> web.Response:
    """Eviction deletes the pod unless a PodDisruptionBudget forbids it (then 429, as upstream)."""
    from navarch.api.selectors import label_selector_from_object

    pod_entry = await api._get_current(info.resource, info.namespace, info.name or "")
    pod = pod_entry.obj
    labels = pod.get("metadata", {}).get("labels") or {}
    phase = (pod.get("status") or {}).get("phase")
    if phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
        pdb_cache = api.cache.cache_for("/registry/policy/poddisruptionbudgets/")
        for e in pdb_cache.items.values():
            pdb = e.obj
            if pdb["metadata"].get("namespace") != info.namespace:
                continue
            sel = (pdb.get("spec") or {}).get("selector")
            if not sel or not label_selector_from_object(sel).matches(labels):
                continue
            allowed = (pdb.get("status") or {}).get("disruptionsAllowed", 0)
            if allowed <= 0:
                err = errors.StatusError(
                    429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                    causes=[errors.Cause("DisruptionBudget",
                                         f"The disruption budget {pdb['metadata']['name']} needs "
                                         f"{(pdb.get('status') or {}).get('desiredHealthy', 0)} healthy pods and has "
                                         f"{(pdb.get('status') or {}).get('currentHealthy', 0)} currently")])
                raise err
    opts = dict(eviction.get("deleteOptions") or {})
    await api._delete_one(_plain(info), info.name or "", opts)
    return api._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                     status=201)

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
        from navarch.apiserver.tokens.tokenrequest import create_token

        return api._json(await create_token(api, info, obj), status=201, info=info)
    raise errors.StatusError(404, "NotFound", "the server could not find the requested resource")


async def _bind(api: "ResourceAPI", info: "RequestInfo", binding: dict[str, Any]) -> web.Response:
    """Assign a pod to a node: only ``spec.nodeName`` and the PodScheduled condition change, which
    ordinary pod updates may not do (upstream's binding storage writes them directly)."""
    from navarch.apiserver.handlers import now_rfc3339

    target = binding.get("target") or {}
    node = target.get("name")
    name = info.name or ""
    if not node:
        raise errors.invalid("Binding", "", name, [errors.field_required("target.name")])
    for attempt in range(5):
        cur = await api._get_current(info.resource, info.namespace, name)
        # The cached pod is read-only: copy only the parts this write changes (metadata gets its
        # resourceVersion rewritten by the store update), sharing the rest.
        pod = dict(cur.obj)
        pod["metadata"] = dict(pod.get("metadata") or {})
        want_uid = (binding.get("metadata") or {}).get("uid")
        if want_uid and want_uid != pod["metadata"].get("uid"):
            raise errors.conflict("pods", "", name, f"Precondition failed: UID in precondition: {want_uid}, "
                                                    f"UID in object meta: {pod['metadata'].get('uid')}")
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", "", name, "pod is being deleted, cannot be assigned to a host")
        spec = pod["spec"] = dict(pod.get("spec") or {})
        if spec.get("nodeName"):
            raise errors.conflict("pods", "", name, f"pod {name} is already assigned to node \"{spec['nodeName']}\"")
        spec["nodeName"] = node
        status = pod["status"] = dict(pod.get("status") or {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conds
        if api_dry_run(info):
            break
        try:
            await api._store_update(info.resource, pod, cur.revision)
            break
        except errors.StatusError as e:
            if e.reason != "Conflict" or attempt == 4:
                raise
    return api._json({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
                     status=201)


def api_dry_run(info: "RequestInfo") -> bool:
    from navarch.apiserver.handlers import _dry_run

    return _dry_run(info)


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
    # As upstream's canIgnorePDB: pods that are not running (or already going) need no budget.
    if phase not in ("Succeeded", "Failed", "Pending") and not pod["metadata"].get("deletionTimestamp"):
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

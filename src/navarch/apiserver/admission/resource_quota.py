"""ResourceQuota: a write that would take a namespace past one of its quotas is refused (403); one
that fits is charged to the quota's ``status.used`` before it is stored.

As upstream's quota evaluator: the charge is a compare-and-swap on the quota's resourceVersion, so
two creates racing for the last slot cannot both win: the loser re-reads and is checked again.
A quota the resourcequota controller has not filled in yet (no ``status.hard``) is filled in here,
from the API server's own cache, instead of refusing with "status unknown": a quota then works the
moment it exists. The controller recomputes usage from the objects, so usage falls when they go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from navarch.api import errors, quota
from navarch.api.quota import Q, ResourceList
from navarch.apiserver.admission import Attributes, forbidden
from navarch.apiserver.admission.access import ObjectAccess, access_of

NAME = "ResourceQuota"
RETRIES = 10
# Updates that can use more quota: a claim asking for more storage, a service turning LoadBalancer.
_CHARGED_UPDATES = (("", "persistentvolumeclaims"), ("", "services"))


def new() -> ResourceQuota:
    return ResourceQuota()


class ResourceQuota:
    """One per API server. Creates in one namespace are checked and charged one at a time (upstream
    batches them per namespace for the same reason): concurrent creates would otherwise all read
    the same usage and all but one lose the compare-and-swap. Across API servers the
    compare-and-swap alone keeps the count right."""

    NAME = NAME

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        # Quotas as this server last wrote them, until the watch cache shows that revision: the next
        # create then starts from the truth instead of a conflict.
        self._written: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}

    async def validate(self, a: Attributes) -> None:
        r = a.resource
        if a.subresource or a.obj is None or not r.namespaced or not a.namespace:
            return
        if a.operation == "UPDATE":
            if (r.group, r.plural) not in _CHARGED_UPDATES or a.old is None:
                return
        elif a.operation != "CREATE":
            return
        access = access_of(a)
        if access is None:
            return
        if not await access.list("", "resourcequotas", a.namespace):
            return
        lock = self._locks.setdefault(a.namespace, asyncio.Lock())
        async with lock:
            await self._charge(a, access)

    async def _charge(self, a: Attributes, access: ObjectAccess) -> None:
        r = a.resource
        assert a.obj is not None and a.namespace is not None
        delta = quota.usage(r.plural, r.group, a.obj)
        if a.operation == "UPDATE":
            assert a.old is not None
            delta = quota.subtract_non_negative(delta, quota.usage(r.plural, r.group, a.old))
        names = sorted(q["metadata"]["name"] for q in await access.list("", "resourcequotas", a.namespace))
        charged: set[str] = set()
        for _ in range(RETRIES):
            plans = []
            for name in names:
                if name in charged:
                    continue
                plan = await _check(a, access, await self._read(access, a.namespace, name), delta)
                if plan is not None:
                    plans.append((name, *plan))
            if a.dry_run:
                return
            for name, obj, revision in plans:
                written = await access.compare_and_swap("", "resourcequotas", a.namespace, obj, revision)
                if written is None:
                    self._written.pop((a.namespace, name), None)
                    break
                self._written[(a.namespace, name)] = (obj, written)
                charged.add(name)
            else:
                return
            await access.refresh()  # written by someone else meanwhile: check again on what they wrote
        raise errors.conflict("resourcequotas", "", next(n for n in names if n not in charged))

    async def _read(self, access: ObjectAccess, namespace: str, name: str) -> tuple[dict[str, Any], int] | None:
        got = await access.get("", "resourcequotas", namespace, name)
        mine = self._written.get((namespace, name))
        if mine is None:
            return got
        if got is None or got[1] >= mine[1]:
            del self._written[(namespace, name)]
            return got
        return mine


async def _check(a: Attributes, access: ObjectAccess, got: tuple[dict[str, Any], int] | None, delta: ResourceList
                 ) -> tuple[dict[str, Any], int] | None:
    """The quota's new state and the revision it replaces, if it admits ``delta``; None if it does not
    cover this object; 403 if the object does not fit."""
    if got is None:
        return None
    r = a.resource
    q, revision = got
    name = q["metadata"]["name"]
    spec_hard = quota.parse_list((q.get("spec") or {}).get("hard"))
    if not quota.matching_resources(spec_hard, r.plural, r.group):
        return None
    assert a.obj is not None
    if not quota.matches_scopes(q, r.plural, r.group, a.obj):
        return None
    status = q.get("status") or {}
    raw_hard = dict(status.get("hard") or {})
    hard = quota.parse_list(raw_hard)
    used = quota.parse_list(status.get("used"))
    if any(k not in hard or k not in used for k in spec_hard):
        raw_hard = dict((q.get("spec") or {}).get("hard") or {})
        hard = spec_hard
        used = await _current_usage(access, q, a.namespace or "")
    interesting = quota.matching_resources(hard, r.plural, r.group)
    if r.plural == "pods" and not r.group:
        missing = quota.missing_requests(a.obj, interesting)
        if missing:
            raise forbidden(a, f"failed quota: {name}: {missing}")
    requested = {k: v for k, v in delta.items() if k in interesting}
    if not requested or all(v.value == 0 for v in requested.values()):
        return None
    new_used = quota.add(used, requested)
    exceeded = sorted(k for k in requested if new_used[k].value > hard[k].value)
    if exceeded:
        raise forbidden(a, f"exceeded quota: {name}, requested: {quota.pretty(_mask(requested, exceeded))}, "
                           f"used: {quota.pretty(_mask(used, exceeded))}, limited: {quota.pretty(_mask(hard, exceeded))}")
    obj = {**q, "status": {"hard": raw_hard,
                           "used": quota.render_list({k: new_used.get(k, quota.ZERO) for k in hard})}}
    return obj, revision


def _mask(rl: Mapping[str, Q], keys: list[str]) -> ResourceList:
    return {k: rl.get(k, quota.ZERO) for k in keys}


async def _current_usage(access: ObjectAccess, q: Mapping[str, Any], namespace: str) -> ResourceList:
    hard = quota.parse_list((q.get("spec") or {}).get("hard"))
    objects = {(g, p): await access.list(g, p, namespace) for g, p in quota.kinds_of(hard)}
    return quota.compute_used(q, objects)

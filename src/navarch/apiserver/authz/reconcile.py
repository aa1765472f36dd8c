"""Creating and reconciling the default RBAC policy at API server start, as upstream's
``rbac/bootstrap-roles`` post-start hook does: missing objects are created; existing ones that keep
``rbac.authorization.kubernetes.io/autoupdate`` other than ``"false"`` get back any default rule,
subject, label, annotation or aggregation selector they lost (nothing a user added is removed).

Aggregated roles (admin, edit, view) are created with their rules already gathered, so they work
before the controller manager's clusterrole-aggregation controller first runs; after that the
controller owns their rules and reconciliation leaves them alone.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import orjson

from navarch.api.resources import REGISTRY
from navarch.apiserver.authz import bootstrappolicy as policy
from navarch.apiserver.authz.escalation import covers
from navarch.apiserver.authz.rules import compile_rules
from navarch.storage import KeyExists, RevisionConflict

if TYPE_CHECKING:
    from navarch.apiserver.handlers import ResourceAPI

log = logging.getLogger("navarch.apiserver.rbac")


def default_objects() -> list[tuple[str, dict[str, Any]]]:
    """(plural, object) for every default, aggregated roles' rules filled in."""
    roles = policy.cluster_roles()
    for _ in range(len(roles)):  # aggregated roles may gather aggregated roles (view -> edit -> admin)
        changed = False
        for role in roles:
            rules = policy.aggregate_rules(role, roles)
            if rules is not None and rules != role["rules"]:
                role["rules"] = rules
                changed = True
        if not changed:
            break
    out: list[tuple[str, dict[str, Any]]] = [("clusterroles", r) for r in roles]
    out += [("clusterrolebindings", b) for b in policy.cluster_role_bindings()]
    out += [("roles", r) for r in policy.namespace_roles()]
    out += [("rolebindings", b) for b in policy.namespace_role_bindings()]
    return out


def reconciled(plural: str, current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any] | None:
    """``current`` with whatever of ``wanted`` it lacks, or None when nothing is missing (or the
    object opted out of updates)."""
    meta = current.setdefault("metadata", {})
    if (meta.get("annotations") or {}).get(policy.AUTOUPDATE) == "false":
        return None
    changed = False
    for field in ("labels", "annotations"):
        have = meta.setdefault(field, {})
        for k, v in (wanted["metadata"].get(field) or {}).items():
            if k not in have:
                have[k] = v
                changed = True
    if plural in ("clusterroles", "roles"):
        want_agg = (wanted.get("aggregationRule") or {}).get("clusterRoleSelectors")
        if want_agg:
            agg = current.setdefault("aggregationRule", {})
            selectors = agg.setdefault("clusterRoleSelectors", [])
            for s in want_agg:
                if s not in selectors:
                    selectors.append(s)
                    changed = True
        else:
            have_rules = list(current.get("rules") or [])
            ok, _ = covers(list(compile_rules(have_rules)), compile_rules(wanted.get("rules")))
            if not ok:
                for r in wanted.get("rules") or ():
                    if r not in have_rules:
                        have_rules.append(r)
                current["rules"] = have_rules
                changed = True
    else:
        subjects: list[Any] = current.get("subjects") or []
        for s in wanted.get("subjects") or ():
            if s not in subjects:
                current["subjects"] = subjects
                subjects.append(s)
                changed = True
    return current if changed else None


async def ensure_default_policy(api: ResourceAPI) -> None:
    """Create or reconcile every default role and binding, straight in the store (the server's own
    writes need no admission)."""
    from navarch.apiserver.handlers import now_rfc3339

    created = updated = 0
    for plural, wanted in default_objects():
        r = REGISTRY.get(policy.RBAC, "v1", plural)
        assert r is not None
        meta = wanted["metadata"]
        key = REGISTRY.storage_resource(r).storage_key(meta.get("namespace"), meta["name"])
        for _attempt in range(3):
            kv = await api.store.get(key)
            if kv is None:
                obj = {**wanted, "metadata": {**meta, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339()}}
                try:
                    await api.store.create(key, orjson.dumps(obj))
                    created += 1
                except KeyExists:
                    continue
                break
            new = reconciled(plural, orjson.loads(kv.value), wanted)
            if new is None:
                break
            new["metadata"].pop("resourceVersion", None)
            try:
                await api.store.update(key, orjson.dumps(new), kv.mod_revision)
                updated += 1
                log.info("reconciled %s %s", r.kind, meta["name"])
            except RevisionConflict:
                continue
            break
    if created:
        log.info("created %d default RBAC roles and bindings", created)
    # Requests right after start are authorized from the watch cache: let it see the policy first.
    await api.cache.wait_fresh()
    del updated

"""RBAC's escalation prevention, as upstream's ``pkg/registry/rbac`` policy-based storage: a user may
only write a Role or ClusterRole whose rules it already holds (or with verb ``escalate`` on it), and
only bind a role whose rules it already holds (or with verb ``bind`` on it). Setting an
aggregationRule needs every permission (``*`` on everything), since it can gather anything.

Runs as a validating admission plugin, on the object as it will be stored (after a patch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from navarch.apiserver.authz.attributes import (
    resource_attributes,
    user_groups,
    user_name,
)
from navarch.apiserver.authz.authorizer import PRIVILEGED_GROUP, Authorizer
from navarch.apiserver.authz.decision import go_quote_list
from navarch.apiserver.authz.messages import new_forbidden
from navarch.apiserver.authz.rules import ALL, Rule, compile_rules

RBAC_GROUP = "rbac.authorization.k8s.io"
FULL_AUTHORITY = (Rule((ALL,), (ALL,), (ALL,)), Rule((ALL,), non_resource_urls=(ALL,)))


# ------------------------------------------------------------------- rule coverage (validation/rule.go)
def breakdown(rule: Rule) -> list[Rule]:
    """A rule as one-verb, one-group, one-resource (one-name) atoms."""
    out: list[Rule] = []
    for g in rule.api_groups:
        for r in rule.resources:
            for v in rule.verbs:
                if rule.resource_names:
                    out.extend(Rule((v,), (g,), (r,), (n,)) for n in rule.resource_names)
                else:
                    out.append(Rule((v,), (g,), (r,)))
    for u in rule.non_resource_urls:
        out.extend(Rule((v,), non_resource_urls=(u,)) for v in rule.verbs)
    return out


def _has_all(owner: Iterable[str], wanted: Iterable[str]) -> bool:
    s = set(owner)
    return all(w in s for w in wanted)


def _resources_cover(owner: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    if ALL in owner or _has_all(owner, wanted):
        return True
    for path in wanted:
        if path in owner:
            continue
        if "/" not in path or "*/" + path.split("/", 1)[1] not in owner:
            return False
    return True


def _url_covers(owner: str, sub: str) -> bool:
    return owner == sub or (owner.endswith("*") and sub.startswith(owner.rstrip("*")))


def rule_covers(owner: Rule, sub: Rule) -> bool:
    verbs = ALL in owner.verbs or _has_all(owner.verbs, sub.verbs)
    groups = ALL in owner.api_groups or _has_all(owner.api_groups, sub.api_groups)
    resources = _resources_cover(owner.resources, sub.resources)
    urls = all(any(_url_covers(o, u) for o in owner.non_resource_urls) for u in sub.non_resource_urls)
    if not sub.resource_names:
        names = not owner.resource_names
    else:
        names = not owner.resource_names or _has_all(owner.resource_names, sub.resource_names)
    return verbs and groups and resources and names and urls


def covers(owner: list[Rule], servant: Iterable[Rule]) -> tuple[bool, list[Rule]]:
    missing: list[Rule] = []
    for rule in servant:
        for atom in breakdown(rule):
            if not any(rule_covers(o, atom) for o in owner):
                missing.append(atom)
    return not missing, missing


def compact(rules: list[Rule]) -> list[Rule]:
    """Upstream's CompactRules: atoms that differ only by verb become one rule."""
    out: list[Rule] = []
    simple: dict[tuple[str, str, str | None], list[str]] = {}
    for r in rules:
        if len(r.resource_names) <= 1 and not r.non_resource_urls and len(r.api_groups) == 1 \
                and len(r.resources) == 1:
            key = (r.api_groups[0], r.resources[0], r.resource_names[0] if r.resource_names else None)
            verbs = simple.setdefault(key, [])
            verbs.extend(v for v in r.verbs if v not in verbs)
        else:
            out.append(r)
    for (g, res, name), verbs in simple.items():
        out.append(Rule(tuple(verbs), (g,), (res,), (name,) if name is not None else ()))
    return out


def compact_string(r: Rule) -> str:
    parts = []
    if r.api_groups:
        parts.append(f"APIGroups:{go_quote_list(r.api_groups)}")
    if r.resources:
        parts.append(f"Resources:{go_quote_list(r.resources)}")
    if r.non_resource_urls:
        parts.append(f"NonResourceURLs:{go_quote_list(r.non_resource_urls)}")
    if r.resource_names:
        parts.append(f"ResourceNames:{go_quote_list(r.resource_names)}")
    if r.verbs:
        parts.append(f"Verbs:{go_quote_list(r.verbs)}")
    return "{" + ", ".join(parts) + "}"


def no_escalation_error(authorizer: Authorizer, user: str, groups: tuple[str, ...], namespace: str,
                        rules: Iterable[Rule]) -> str:
    """Empty when the user holds every permission in ``rules`` (in ``namespace``), else upstream's
    "attempting to grant RBAC permissions not currently held" message."""
    owner: list[Rule] = []
    errs: list[str] = []
    if authorizer.rbac is not None:
        owner, errs = authorizer.rbac.rules_for(user, groups, namespace)
    ok, missing = covers(owner, rules)
    if ok:
        return ""
    shown = sorted({compact_string(r) for r in compact(missing)})
    msg = (f'user "{user}" (groups={go_quote_list(groups)}) is attempting to grant RBAC permissions '
           f"not currently held:\n" + "\n".join(shown))
    if errs:
        msg += f"; resolution errors: [{', '.join(errs)}]"
    return msg


# ------------------------------------------------------------------- the admission plugin
class RBACEscalationCheck:
    """A validating admission plugin bound to the server's authorizer."""

    NAME = "RBACEscalation"

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def validate(self, attrs: Any) -> None:
        r = attrs.resource
        if r.group != RBAC_GROUP or attrs.subresource or attrs.operation not in ("CREATE", "UPDATE"):
            return
        user = attrs.user
        if not isinstance(user, Mapping):
            return  # the server's own writes
        name, groups = user_name(user), user_groups(user)
        if PRIVILEGED_GROUP in groups:
            return
        obj, old = attrs.obj or {}, attrs.old
        if r.plural in ("roles", "clusterroles"):
            self._check_role(r.plural, attrs, name, groups, obj, old)
        elif r.plural in ("rolebindings", "clusterrolebindings"):
            self._check_binding(r.plural, attrs, name, groups, obj, old)

    def _check_role(self, plural: str, attrs: Any, user: str, groups: tuple[str, ...], obj: dict[str, Any],
                    old: dict[str, Any] | None) -> None:
        if old is not None and _same(obj, old, ("rules", "aggregationRule")):
            return
        namespace = attrs.namespace or ""
        escalate = resource_attributes(user, groups, "escalate", group=RBAC_GROUP, resource=plural,
                                       namespace=namespace, name=attrs.name if old is not None else "")
        if self.authorizer.allowed(escalate):
            return
        obj_name = (obj.get("metadata") or {}).get("name", "")
        err = no_escalation_error(self.authorizer, user, groups, namespace, compile_rules(obj.get("rules")))
        if err:
            raise new_forbidden(plural, RBAC_GROUP, obj_name, err)
        aggregates = obj.get("aggregationRule") or (old or {}).get("aggregationRule")
        if plural == "clusterroles" and aggregates and \
                no_escalation_error(self.authorizer, user, groups, namespace, FULL_AUTHORITY):
            raise new_forbidden(plural, RBAC_GROUP, obj_name,
                                "must have cluster-admin privileges to use the aggregationRule")

    def _check_binding(self, plural: str, attrs: Any, user: str, groups: tuple[str, ...], obj: dict[str, Any],
                       old: dict[str, Any] | None) -> None:
        if old is not None and _same(obj, old, ("roleRef", "subjects")):
            return
        namespace = attrs.namespace or ""
        ref = obj.get("roleRef") or {}
        kind = ref.get("kind")
        obj_name = (obj.get("metadata") or {}).get("name", "")
        if kind in ("Role", "ClusterRole"):
            bind = resource_attributes(user, groups, "bind", group=str(ref.get("apiGroup") or ""),
                                       resource="roles" if kind == "Role" else "clusterroles",
                                       namespace=namespace, name=str(ref.get("name") or ""))
            if self.authorizer.allowed(bind):
                return
        rules, err = self._role_rules(ref, namespace)
        if rules is None:
            raise new_forbidden(plural, RBAC_GROUP, obj_name, err)
        err = no_escalation_error(self.authorizer, user, groups, namespace, rules)
        if err:
            raise new_forbidden(plural, RBAC_GROUP, obj_name, err)

    def _role_rules(self, ref: Mapping[str, Any], namespace: str) -> tuple[tuple[Rule, ...] | None, str]:
        from navarch.apiserver.authz.rbac import Binding, PolicyIndex

        idx = self.authorizer.rbac.index if self.authorizer.rbac is not None else PolicyIndex()
        probe = Binding("RoleBinding", "", namespace, str(ref.get("kind") or ""), str(ref.get("name") or ""), ())
        return idx.role_rules(probe)


def _same(a: Mapping[str, Any], b: Mapping[str, Any], fields: tuple[str, ...]) -> bool:
    return all(a.get(f) == b.get(f) for f in fields)

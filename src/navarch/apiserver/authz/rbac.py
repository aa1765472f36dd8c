"""The RBAC authorizer: Roles, ClusterRoles and their bindings, evaluated as upstream's
``plugin/pkg/auth/authorizer/rbac`` and ``pkg/registry/rbac/validation/rule.go`` evaluate them.

A request is allowed when some rule of a role bound to the user (by name, by one of its groups, or
as a service account) allows it; ClusterRoleBindings apply everywhere, RoleBindings in their own
namespace (a ServiceAccount subject without a namespace means the binding's). RBAC never denies:
it allows or has no opinion.

Cost: the bindings are indexed by subject (user name, group name), rebuilt when the policy's
generation moves; decisions are cached per (user, groups, attributes) and the cache is dropped on
any RBAC change, so a repeated check is one generation comparison and one dict lookup.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

from navarch.apiserver.authz.attributes import Attributes
from navarch.apiserver.authz.decision import (
    ALLOW,
    NO_OPINION,
    Decision,
    aggregate,
    go_quote,
)
from navarch.apiserver.authz.policysource import PolicySource
from navarch.apiserver.authz.rules import Rule, compile_rules, rule_allows

SA_PREFIX = "system:serviceaccount:"
# Bounds the decision cache: object names make the key space open-ended (every pod's get), and
# dropping everything now and then is cheaper than an LRU's bookkeeping on every hit.
MAX_CACHED_DECISIONS = 50_000


def service_account_user(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


@dataclass(frozen=True, slots=True)
class Binding:
    kind: str  # ClusterRoleBinding | RoleBinding
    name: str
    namespace: str
    role_kind: str
    role_name: str
    subjects: tuple[dict[str, Any], ...]

    def describe(self, subject_index: int) -> str:
        """Upstream's ``clusterRoleBindingDescriber`` / ``roleBindingDescriber``."""
        s = self.subjects[subject_index]
        kind, name = str(s.get("kind") or ""), str(s.get("name") or "")
        if kind == "ServiceAccount":
            subject = f"{kind} {go_quote(name + '/' + (s.get('namespace') or self.namespace))}"
        else:
            subject = f"{kind} {go_quote(name)}"
        shown = self.name if self.kind == "ClusterRoleBinding" else f"{self.name}/{self.namespace}"
        return f"{self.kind} {go_quote(shown)} of {self.role_kind} {go_quote(self.role_name)} to {subject}"


@dataclass(slots=True)
class _Subjects:
    """Bindings by the subject they name: (binding, index of that subject in the binding)."""

    by_user: dict[str, list[tuple[Binding, int]]] = field(default_factory=dict)
    by_group: dict[str, list[tuple[Binding, int]]] = field(default_factory=dict)

    def add(self, b: Binding, binding_namespace: str) -> None:
        for i, s in enumerate(b.subjects):
            kind, name = s.get("kind"), str(s.get("name") or "")
            if kind == "User":
                self.by_user.setdefault(name, []).append((b, i))
            elif kind == "Group":
                self.by_group.setdefault(name, []).append((b, i))
            elif kind == "ServiceAccount":
                ns = s.get("namespace") or binding_namespace
                if ns:
                    self.by_user.setdefault(service_account_user(ns, name), []).append((b, i))

    def matching(self, user: str, groups: tuple[str, ...]) -> list[tuple[Binding, int]]:
        """The bindings that apply, each with its first subject that matches, in name order."""
        found: dict[int, tuple[Binding, int]] = {}
        for entry in self.by_user.get(user, ()):
            _keep_first(found, entry)
        for g in groups:
            for entry in self.by_group.get(g, ()):
                _keep_first(found, entry)
        return sorted(found.values(), key=lambda e: e[0].name)


def _keep_first(found: dict[int, tuple[Binding, int]], entry: tuple[Binding, int]) -> None:
    key = id(entry[0])
    have = found.get(key)
    if have is None or entry[1] < have[1]:
        found[key] = entry


@dataclass(slots=True)
class PolicyIndex:
    cluster_roles: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict)
    cluster: _Subjects = field(default_factory=_Subjects)
    namespaced: dict[str, _Subjects] = field(default_factory=dict)

    @classmethod
    def build(cls, source: PolicySource) -> PolicyIndex:
        idx = cls()
        for o in source.objects("clusterroles"):
            idx.cluster_roles[_meta(o).get("name", "")] = compile_rules(o.get("rules"))
        for o in source.objects("roles"):
            m = _meta(o)
            idx.roles[(m.get("namespace", ""), m.get("name", ""))] = compile_rules(o.get("rules"))
        for o in source.objects("clusterrolebindings"):
            idx.cluster.add(_binding("ClusterRoleBinding", o), "")
        for o in source.objects("rolebindings"):
            b = _binding("RoleBinding", o)
            idx.namespaced.setdefault(b.namespace, _Subjects()).add(b, b.namespace)
        return idx

    def role_rules(self, b: Binding) -> tuple[tuple[Rule, ...] | None, str]:
        """The rules a binding's roleRef grants, or an error as upstream's GetRoleReferenceRules words it."""
        if b.role_kind == "ClusterRole":
            rules = self.cluster_roles.get(b.role_name)
            return (rules, "") if rules is not None else \
                (None, f'clusterrole.rbac.authorization.k8s.io {go_quote(b.role_name)} not found')
        if b.role_kind == "Role":
            rules = self.roles.get((b.namespace, b.role_name))
            return (rules, "") if rules is not None else \
                (None, f'role.rbac.authorization.k8s.io {go_quote(b.role_name)} not found')
        return None, f"unsupported role reference kind: {go_quote(b.role_kind)}"


def _meta(o: dict[str, Any]) -> dict[str, Any]:
    return o.get("metadata") or {}


def _binding(kind: str, o: dict[str, Any]) -> Binding:
    m, ref = _meta(o), o.get("roleRef") or {}
    subjects = tuple(s for s in (o.get("subjects") or ()) if isinstance(s, dict))
    return Binding(kind, str(m.get("name") or ""), str(m.get("namespace") or ""), str(ref.get("kind") or ""),
                   str(ref.get("name") or ""), subjects)


@dataclass(frozen=True, slots=True)
class Grant:
    """The rules one applicable binding grants, with upstream's description of where they come from."""

    source: str
    rules: tuple[Rule, ...]


class RBACAuthorizer:
    def __init__(self, source: PolicySource) -> None:
        self.source = source
        self._generation: Hashable = object()
        self._index = PolicyIndex()
        self._decisions: dict[tuple[Any, ...], Decision] = {}
        self._grants: dict[tuple[Any, ...], tuple[list[Grant], list[str]]] = {}

    @property
    def index(self) -> PolicyIndex:
        self._refresh()
        return self._index

    def _refresh(self) -> None:
        g = self.source.generation()
        if g != self._generation:
            self._index = PolicyIndex.build(self.source)
            self._decisions = {}
            self._grants = {}
            self._generation = g

    def grants(self, user: str, groups: tuple[str, ...], namespace: str) -> tuple[list[Grant], list[str]]:
        """Every applicable binding's rules (ClusterRoleBindings, then the namespace's RoleBindings)
        and the errors met resolving them (missing roles)."""
        self._refresh()
        key = (user, groups, namespace)
        found = self._grants.get(key)
        if found is not None:
            return found
        idx = self._index
        out: list[Grant] = []
        errs: list[str] = []
        scopes = [idx.cluster]
        if namespace and namespace in idx.namespaced:
            scopes.append(idx.namespaced[namespace])
        for scope in scopes:
            for b, i in scope.matching(user, groups):
                rules, err = idx.role_rules(b)
                if rules is None:
                    errs.append(err)
                    continue
                out.append(Grant(b.describe(i), rules))
        self._grants[key] = (out, errs)
        return out, errs

    def authorize(self, a: Attributes) -> Decision:
        self._refresh()
        key = a.decision_key()
        hit = self._decisions.get(key)
        if hit is not None:
            return hit
        decision = self._evaluate(a)
        if len(self._decisions) >= MAX_CACHED_DECISIONS:
            self._decisions = {}
        self._decisions[key] = decision
        return decision

    def _evaluate(self, a: Attributes) -> Decision:
        grants, errs = self.grants(a.user, a.groups, a.namespace)
        for g in grants:
            for rule in g.rules:
                if rule_allows(a, rule):
                    return ALLOW, f"RBAC: allowed by {g.source}"
        # Upstream reports only the errors met before the decision; with no allow, that is all.
        return NO_OPINION, ("RBAC: " + aggregate(errs)) if errs else ""

    def rules_for(self, user: str, groups: tuple[str, ...], namespace: str) -> tuple[list[Rule], list[str]]:
        grants, errs = self.grants(user, groups, namespace)
        return [r for g in grants for r in g.rules], errs

"""The authorizer chain the API server asks: ``system:masters`` first, then the configured modes in
order (``--authorization-mode``, default ``Node,RBAC``), the first Allow or Deny winning, as
upstream's union authorizer. Also the union rule resolver behind SelfSubjectRulesReview.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from navarch.apiserver.authz.attributes import Attributes
from navarch.apiserver.authz.decision import (
    ALLOW,
    DENY,
    NO_OPINION,
    Decision,
    aggregate,
)
from navarch.apiserver.authz.node import NodeAuthorizer, node_identity
from navarch.apiserver.authz.rbac import RBACAuthorizer
from navarch.apiserver.authz.rules import Rule

if TYPE_CHECKING:
    from navarch.apiserver.authz.policysource import PolicySource
    from navarch.apiserver.watchcache import WatchCache

PRIVILEGED_GROUP = "system:masters"
MODES = ("AlwaysAllow", "AlwaysDeny", "Node", "RBAC")
_EVERYTHING = (Rule(("*",), ("*",), ("*",)), Rule(("*",), non_resource_urls=("*",)))


class Mode(Protocol):
    def authorize(self, a: Attributes) -> Decision: ...


class _AlwaysAllow:
    def authorize(self, a: Attributes) -> Decision:
        return ALLOW, ""


class _AlwaysDeny:
    def authorize(self, a: Attributes) -> Decision:
        return DENY, "Everything is forbidden."


@dataclass
class RulesResult:
    resource_rules: list[Rule] = field(default_factory=list)
    non_resource_rules: list[Rule] = field(default_factory=list)
    incomplete: bool = False
    error: str = ""


def parse_modes(spec: str) -> list[str]:
    modes = [m.strip() for m in spec.split(",") if m.strip()]
    if not modes:
        raise ValueError("at least one authorization mode must be passed")
    for m in modes:
        if m not in MODES:
            raise ValueError(f"authorization mode {m!r} is not supported; supported: {', '.join(MODES)}")
    if len(set(modes)) != len(modes):
        raise ValueError(f"authorization modes may not be repeated: {spec}")
    return modes


class Authorizer:
    def __init__(self, modes: list[str], rbac: RBACAuthorizer | None = None,
                 node: NodeAuthorizer | None = None) -> None:
        self.modes = modes
        self.rbac = rbac
        self.node = node
        chain: list[Mode] = []
        for m in modes:
            if m == "AlwaysAllow":
                chain.append(_AlwaysAllow())
            elif m == "AlwaysDeny":
                chain.append(_AlwaysDeny())
            elif m == "RBAC":
                assert rbac is not None
                chain.append(rbac)
            elif m == "Node":
                assert node is not None
                chain.append(node)
        self._chain = tuple(chain)

    def authorize(self, a: Attributes) -> Decision:
        if PRIVILEGED_GROUP in a.groups:
            return ALLOW, ""
        reasons: list[str] = []
        for mode in self._chain:
            decision, reason = mode.authorize(a)
            if decision != NO_OPINION:
                return decision, reason
            if reason:
                reasons.append(reason)
        return NO_OPINION, "\n".join(reasons)

    def allowed(self, a: Attributes) -> bool:
        return self.authorize(a)[0] == ALLOW

    def rules_for(self, user: str, groups: tuple[str, ...], namespace: str) -> RulesResult:
        """What the user may do in a namespace, as far as the modes can enumerate it."""
        out = RulesResult()
        errors: list[str] = []
        for m in self.modes:
            rules: list[Rule] = []
            if m == "AlwaysAllow":
                rules = list(_EVERYTHING)
            elif m == "Node" and node_identity(user, groups)[1]:
                out.incomplete = True
                errors.append("node authorizer does not support user rule resolution")
            elif m == "RBAC" and self.rbac is not None:
                rules, errs = self.rbac.rules_for(user, groups, namespace)
                errors.extend(errs)
            # Each half of a rule that names both (which RBAC validation allows) is listed alone.
            for r in rules:
                if r.resources:
                    out.resource_rules.append(replace(r, non_resource_urls=()))
                if r.non_resource_urls:
                    out.non_resource_rules.append(replace(r, api_groups=(), resources=(),
                                                                      resource_names=()))
        if errors:
            out.error = aggregate(errors)
        return out


def new_authorizer(mode_spec: str, cache: WatchCache, policy: PolicySource | None = None) -> Authorizer:
    """The chain for ``--authorization-mode``, reading policy and pods from the API's watch cache."""
    from navarch.apiserver.authz import bootstrappolicy
    from navarch.apiserver.authz.nodegraph import WatchCacheGraphFeed
    from navarch.apiserver.authz.policysource import WatchCachePolicySource

    modes = parse_modes(mode_spec)
    rbac = RBACAuthorizer(policy or WatchCachePolicySource(cache)) if "RBAC" in modes else None
    node = None
    if "Node" in modes:
        feed = WatchCacheGraphFeed(cache)
        node = NodeAuthorizer(feed.related, bootstrappolicy.node_rules())
    return Authorizer(modes, rbac, node)

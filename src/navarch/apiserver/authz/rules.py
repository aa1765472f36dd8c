"""PolicyRule matching, as upstream's ``rbac.RuleAllows`` and ``rbacv1helpers`` match them.

Rules arrive as JSON dicts (``verbs``, ``apiGroups``, ``resources``, ``resourceNames``,
``nonResourceURLs``); ``Rule`` keeps the lists as written (for rules reviews and escalation
messages) and sets for matching, built once per index rebuild rather than per request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from navarch.apiserver.authz.attributes import Attributes

ALL = "*"


@dataclass(frozen=True, slots=True)
class Rule:
    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        def t(key: str) -> tuple[str, ...]:
            return tuple(str(x) for x in (d.get(key) or ()))
        return cls(t("verbs"), t("apiGroups"), t("resources"), t("resourceNames"), t("nonResourceURLs"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verbs": list(self.verbs)}
        if self.api_groups:
            out["apiGroups"] = list(self.api_groups)
        if self.resources:
            out["resources"] = list(self.resources)
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        if self.non_resource_urls:
            out["nonResourceURLs"] = list(self.non_resource_urls)
        return out


def compile_rules(rules: Iterable[Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    return tuple(Rule.from_dict(r) for r in (rules or ()) if isinstance(r, Mapping))


def verb_matches(rule: Rule, verb: str) -> bool:
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    """``*``, an exact ``resource`` or ``resource/subresource``, or ``*/subresource``."""
    for r in rule.resources:
        if r == ALL or r == combined:
            return True
        if subresource and len(r) == len(subresource) + 2 and r.startswith("*/") and r.endswith(subresource):
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    """A rule naming objects matches only requests that name one of them: a list, or a create of a
    new object (which has no name yet), never matches it, as upstream."""
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    for u in rule.non_resource_urls:
        if u == ALL or u == path:
            return True
        if u.endswith("*") and path.startswith(u.rstrip("*")):
            return True
    return False


def rule_allows(a: Attributes, rule: Rule) -> bool:
    if not verb_matches(rule, a.verb):
        return False
    if not a.resource_request:
        return non_resource_url_matches(rule, a.path)
    combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    return (api_group_matches(rule, a.api_group) and resource_matches(rule, combined, a.subresource)
            and resource_name_matches(rule, a.name))


def rules_allow(a: Attributes, rules: Iterable[Rule]) -> bool:
    return any(rule_allows(a, r) for r in rules)

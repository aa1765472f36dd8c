"""Matching rules several plugins share: tolerations against taints, node selectors against nodes.

Upstream: k8s.io/api/core/v1 toleration.go, component-helpers scheduling/corev1 and nodeaffinity.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from navarch.scheduler.framework.types import NodeInfo
from navarch.scheduler.framework.interface import NodeScore


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerated(taint: Mapping[str, Any], tolerations: Iterable[Mapping[str, Any]]) -> bool:
    return any(tolerates(t, taint) for t in tolerations)


def find_untolerated_taint(taints: Iterable[Mapping[str, Any]], tolerations: list[Mapping[str, Any]],
                           effects: tuple[str, ...]) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    for taint in taints:
        if taint.get("effect") in effects and not tolerated(taint, tolerations):
            return taint
    return None


def _requirement_matches(req: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key = req.get("key") or ""
    op = req.get("operator") or ""
    vals = req.get("values") or []
    if op == "In":
        return key in values and values[key] in vals
    if op == "NotIn":
        return key not in values or values[key] not in vals
    if op == "Exists":
        return key in values
    if op == "DoesNotExist":
        return key not in values
    if op in ("Gt", "Lt"):
        if key not in values or len(vals) != 1:
            return False
        try:
            have, want = int(values[key]), int(vals[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def node_selector_term_matches(term: Mapping[str, Any], node: NodeInfo) -> bool:
    """ANDed expressions on labels and fields (only ``metadata.name``); an empty term matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    labels = node.labels
    for req in exprs:
        if not _requirement_matches(req, labels):
            return False
    if fields:
        node_fields = {"metadata.name": node.name}
        for req in fields:
            if req.get("key") != "metadata.name" or not _requirement_matches(req, node_fields):
                return False
    return True


def node_selector_matches(selector: Mapping[str, Any] | None, node: NodeInfo) -> bool:
    """A NodeSelector: its terms are ORed."""
    if selector is None:
        return True
    return any(node_selector_term_matches(t, node) for t in selector.get("nodeSelectorTerms") or [])


def required_node_affinity_matches(spec: Mapping[str, Any], node: NodeInfo) -> bool:
    """``nodeSelector`` and required node affinity together (upstream RequiredNodeAffinity.Match)."""
    ns = spec.get("nodeSelector")
    if ns:
        labels = node.labels
        for k, v in ns.items():
            if labels.get(k) != v:
                return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    return node_selector_matches(required, node)


def default_normalize_score(max_priority: int, reverse: bool, scores: list[NodeScore]) -> None:
    """Upstream helper.DefaultNormalizeScore: scale to [0, max] by the highest score, maybe reversed."""
    top = max((s.score for s in scores), default=0)
    if top == 0:
        if reverse:
            for s in scores:
                s.score = max_priority
        return
    for s in scores:
        v = max_priority * s.score // top
        s.score = max_priority - v if reverse else v



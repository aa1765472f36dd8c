"""LabelSelector syntax (metav1 ValidateLabelSelector) and matching, for selector/template checks."""

from __future__ import annotations

from typing import Any

from navarch.api import errors
from navarch.api.errors import Cause
from navarch.api.validation import names
from navarch.api.validation.objectmeta import validate_labels

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(sel: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(sel, dict):
        return out
    for i, req in enumerate(sel.get("matchExpressions") or []):
        p = f"{path}.matchExpressions[{i}]"
        op = req.get("operator") or ""
        values = req.get("values") or []
        if op in ("In", "NotIn"):
            if not values:
                out.append(errors.field_required(f"{p}.values",
                                                 "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist"):
            if values:
                out.append(errors.field_forbidden(f"{p}.values",
                                                  "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        else:
            out.append(errors.field_invalid(f"{p}.operator", op, "not a valid selector operator"))
        key = req.get("key") or ""
        for msg in names.is_qualified_name(key):
            out.append(errors.field_invalid(f"{p}.key", key, msg))
        for j, v in enumerate(values):
            for msg in names.is_valid_label_value(v if isinstance(v, str) else ""):
                out.append(errors.field_invalid(f"{p}.values[{j}]", v, msg))
    out += validate_labels(sel.get("matchLabels"), f"{path}.matchLabels")
    return out


def is_empty(sel: Any) -> bool:
    return not sel or not (sel.get("matchLabels") or sel.get("matchExpressions"))


def matches(sel: Any, labels: Any) -> bool:
    """Whether a LabelSelector selects ``labels`` (an empty selector selects everything)."""
    labels = labels or {}
    sel = sel or {}
    for k, v in (sel.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for req in sel.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), req.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in _OPERATORS:
            return False
    return True

"""Decisions and the small formatting helpers every authorizer shares."""

from __future__ import annotations

import json
from collections.abc import Iterable

ALLOW = "Allow"
DENY = "Deny"
NO_OPINION = "NoOpinion"

Decision = tuple[str, str]  # (ALLOW | DENY | NO_OPINION, reason)


def go_quote(s: str) -> str:
    """A string as Go's ``%q`` prints it (upstream's messages quote names that way)."""
    return json.dumps(s, ensure_ascii=False)


def go_quote_list(items: Iterable[str]) -> str:
    """A ``[]string`` as Go's ``%q`` prints it: ``["a" "b"]``."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def aggregate(messages: list[str]) -> str:
    """Several errors as one message, as apimachinery's ``utilerrors.NewAggregate`` prints them:
    one alone, else ``[a, b]`` with duplicates dropped."""
    if len(messages) == 1:
        return messages[0]
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"

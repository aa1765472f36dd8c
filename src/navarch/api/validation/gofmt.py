"""Values rendered the way Go's ``%#v`` renders them in upstream's ``Invalid value: ...`` messages.

Upstream formats a cause's value with ``%#v`` when it is neither a scalar nor a Stringer, so clients
see ``map[string]string{"app":"web"}`` or ``v1.LabelSelector{...}``. Only the shapes that commonly
appear in messages users read are covered.
"""

from __future__ import annotations

import json
from typing import Any


def _q(s: Any) -> str:
    return json.dumps(str(s))


def string_map(m: Any) -> str:
    if not m:
        return "map[string]string(nil)"
    body = ", ".join(f"{_q(k)}:{_q(v)}" for k, v in sorted(m.items()))
    return f"map[string]string{{{body}}}"


def string_list(items: Any) -> str:
    if items is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_q(i) for i in items) + "}"


def label_selector(sel: Any) -> str:
    sel = sel or {}
    exprs = sel.get("matchExpressions")
    if exprs:
        shown = ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{_q(e.get('key', ''))}, Operator:{_q(e.get('operator', ''))}, "
            f"Values:{string_list(e.get('values'))}}}" for e in exprs)
        expr_text = f"[]v1.LabelSelectorRequirement{{{shown}}}"
    else:
        expr_text = "[]v1.LabelSelectorRequirement(nil)"
    return f"v1.LabelSelector{{MatchLabels:{string_map(sel.get('matchLabels'))}, MatchExpressions:{expr_text}}}"


def go_field_name(json_name: str) -> str:
    """``restartPolicy`` -> ``RestartPolicy``, ``nodeName`` -> ``NodeName`` (the common case)."""
    special = {"hostIPC": "HostIPC", "hostPID": "HostPID", "dnsPolicy": "DNSPolicy", "dnsConfig": "DNSConfig"}
    return special.get(json_name, json_name[:1].upper() + json_name[1:])


def struct_diff(type_name: str, old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short cmp.Diff-shaped rendering of which top-level fields differ (upstream appends the full
    ``cmp.Diff`` of the Go structs; its exact text depends on Go internals, so only its shape is kept)."""
    lines = [f"  {type_name}{{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        name = go_field_name(key)
        if key in old:
            lines.append(f"- \t{name}: {json.dumps(old[key], separators=(',', ':'), sort_keys=True)},")
        if key in new:
            lines.append(f"+ \t{name}: {json.dumps(new[key], separators=(',', ':'), sort_keys=True)},")
    lines.append("  }")
    return "\n".join(lines) + "\n"

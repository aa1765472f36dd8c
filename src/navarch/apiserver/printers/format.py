"""Cell formatting shared by every printer, matching what upstream's printers write.

Times: ``human_duration`` is apimachinery's ``duration.HumanDuration`` (two or three significant
figures: ``90s``, ``3m2s``, ``2d3h``); ``since`` is upstream's ``translateTimestampSince``.
Selectors and label maps print as ``labels.FormatLabels`` / ``metav1.FormatLabelSelector`` do.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

UNKNOWN = "<unknown>"
NONE = "<none>"
_ZERO_TIME_PREFIX = "0001-01-01T00:00:00"


def human_duration(seconds: float) -> str:
    """apimachinery HumanDuration: up to 2s in the future reads as ``0s`` (clock skew), more is ``<invalid>``."""
    s = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


def epoch(ts: Any) -> float | None:
    """Seconds since the epoch of an RFC 3339 timestamp (Time or MicroTime); None when unset or zero."""
    if not ts or not isinstance(ts, str):
        return None
    return _parse(ts)


# Objects created together share their timestamps (a rollout, a bulk create), so a small memo of this
# pure parse saves most of the cost of a big table.
@functools.lru_cache(maxsize=4096)
def _parse(ts: str) -> float | None:
    if ts.startswith(_ZERO_TIME_PREFIX):
        return None
    try:
        t = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def now_epoch(now: datetime | None) -> float:
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


def since(ts: Any, now: float) -> str:
    """Age of a timestamp, ``<unknown>`` when unset (upstream translateTimestampSince)."""
    t = epoch(ts)
    if t is None:
        return UNKNOWN
    return human_duration(now - t)


def age(obj: dict[str, Any], now: float) -> str:
    meta = obj.get("metadata") or {}
    return since(meta.get("creationTimestamp"), now)


def rfc3339(ts: Any) -> str:
    """A Time as Go prints ``Time.UTC().Format(time.RFC3339)`` (whole seconds, ``Z``)."""
    t = epoch(ts)
    if t is None:
        return "0001-01-01T00:00:00Z"
    return datetime.fromtimestamp(int(t // 1), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_labels(labels: dict[str, Any] | None) -> str:
    """labels.FormatLabels: ``k=v`` sorted by key, ``<none>`` when empty."""
    if not labels:
        return NONE
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(selector: dict[str, Any] | None) -> str | None:
    """metav1.LabelSelectorAsSelector(...).String(); None when the selector is invalid.

    A nil or empty selector prints as an empty string; requirements are ordered by key and the values
    of ``in``/``notin`` are sorted, as upstream normalises them.
    """
    if not selector:
        return ""
    reqs: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for expr in selector.get("matchExpressions") or ():
        key = expr.get("key", "")
        op = expr.get("operator")
        values = sorted(expr.get("values") or ())
        if op == "In":
            if not values:
                return None
            reqs.append((key, f"{key} in ({','.join(values)})"))
        elif op == "NotIn":
            if not values:
                return None
            reqs.append((key, f"{key} notin ({','.join(values)})"))
        elif op == "Exists":
            reqs.append((key, key))
        elif op == "DoesNotExist":
            reqs.append((key, "!" + key))
        else:
            return None
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def format_label_selector(selector: dict[str, Any] | None) -> str:
    """metav1.FormatLabelSelector: ``<none>`` for an empty selector, ``<error>`` for an invalid one."""
    s = selector_string(selector)
    if s is None:
        return "<error>"
    return s or NONE


def container_cells(pod_spec: dict[str, Any] | None) -> tuple[str, str]:
    """Container names and images of a pod spec, each comma-joined (upstream layoutContainerCells)."""
    containers = (pod_spec or {}).get("containers") or ()
    return (",".join(c.get("name", "") for c in containers),
            ",".join(c.get("image", "") for c in containers))


def template_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """``spec.template.spec`` of a workload, or an empty dict."""
    template = (obj.get("spec") or {}).get("template") or {}
    return template.get("spec") or {}


def list_with_more(items: list[str], count: int, limit: int, empty: str = "<unset>") -> str:
    """Upstream listWithMoreString: the first ``limit`` items, then `` + N more...``."""
    joined = ",".join(items[:limit])
    if count > limit:
        return f"{joined} + {count - limit} more..."
    return joined or empty


def quantity(value: Any) -> str:
    """A resource quantity as text; quantities arrive canonical from the store, missing ones read ``0``."""
    if value is None:
        return "0"
    return str(value)


def int_or_string(value: Any) -> str:
    return str(value)


def bool_word(value: Any) -> str:
    """Upstream printBoolPtr: ``True``/``False``, ``<unset>`` when absent."""
    if value is None:
        return "<unset>"
    return "True" if value else "False"


def condition_true(conditions: Any, ctype: str) -> bool:
    """Whether the first condition of ``ctype`` has status True."""
    for c in conditions or ():
        if c.get("type") == ctype:
            return bool(c.get("status") == "True")
    return False


def join_host_port(host: str, port: Any) -> str:
    """net.JoinHostPort: brackets around IPv6 addresses."""
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def ingress_addresses(lb_status: dict[str, Any] | None) -> str:
    """Unique load-balancer IPs (or hostnames), sorted; server-side tables are wide, so never clipped."""
    seen: set[str] = set()
    for ing in (lb_status or {}).get("ingress") or ():
        addr = ing.get("ip") or ing.get("hostname")
        if addr:
            seen.add(addr)
    return ",".join(sorted(seen))

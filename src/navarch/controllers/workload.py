"""Pod and object helpers shared by the workload controllers (StatefulSet, DaemonSet, Job, CronJob).

They read plain object dicts the way upstream's ``podutil`` and ``controller`` helpers read typed
objects, so the same readiness and availability rules apply everywhere.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

Obj = Mapping[str, Any]

PENDING, RUNNING, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"


def meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def timestamp(t: datetime) -> str:
    """RFC 3339 with second precision, as metav1.Time serialises."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(value)  # 3.11 reads "Z"
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def phase(pod: Obj) -> str:
    return str(status(pod).get("phase") or "")


def is_terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in (SUCCEEDED, FAILED)


def is_active(pod: Obj) -> bool:
    """Neither finished nor being deleted (upstream controller.IsPodActive)."""
    return not is_terminal(pod) and not is_terminating(pod)


def condition(obj: Obj, type_: str) -> Mapping[str, Any] | None:
    for c in status(obj).get("conditions") or []:
        if c.get("type") == type_:
            return c
    return None


def has_true_condition(obj: Obj, type_: str) -> bool:
    c = condition(obj, type_)
    return c is not None and c.get("status") == "True"


def is_pod_ready(pod: Obj) -> bool:
    return has_true_condition(pod, "Ready")


def is_pod_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream podutil.IsPodAvailable)."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(c.get("lastTransitionTime"))
    return since is not None and (now - since).total_seconds() >= min_ready_seconds


def set_condition(conditions: list[dict[str, Any]], type_: str, status_: str, reason: str, message: str,
                  now: datetime) -> list[dict[str, Any]]:
    """A new list with the condition added or changed; lastTransitionTime moves only when the status
    flips (upstream's condition helpers), lastProbeTime/lastUpdateTime track every write."""
    out: list[dict[str, Any]] = []
    found = False
    for c in conditions:
        if c.get("type") != type_:
            out.append(dict(c))
            continue
        found = True
        new = dict(c)
        if c.get("status") != status_:
            new["lastTransitionTime"] = timestamp(now)
        new.update(status=status_, reason=reason, message=message)
        out.append(new)
    if not found:
        out.append({"type": type_, "status": status_, "reason": reason, "message": message,
                    "lastTransitionTime": timestamp(now)})
    return out


def scaled_value(value: int | str | None, total: int, round_up: bool, default: int = 0) -> int:
    """An IntOrString (``3`` or ``"25%"``) against ``total`` (intstr.GetScaledValueFromIntOrPercent)."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        pct = int(text[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def pod_from_template(template: Obj, namespace: str, owner_ref: Mapping[str, Any], *, name: str | None = None,
                      generate_name: str | None = None, extra_labels: Mapping[str, str] | None = None,
                      extra_annotations: Mapping[str, str] | None = None,
                      finalizers: list[str] | None = None) -> dict[str, Any]:
    """A Pod body from a PodTemplateSpec (upstream GetPodFromTemplate): the template's labels,
    annotations and finalizers, the controller reference, and a deep copy of its spec."""
    tmeta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "namespace": namespace,
        "labels": {**(tmeta.get("labels") or {}), **(extra_labels or {})},
        "annotations": {**(tmeta.get("annotations") or {}), **(extra_annotations or {})},
        "ownerReferences": [dict(owner_ref)],
    }
    if name:
        pod_meta["name"] = name
    elif generate_name:
        pod_meta["generateName"] = generate_name
    fin = list(tmeta.get("finalizers") or []) + list(finalizers or [])
    if fin:
        pod_meta["finalizers"] = fin
    if not pod_meta["annotations"]:
        del pod_meta["annotations"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta,
            "spec": copy.deepcopy(dict(template.get("spec") or {}))}


def owned_by(objs: list[Obj], owner: Obj, kind: str) -> list[Obj]:
    """The objects whose controller reference is ``owner`` (by uid and kind)."""
    uid = meta(owner).get("uid")
    out = []
    for o in objs:
        for ref in meta(o).get("ownerReferences") or []:
            if ref.get("controller") and ref.get("uid") == uid and ref.get("kind") == kind:
                out.append(o)
                break
    return out


def controller_key(obj: Obj, kind: str) -> str | None:
    """``namespace/name`` of the controller of ``obj`` when it is a ``kind``; handlers enqueue it."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            ns = meta(obj).get("namespace")
            return f"{ns}/{ref.get('name')}" if ns else str(ref.get("name"))
    return None


def observe_added_pod(expectations: Any, pod: Obj, kind: str) -> str | None:
    """A pod appeared in the cache: lower its controller's expectations (a terminating one counts as
    an observed deletion) and return the controller's key, or None for pods it does not own."""
    key = controller_key(pod, kind)
    if key is None:
        return None
    if is_terminating(pod):
        expectations.deletion_observed(key, meta(pod).get("uid", ""))
    else:
        expectations.creation_observed(key)
    return key

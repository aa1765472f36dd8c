"""Priority: a new pod's priority (and preemption policy) come from its PriorityClass, or from the
cluster's globalDefault class when it names none; a pod may not state a different number itself.

Also keeps PriorityClasses to one globalDefault, as upstream's plugin does.
"""

from __future__ import annotations

from typing import Any

from navarch.apiserver.admission import Attributes, forbidden
from navarch.apiserver.admission.access import access_of

NAME = "Priority"
# (group, plural) of the only resources this plugin acts on; the chain skips it for the rest.
RESOURCES = frozenset({("", "pods"), ("scheduling.k8s.io", "priorityclasses")})
GROUP = "scheduling.k8s.io"
# Upstream's apiserver creates these; they are known here too so pods can use them before that.
SYSTEM_CLASSES = {"system-node-critical": 2000001000, "system-cluster-critical": 2000000000}
DEFAULT_POLICY = "PreemptLowerPriority"


async def admit(a: Attributes) -> None:
    r = a.resource
    if r.plural != "pods" or r.group or a.subresource or a.obj is None:
        return
    spec = a.obj.setdefault("spec", {})
    if a.operation == "UPDATE":
        # Set at create; an update that leaves them out keeps them (validation refuses changes).
        old = (a.old or {}).get("spec") or {}
        for k in ("priority", "preemptionPolicy"):
            if spec.get(k) is None and old.get(k) is not None:
                spec[k] = old[k]
        return
    if a.operation != "CREATE":
        return
    name = spec.get("priorityClassName") or ""
    stated = spec.get("priority")
    stated_policy = spec.get("preemptionPolicy")
    if name:
        pc = await a.lookup("priorityclasses", None, name)
        if pc is None and name in SYSTEM_CLASSES:
            pc = {"value": SYSTEM_CLASSES[name], "preemptionPolicy": DEFAULT_POLICY}
        if pc is None:
            raise forbidden(a, f"no PriorityClass with name {name} was found")
        value, policy = int(pc.get("value") or 0), pc.get("preemptionPolicy") or DEFAULT_POLICY
    else:
        default = await default_class(a)
        if default is not None:
            spec["priorityClassName"] = default["metadata"]["name"]
            value, policy = int(default.get("value") or 0), default.get("preemptionPolicy") or DEFAULT_POLICY
        else:
            value, policy = 0, DEFAULT_POLICY
        # Defaulting already wrote 0 / PreemptLowerPriority for a pod without a class: not the user's.
        if stated == 0:
            stated = None
        if stated_policy == DEFAULT_POLICY:
            stated_policy = None
    if stated is not None and stated != value:
        raise forbidden(a, f"the integer value of priority ({stated}) must not be provided in pod spec; "
                           f"priority admission controller computed {value} from the given PriorityClass name")
    if stated_policy is not None and stated_policy != policy:
        raise forbidden(a, f"the string value of PreemptionPolicy ({stated_policy}) must not be provided in pod "
                           f"spec; priority admission controller computed {policy} from the given PriorityClass name")
    spec["priority"] = value
    spec["preemptionPolicy"] = policy


async def default_class(a: Attributes) -> dict[str, Any] | None:
    """The globalDefault PriorityClass; of several, the lowest value, as upstream."""
    access = access_of(a)
    if access is None:
        return None
    best: dict[str, Any] | None = None
    for pc in await access.list(GROUP, "priorityclasses", None):
        if pc.get("globalDefault") and (best is None or int(pc.get("value") or 0) < int(best.get("value") or 0)):
            best = pc
    return best


async def validate(a: Attributes) -> None:
    r = a.resource
    if r.plural != "priorityclasses" or r.group != GROUP or a.operation not in ("CREATE", "UPDATE"):
        return
    if a.obj is None or not a.obj.get("globalDefault"):
        return
    current = await default_class(a)
    if current is None:
        return
    if a.operation == "CREATE" or current["metadata"]["name"] != a.name:
        raise forbidden(a, f"PriorityClass {current['metadata']['name']} is marked as default. "
                           "Only one default can exist")

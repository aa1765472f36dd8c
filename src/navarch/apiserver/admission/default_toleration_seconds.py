"""DefaultTolerationSeconds: pods tolerate not-ready and unreachable nodes for 300 s by default, so
a node that stops reporting has its pods evicted five minutes later unless they say otherwise."""

from __future__ import annotations

from navarch.apiserver.admission import Attributes

NAME = "DefaultTolerationSeconds"
# (group, plural) of the only resources this plugin acts on; the chain skips it for the rest.
RESOURCES = frozenset({("", "pods")})
DEFAULT_SECONDS = 300
_KEYS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


async def admit(a: Attributes) -> None:
    if a.operation != "CREATE" or a.resource.plural != "pods" or a.resource.group or a.subresource or not a.obj:
        return
    spec = a.obj.setdefault("spec", {})
    tolerations = spec.get("tolerations") or []
    for key in _KEYS:
        if any(_covers(t, key) for t in tolerations):
            continue
        tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                            "tolerationSeconds": DEFAULT_SECONDS})
    spec["tolerations"] = tolerations


def _covers(t: dict, key: str) -> bool:
    # A toleration of every key (empty key with Exists), or of this key, with effect NoExecute or any.
    if t.get("effect") not in (None, "", "NoExecute"):
        return False
    if not t.get("key"):
        return t.get("operator") == "Exists"
    return t.get("key") == key

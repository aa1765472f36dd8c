"""The identity a container runs with, from its pod's and its own ``securityContext`` (upstream's
``securitycontext.DetermineEffectiveSecurityContext`` and ``verifyRunAsNonRoot``).

A container's own settings win over the pod's. ``supplementalGroups`` and ``fsGroup`` are pod-level
only and both become supplementary groups of the process, as upstream's runtimes make them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool = False
    supplemental_groups: tuple[int, ...] = ()


def effective(pod: Mapping[str, Any], container: Mapping[str, Any]) -> Identity:
    pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}

    def pick(name: str) -> Any:
        value = sc.get(name)
        return value if value is not None else pod_sc.get(name)

    groups = [int(g) for g in pod_sc.get("supplementalGroups") or []]
    if pod_sc.get("fsGroup") is not None and int(pod_sc["fsGroup"]) not in groups:
        groups.append(int(pod_sc["fsGroup"]))
    user, group = pick("runAsUser"), pick("runAsGroup")
    return Identity(run_as_user=int(user) if user is not None else None,
                    run_as_group=int(group) if group is not None else None,
                    run_as_non_root=bool(pick("runAsNonRoot")), supplemental_groups=tuple(groups))


def pod_label(pod: Mapping[str, Any]) -> str:
    """upstream's ``format.Pod``: name_namespace(uid)."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('name', '')}_{meta.get('namespace', '')}({meta.get('uid', '')})"


def non_root_violation(pod: Mapping[str, Any], container: Mapping[str, Any], identity: Identity,
                       image_uid: int | None, image_user: str) -> str:
    """Why ``runAsNonRoot`` forbids starting the container ("" when it does not), in upstream's words.
    ``image_uid``/``image_user`` are what the runtime says the image runs as; neither known means
    root, as upstream assumes."""
    if not identity.run_as_non_root:
        return ""
    where = f'(pod: "{pod_label(pod)}", container: {container.get("name", "")})'
    if identity.run_as_user is not None:
        return f"container's runAsUser breaks non-root policy {where}" if identity.run_as_user == 0 else ""
    if image_uid is None and image_user:
        return (f"container has runAsNonRoot and image has non-numeric user ({image_user}), "
                f"cannot verify user is non-root {where}")
    if not image_uid:
        return f"container has runAsNonRoot and image will run as root {where}"
    return ""

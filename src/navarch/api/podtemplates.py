"""Where each workload keeps the pod template its pods are made from (upstream's checks of pods also
run on these: PodSecurity, the API's pod warnings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (group, plural) -> the template's path in the object.
TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "podtemplates"): ("template",),
    ("", "replicationcontrollers"): ("spec", "template"),
    ("apps", "deployments"): ("spec", "template"),
    ("apps", "replicasets"): ("spec", "template"),
    ("apps", "statefulsets"): ("spec", "template"),
    ("apps", "daemonsets"): ("spec", "template"),
    ("batch", "jobs"): ("spec", "template"),
    ("batch", "cronjobs"): ("spec", "jobTemplate", "spec", "template"),
}


def template_of(group: str, plural: str, obj: Mapping[str, Any]) -> tuple[tuple[str, ...], Mapping[str, Any]] | None:
    """The pod template of a workload object and its path, or None (not a workload, or no template)."""
    path = TEMPLATE_PATHS.get((group, plural))
    if path is None:
        return None
    template: Any = obj
    for key in path:
        template = template.get(key) if isinstance(template, Mapping) else None
    return (path, template) if isinstance(template, Mapping) else None

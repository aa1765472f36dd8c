"""DefaultStorageClass: a claim that names no storage class gets the cluster's default one.

The default is the StorageClass annotated ``storageclass.kubernetes.io/is-default-class: "true"``
(or the beta annotation); of several, the newest, ties broken by name, as upstream. A claim that
sets ``storageClassName: ""`` asks for no class and is left alone.
"""

from __future__ import annotations

from typing import Any

from navarch.apiserver.admission import Attributes
from navarch.apiserver.admission.access import access_of

NAME = "DefaultStorageClass"
# (group, plural) of the only resources this plugin acts on; the chain skips it for the rest.
RESOURCES = frozenset({("", "persistentvolumeclaims")})
DEFAULT_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                       "storageclass.beta.kubernetes.io/is-default-class")
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def is_default(sc: dict[str, Any]) -> bool:
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return any(annotations.get(k) == "true" for k in DEFAULT_ANNOTATIONS)


def pick_default(classes: list[dict[str, Any]]) -> dict[str, Any] | None:
    defaults = [sc for sc in classes if is_default(sc)]
    if not defaults:
        return None
    # Newest first; RFC 3339 UTC timestamps sort as text. Equal times: the first name.
    defaults.sort(key=lambda sc: sc["metadata"].get("name", ""))
    defaults.sort(key=lambda sc: sc["metadata"].get("creationTimestamp", ""), reverse=True)
    return defaults[0]


async def admit(a: Attributes) -> None:
    r = a.resource
    if a.operation != "CREATE" or r.plural != "persistentvolumeclaims" or r.group or a.subresource:
        return
    if a.obj is None:
        return
    spec = a.obj.setdefault("spec", {})
    annotations = (a.obj.get("metadata") or {}).get("annotations") or {}
    if spec.get("storageClassName") is not None or BETA_CLASS_ANNOTATION in annotations:
        return
    access = access_of(a)
    if access is None:
        return
    sc = pick_default(await access.list("storage.k8s.io", "storageclasses", None))
    if sc is not None:
        spec["storageClassName"] = sc["metadata"]["name"]

"""ObjectMeta rules every kind shares: name/generateName, namespace, labels, annotations, finalizers,
owner references, and what an update may not change (apimachinery's ValidateObjectMeta and
ValidateObjectMetaUpdate)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from navarch.api import errors
from navarch.api.errors import Cause
from navarch.api.validation import names

NameFn = Callable[[str, bool], list[str]]

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024


def validate_labels(labels: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for k, v in labels.items():
        for msg in names.is_qualified_name(k):
            out.append(errors.field_invalid(path, k, msg))
        if isinstance(v, str):
            for msg in names.is_valid_label_value(v):
                out.append(errors.field_invalid(path, v, msg))
    return out


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(annotations, dict):
        return out
    total = 0
    for k, v in annotations.items():
        # Upstream lower-cases the key first: annotation keys may use capitals in the prefix.
        for msg in names.is_qualified_name(k.lower()):
            out.append(errors.field_invalid(path, k, msg))
        total += len(k.encode()) + len(v.encode() if isinstance(v, str) else b"")
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(errors.field_too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def validate_finalizers(finalizers: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(finalizers, list):
        return out
    for f in finalizers:
        if isinstance(f, str):
            for msg in names.is_qualified_name(f):
                out.append(errors.field_invalid(path, f, msg))
    return out


def validate_owner_references(refs: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(refs, list):
        return out
    controllers = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = ref.get("apiVersion") or ""
        version = api_version.rsplit("/", 1)[-1] if api_version else ""
        if not version:
            out.append(errors.field_invalid(f"{path}.apiVersion", version, "version must not be empty"))
        if not ref.get("kind"):
            out.append(errors.field_invalid(f"{path}.kind", ref.get("kind") or "", "kind must not be empty"))
        if not ref.get("name"):
            out.append(errors.field_invalid(f"{path}.name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            out.append(errors.field_invalid(f"{path}.uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller") is True:
            controllers.append(ref)
    if len(controllers) > 1:
        shown = " and ".join(f"{r.get('kind')}/{r.get('name')}" for r in controllers)
        out.append(errors.field_invalid(path, refs, "Only one reference can have Controller set to true. "
                                        f'Found "true" in references for {shown}'))
    return out


def validate_object_meta(meta: Any, namespaced: bool, name_fn: NameFn, path: str = "metadata") -> list[Cause]:
    if not isinstance(meta, dict):
        meta = {}
    out: list[Cause] = []
    generate_name = meta.get("generateName") or ""
    name = meta.get("name") or ""
    if generate_name:
        for msg in name_fn(generate_name, True):
            out.append(errors.field_invalid(f"{path}.generateName", generate_name, msg))
    if not name:
        # Upstream generates the name before validating; a generateName alone is enough here so
        # callers may validate either before or after generating it.
        if not generate_name:
            out.append(errors.field_required(f"{path}.name", "name or generateName is required"))
    else:
        for msg in name_fn(name, False):
            out.append(errors.field_invalid(f"{path}.name", name, msg))
    namespace = meta.get("namespace") or ""
    if namespaced:
        if not namespace:
            out.append(errors.field_required(f"{path}.namespace"))
        else:
            for msg in names.name_is_dns_label(namespace):
                out.append(errors.field_invalid(f"{path}.namespace", namespace, msg))
    elif namespace:
        out.append(errors.field_forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int) and generation < 0:
        out.append(errors.field_invalid(f"{path}.generation", generation, "must be greater than or equal to 0"))
    out += validate_labels(meta.get("labels"), f"{path}.labels")
    out += validate_annotations(meta.get("annotations"), f"{path}.annotations")
    out += validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences")
    out += validate_finalizers(meta.get("finalizers"), f"{path}.finalizers")
    return out


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    """What an update may not do to metadata. The caller fills ``resourceVersion`` from the stored
    object first for unconditional updates (upstream's AllowUnconditionalUpdate)."""
    new = new if isinstance(new, dict) else {}
    old = old if isinstance(old, dict) else {}
    out: list[Cause] = []
    if old.get("deletionTimestamp"):
        added = [f for f in (new.get("finalizers") or []) if f not in (old.get("finalizers") or [])]
        if added:
            shown = ", ".join(f'"{f}"' for f in sorted(set(added)))
            out.append(errors.field_forbidden(
                f"{path}.finalizers",
                f"no new finalizers can be added if the object is being deleted, found new finalizers []string{{{shown}}}"))
    if not new.get("resourceVersion"):
        out.append(errors.field_invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    if (new.get("generation") or 0) < (old.get("generation") or 0):
        out.append(errors.field_invalid(f"{path}.generation", new.get("generation") or 0, "must not be decremented"))
    for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
        if new.get(key) != old.get(key) and (new.get(key) or old.get(key)):
            out.append(errors.field_immutable(f"{path}.{key}", new.get(key)))
    out += validate_labels(new.get("labels"), f"{path}.labels")
    out += validate_annotations(new.get("annotations"), f"{path}.annotations")
    out += validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences")
    out += validate_finalizers(new.get("finalizers"), f"{path}.finalizers")
    return out

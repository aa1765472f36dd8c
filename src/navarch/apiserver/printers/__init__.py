"""Server-side printing: the ``meta.k8s.io/v1`` Table kubectl asks for with ``Accept: ...;as=Table``.

Each resource has a printer (column definitions plus a cell function) matching upstream's
pkg/printers/internalversion, so ``kubectl get`` output looks as it does against a real cluster; a
resource without one gets upstream's default table (Name, Created At). Every column, wide ones
included, is always rendered: kubectl hides ``priority`` 1 columns itself unless ``-o wide``.

Rows share the ``metadata`` dicts of the objects they were built from (no copies): building a Table
of tens of thousands of objects must stay cheap, and the caller serialises it straight away.

Imports only ``navarch.api``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from navarch.api import errors
from navarch.api.resources import ResourceInfo
from navarch.apiserver.printers import apps, batch, core, other
from navarch.apiserver.printers import format as fmt
from navarch.apiserver.printers.spec import AGE_DESCRIPTION, Column, Printer, name_column

__all__ = ["INCLUDE_OBJECT_VALUES", "columns_for", "printer_for", "row_cells", "to_table"]

TABLE_API_VERSION = "meta.k8s.io/v1"
INCLUDE_OBJECT_VALUES = ("Metadata", "None", "Object")


def _default_cells(obj: dict[str, Any], now: float) -> list[Any]:
    meta = obj.get("metadata") or {}
    return [meta.get("name", ""), fmt.rfc3339(meta.get("creationTimestamp"))]


# Upstream's rest.NewDefaultTableConvertor, used for kinds without a printer (roles, limit ranges...).
DEFAULT_PRINTER = Printer((name_column(), Column("Created At", "date", AGE_DESCRIPTION)), _default_cells)

_PRINTERS: Mapping[tuple[str, str], Printer] = MappingProxyType(
    {**core.PRINTERS, **apps.PRINTERS, **batch.PRINTERS, **other.PRINTERS})


def printer_for(resource: ResourceInfo) -> Printer:
    """The printer of a resource, by group and plural: every version of a resource prints alike."""
    return _PRINTERS.get((resource.group, resource.plural), DEFAULT_PRINTER)


def columns_for(resource: ResourceInfo) -> list[dict[str, Any]]:
    """The ``columnDefinitions`` of a resource's Table."""
    return [c.to_dict() for c in printer_for(resource).columns]


def row_cells(resource: ResourceInfo, obj: dict[str, Any], now: datetime) -> list[Any]:
    """The cells of one object's row, one per column of ``columns_for(resource)``."""
    return printer_for(resource).cells(obj, fmt.now_epoch(now))


def to_table(resource: ResourceInfo, objs: Iterable[dict[str, Any]], *, include_object: str | None = "Metadata",
             list_meta: dict[str, Any] | None = None, now: datetime | None = None,
             with_columns: bool = True) -> dict[str, Any]:
    """A whole Table for ``objs``.

    ``include_object`` is the request's ``includeObject``: ``Metadata`` (also when empty) puts a
    PartialObjectMetadata in each row, ``Object`` the object itself, ``None`` nothing; anything else is
    a 400 as upstream answers it. ``list_meta`` (resourceVersion, continue, remainingItemCount) comes
    from the list; without it a one-object table carries that object's resourceVersion, as upstream
    does for a GET and for each watch event. ``with_columns=False`` leaves ``columnDefinitions`` empty:
    watch events after the first, which kubectl prints with the columns it already has.
    """
    mode = _include_mode(include_object)
    printer = printer_for(resource)
    cells_fn = printer.cells
    conditions_fn = printer.conditions
    now_s = fmt.now_epoch(now)
    api_version, kind = resource.api_version, resource.kind

    rows: list[dict[str, Any]] = []
    append = rows.append
    objs = objs if isinstance(objs, list) else list(objs)
    for obj in objs:
        row: dict[str, Any] = {"cells": cells_fn(obj, now_s)}
        if conditions_fn is not None:
            conditions = conditions_fn(obj)
            if conditions:
                row["conditions"] = conditions
        if mode == "Metadata":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": TABLE_API_VERSION,
                             "metadata": obj.get("metadata") or {}}
        elif mode == "Object":
            if obj.get("apiVersion") != api_version or obj.get("kind") != kind:
                obj = {**obj, "apiVersion": api_version, "kind": kind}
            row["object"] = obj
        append(row)

    return {
        "kind": "Table",
        "apiVersion": TABLE_API_VERSION,
        "metadata": _table_meta(list_meta, objs),
        "columnDefinitions": [c.to_dict() for c in printer.columns] if with_columns else [],
        "rows": rows,
    }


def _include_mode(value: str | None) -> str:
    if value is None or value == "None":
        return "None"
    if value in ("", "Metadata"):
        return "Metadata"
    if value == "Object":
        return "Object"
    cause = errors.field_not_supported("includeObject", value, list(INCLUDE_OBJECT_VALUES))
    raise errors.bad_request(f"{cause.field}: {cause.message}")


def _table_meta(list_meta: dict[str, Any] | None, objs: list[dict[str, Any]]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if list_meta is None:
        if len(objs) == 1:
            rv = (objs[0].get("metadata") or {}).get("resourceVersion")
            if rv:
                meta["resourceVersion"] = rv
        return meta
    # ListMeta fields are all omitempty upstream.
    if list_meta.get("resourceVersion"):
        meta["resourceVersion"] = list_meta["resourceVersion"]
    if list_meta.get("continue"):
        meta["continue"] = list_meta["continue"]
    if list_meta.get("remainingItemCount") is not None:
        meta["remainingItemCount"] = list_meta["remainingItemCount"]
    return meta

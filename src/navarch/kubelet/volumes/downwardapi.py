"""downwardAPI: the pod's own metadata and its containers' resources as files (upstream
kubernetes.io/downward-api); ``refresh`` rewrites them when labels or annotations change."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from navarch.kubelet import envvars
from navarch.kubelet.volumes.atomicwriter import FileProjection
from navarch.kubelet.volumes.plugin import (
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    aggregate,
    item_mode,
    pod_uid,
    project,
    volume_default_mode,
)

log = logging.getLogger(__name__)

NAME = "kubernetes.io/downward-api"


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


def collect(items: Sequence[Obj] | None, pod: Obj, allocatable: Obj, default_mode: int) -> dict[str, FileProjection]:
    """upstream downwardapi.CollectData: one file per item; every failing item is reported together."""
    payload: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items or []:
        try:
            if item.get("fieldRef") is not None:
                value = envvars.pod_field_value(pod, item["fieldRef"].get("fieldPath") or "")
            elif item.get("resourceFieldRef") is not None:
                value = envvars.resource_field_value(pod, None, item["resourceFieldRef"], allocatable)
            else:
                value = ""
        except envvars.FieldError as e:
            log.error("downward API item %s of pod %s: %s", item.get("path"), pod_uid(pod), e)
            errors.append(str(e))
            continue
        payload[item.get("path") or ""] = FileProjection(value.encode(), item_mode(item, default_mode))
    if errors:
        raise SetUpFailed(aggregate(errors))
    return payload


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    source = volume.get("downwardAPI") or {}
    payload = collect(source.get("items"), pod, ctx.node_allocatable, volume_default_mode(source))
    await project(ctx, path(ctx, pod, volume), payload, memory=False,
                  log_context=f"downwardAPI volume {volume['name']} of pod {pod_uid(pod)}")


PLUGIN = Plugin(name=NAME, source="downwardAPI", read_only=True, refreshable=True, path=path, setup=setup)

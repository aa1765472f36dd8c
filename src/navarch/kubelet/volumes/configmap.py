"""configMap: a ConfigMap's keys as files (upstream kubernetes.io/configmap), kept in step with the
object by ``refresh`` through the atomic writer. Read-only to containers."""

from __future__ import annotations

from collections.abc import Sequence

from navarch.client.errors import ApiError
from navarch.kubelet import envvars
from navarch.kubelet.volumes.atomicwriter import FileProjection
from navarch.kubelet.volumes.plugin import (
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    item_mode,
    pod_namespace,
    pod_uid,
    project,
    volume_default_mode,
)

NAME = "kubernetes.io/configmap"


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def get_configmap(ctx: VolumeContext, namespace: str, name: str, optional: bool) -> Obj:
    """The ConfigMap, or an empty one when it is missing and ``optional``."""
    try:
        cm = await envvars.fetch(ctx.client, "configmaps", namespace, name)
    except ApiError as e:
        raise SetUpFailed(e.message or str(e)) from e
    if cm is None:
        if not optional:
            raise SetUpFailed(envvars.not_found("configmap", name))
        return {}
    return cm


def make_payload(items: Sequence[Obj] | None, cm: Obj, default_mode: int, optional: bool) -> dict[str, FileProjection]:
    """upstream configmap.MakePayload: every key (data and binaryData) or just the listed ``items``."""
    data = envvars.configmap_data(cm)
    if not items:
        return {k: FileProjection(v, default_mode) for k, v in data.items()}
    payload: dict[str, FileProjection] = {}
    for item in items:
        key = item.get("key") or ""
        if key not in data:
            if optional:
                continue
            raise SetUpFailed(f"configmap references non-existent config key: {key}")
        payload[item.get("path") or key] = FileProjection(data[key], item_mode(item, default_mode))
    return payload


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    source = volume.get("configMap") or {}
    optional = bool(source.get("optional"))
    cm = await get_configmap(ctx, pod_namespace(pod), source.get("name") or "", optional)
    payload = make_payload(source.get("items"), cm, volume_default_mode(source), optional)
    await project(ctx, path(ctx, pod, volume), payload, memory=False,
                  log_context=f"configmap volume {volume['name']} of pod {pod_uid(pod)}")


PLUGIN = Plugin(name=NAME, source="configMap", read_only=True, refreshable=True, path=path, setup=setup)

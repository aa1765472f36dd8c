"""configMap: a ConfigMap's keys as files (upstream kubernetes.io/configmap), kept in step with the
object by ``refresh`` through the atomic writer. Read-only to containers."""

from __future__ import annotations

from navarch.kubelet import envvars
from navarch.kubelet.volumes.keyed import KeyedSource
from navarch.kubelet.volumes.plugin import Obj, Plugin, VolumeContext, pod_uid

NAME = "kubernetes.io/configmap"
SOURCE = KeyedSource("configmaps", "configmap", "name", envvars.configmap_data,
                     "configmap references non-existent config key: {key}", memory=False)
get_configmap = SOURCE.get
make_payload = SOURCE.make_payload


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    await SOURCE.setup(ctx, pod, volume, volume.get("configMap") or {}, path(ctx, pod, volume))


PLUGIN = Plugin(name=NAME, source="configMap", read_only=True, refreshable=True, path=path, setup=setup)

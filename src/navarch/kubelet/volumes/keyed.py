"""What configMap and secret volumes (and their projected sources) share: an object's keys as files,
fetched by name, every key or only the listed ``items``, optional or not (upstream's MakePayload)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from navarch.client.errors import ApiError
from navarch.kubelet import envvars
from navarch.kubelet.volumes.atomicwriter import FileProjection
from navarch.kubelet.volumes.plugin import (
    Obj,
    SetUpFailed,
    VolumeContext,
    item_mode,
    pod_namespace,
    pod_uid,
    project,
    volume_default_mode,
)


@dataclass(frozen=True)
class KeyedSource:
    resource: str  # "configmaps"
    kind: str  # "configmap", as upstream's messages name it
    name_field: str  # where the volume source names the object ("name", "secretName")
    data: Callable[[Obj], dict[str, bytes]]
    missing_key: str  # upstream's message, with {key}
    memory: bool  # on a tmpfs as root (secrets never touch the disk)

    async def get(self, ctx: VolumeContext, namespace: str, name: str, optional: bool) -> Obj:
        """The object, or an empty one when it is missing and ``optional``."""
        try:
            obj = await envvars.fetch(ctx.client, self.resource, namespace, name, ctx.objects)
        except ApiError as e:
            raise SetUpFailed(e.message or str(e)) from e
        if obj is None:
            if not optional:
                raise SetUpFailed(envvars.not_found(self.kind, name))
            return {}
        return obj

    def make_payload(self, items: Sequence[Obj] | None, obj: Obj, default_mode: int,
                     optional: bool) -> dict[str, FileProjection]:
        data = self.data(obj)
        if not items:
            return {k: FileProjection(v, default_mode) for k, v in data.items()}
        payload: dict[str, FileProjection] = {}
        for item in items:
            key = item.get("key") or ""
            if key not in data:
                if optional:
                    continue
                raise SetUpFailed(self.missing_key.format(key=key))
            payload[item.get("path") or key] = FileProjection(data[key], item_mode(item, default_mode))
        return payload

    async def setup(self, ctx: VolumeContext, pod: Obj, volume: Obj, source: Obj, target: str) -> None:
        optional = bool(source.get("optional"))
        obj = await self.get(ctx, pod_namespace(pod), source.get(self.name_field) or "", optional)
        payload = self.make_payload(source.get("items"), obj, volume_default_mode(source), optional)
        await project(ctx, target, payload, memory=self.memory,
                      log_context=f"{self.kind} volume {volume['name']} of pod {pod_uid(pod)}")

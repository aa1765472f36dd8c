"""secret: a Secret's keys as files (upstream kubernetes.io/secret), on a tmpfs as root so secrets
never touch the disk (without root: files under the kubelet's root dir, mode as the spec says).
Kept in step with the object by ``refresh``. Read-only to containers."""

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

NAME = "kubernetes.io/secret"


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def get_secret(ctx: VolumeContext, namespace: str, name: str, optional: bool) -> Obj:
    """The Secret, or an empty one when it is missing and ``optional``."""
    try:
        secret = await envvars.fetch(ctx.client, "secrets", namespace, name)
    except ApiError as e:
        raise SetUpFailed(e.message or str(e)) from e
    if secret is None:
        if not optional:
            raise SetUpFailed(envvars.not_found("secret", name))
        return {}
    return secret


def make_payload(items: Sequence[Obj] | None, secret: Obj, default_mode: int, optional: bool) -> dict[str, FileProjection]:
    """upstream secret.MakePayload."""
    data = envvars.secret_data(secret)
    if not items:
        return {k: FileProjection(v, default_mode) for k, v in data.items()}
    payload: dict[str, FileProjection] = {}
    for item in items:
        key = item.get("key") or ""
        if key not in data:
            if optional:
                continue
            raise SetUpFailed(f"references non-existent secret key: {key}")
        payload[item.get("path") or key] = FileProjection(data[key], item_mode(item, default_mode))
    return payload


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    source = volume.get("secret") or {}
    optional = bool(source.get("optional"))
    secret = await get_secret(ctx, pod_namespace(pod), source.get("secretName") or "", optional)
    payload = make_payload(source.get("items"), secret, volume_default_mode(source), optional)
    await project(ctx, path(ctx, pod, volume), payload, memory=True,
                  log_context=f"secret volume {volume['name']} of pod {pod_uid(pod)}")


PLUGIN = Plugin(name=NAME, source="secret", read_only=True, refreshable=True, path=path, setup=setup)

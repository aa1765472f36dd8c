"""secret: a Secret's keys as files (upstream kubernetes.io/secret), on a tmpfs as root so secrets
never touch the disk (without root: files under the kubelet's root dir, mode as the spec says).
Kept in step with the object by ``refresh``. Read-only to containers."""

from __future__ import annotations

from navarch.kubelet import envvars
from navarch.kubelet.volumes.keyed import KeyedSource
from navarch.kubelet.volumes.plugin import Obj, Plugin, VolumeContext, pod_uid

NAME = "kubernetes.io/secret"
SOURCE = KeyedSource("secrets", "secret", "secretName", envvars.secret_data,
                     "references non-existent secret key: {key}", memory=True)
get_secret = SOURCE.get
make_payload = SOURCE.make_payload


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    await SOURCE.setup(ctx, pod, volume, volume.get("secret") or {}, path(ctx, pod, volume))


PLUGIN = Plugin(name=NAME, source="secret", read_only=True, refreshable=True, path=path, setup=setup)

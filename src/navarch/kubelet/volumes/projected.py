"""projected: configMap, secret and downwardAPI sources merged into one directory (upstream
kubernetes.io/projected), memory-backed as root like secret volumes.

serviceAccountToken sources hold a token of the pod's service account bound to the pod, from the
kubelet's token manager (``kubelet/token.py``), which refreshes it as it ages; each refresh of the
volume writes the current one. clusterTrustBundle and podCertificate sources are skipped with a log
line.
"""

from __future__ import annotations

import logging

from navarch.kubelet.volumes import configmap, downwardapi, secret
from navarch.kubelet.volumes.atomicwriter import FileProjection
from navarch.kubelet.volumes.plugin import (
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    aggregate,
    pod_namespace,
    pod_uid,
    project,
    volume_default_mode,
)

log = logging.getLogger(__name__)

NAME = "kubernetes.io/projected"
_NOT_YET = ("clusterTrustBundle", "podCertificate")


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def collect(ctx: VolumeContext, pod: Obj, volume: Obj) -> dict[str, FileProjection]:
    """upstream projectedVolumeMounter.collectData: later sources overwrite earlier paths; the
    failures of all sources are reported together."""
    source = volume.get("projected") or {}
    mode = volume_default_mode(source)
    namespace = pod_namespace(pod)
    payload: dict[str, FileProjection] = {}
    errors: list[str] = []
    for src in source.get("sources") or []:
        try:
            if src.get("configMap") is not None:
                ref = src["configMap"]
                optional = bool(ref.get("optional"))
                cm = await configmap.get_configmap(ctx, namespace, ref.get("name") or "", optional)
                payload.update(configmap.make_payload(ref.get("items"), cm, mode, optional))
            elif src.get("secret") is not None:
                ref = src["secret"]
                optional = bool(ref.get("optional"))
                sec = await secret.get_secret(ctx, namespace, ref.get("name") or "", optional)
                payload.update(secret.make_payload(ref.get("items"), sec, mode, optional))
            elif src.get("downwardAPI") is not None:
                payload.update(downwardapi.collect(src["downwardAPI"].get("items"), pod, ctx.node_allocatable, mode))
            elif src.get("serviceAccountToken") is not None:
                payload.update(await _token_payload(ctx, pod, src["serviceAccountToken"], mode))
            else:
                kind = next((k for k in _NOT_YET if src.get(k) is not None), "unknown")
                ctx.warn_once((pod_uid(pod), volume["name"], kind),
                              "projected volume %s of pod %s/%s: %s source is not supported by navarch yet; skipped",
                              volume["name"], namespace, (pod.get("metadata") or {}).get("name"), kind)
        except SetUpFailed as e:
            errors.append(str(e))
    if errors:
        raise SetUpFailed(aggregate(errors))
    return payload


async def _token_payload(ctx: VolumeContext, pod: Obj, source: Obj, mode: int) -> dict[str, FileProjection]:
    """upstream projectedVolumeMounter's serviceAccountToken case: the audience named (else the API
    server's), the expiry asked (3600 s by default), bound to this pod."""
    from navarch.kubelet.token import TokenError

    if ctx.tokens is None:
        raise SetUpFailed("cannot request a service account token: the kubelet has no API client")
    audience = source.get("audience") or ""
    try:
        token = await ctx.tokens.pod_token(pod, audiences=[audience] if audience else [],
                                           expiration_seconds=int(source.get("expirationSeconds") or 3600))
    except TokenError as e:
        raise SetUpFailed(str(e)) from e
    return {source.get("path") or "token": FileProjection(data=token.encode(), mode=mode)}


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    payload = await collect(ctx, pod, volume)
    await project(ctx, path(ctx, pod, volume), payload, memory=True,
                  log_context=f"projected volume {volume['name']} of pod {pod_uid(pod)}")


PLUGIN = Plugin(name=NAME, source="projected", read_only=True, refreshable=True, path=path, setup=setup)

"""emptyDir: a directory that lives as long as the pod (upstream kubernetes.io/empty-dir).

``medium: Memory`` is a tmpfs as root, sized as upstream sizes it (the smallest of node allocatable
memory, the pod's memory limit and ``sizeLimit``). Without root it is a plain directory on disk: the
contents still work, only the memory backing and the size cap are missing (logged once per volume).
HugePages media are not supported.
"""

from __future__ import annotations

import asyncio
import logging
import os
from decimal import Decimal
from typing import Any

from navarch.kubelet import envvars
from navarch.kubelet.volumes import mounts
from navarch.kubelet.volumes.plugin import (
    VOLUME_DIR_MODE,
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    pod_uid,
)

log = logging.getLogger(__name__)

NAME = "kubernetes.io/empty-dir"


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return ctx.volume_dir(pod_uid(pod), NAME, volume["name"])


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    source = volume.get("emptyDir") or {}
    medium = source.get("medium") or ""
    target = path(ctx, pod, volume)
    if medium.startswith("HugePages"):
        raise SetUpFailed(f"emptyDir medium {medium} is not supported by navarch")
    if medium not in ("", "Memory"):
        raise SetUpFailed(f"unknown storage medium {medium!r}")
    try:
        await asyncio.to_thread(_make_dir, target)
    except OSError as e:
        raise SetUpFailed(str(e)) from e
    if medium != "Memory":
        return
    meta = pod.get("metadata") or {}
    if not ctx.isolated:
        ctx.warn_once((pod_uid(pod), volume["name"], "memory"),
                      "pod %s/%s: emptyDir %s with medium Memory is a directory on disk (tmpfs needs root)",
                      meta.get("namespace"), meta.get("name"), volume["name"])
        return
    if await asyncio.to_thread(mounts.is_mount_point, target):
        return
    try:
        await mounts.mount_tmpfs(target, memory_size(ctx.node_allocatable, pod, source))
    except mounts.MountError as e:
        raise SetUpFailed(str(e)) from e


def _make_dir(target: str) -> None:
    os.makedirs(target, exist_ok=True)
    os.chmod(target, VOLUME_DIR_MODE)


def memory_size(allocatable: Obj, pod: Obj, source: Obj) -> int | None:
    """upstream calculateEmptyDirMemorySize: node allocatable memory, lowered to the pod's memory
    limit and then to ``sizeLimit`` when each is positive and smaller. None: the tmpfs default."""
    size = _q(allocatable.get("memory"))
    pod_limit = _pod_memory_limit(pod)
    for candidate in (pod_limit, _q(source.get("sizeLimit"))):
        if candidate is not None and candidate > 0 and (size is None or candidate <= size):
            size = candidate
    return None if size is None else envvars.quantity_bytes(size)


def _q(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return envvars.parse_quantity(value)
    except ValueError:
        return None


def _pod_memory_limit(pod: Obj) -> Decimal | None:
    """The pod cgroup's memory limit (upstream ResourceConfigForPod): set only when every container
    has one; the sum of the long-running ones, or the largest init container when that is bigger."""
    spec = pod.get("spec") or {}
    pod_level = _q(((spec.get("resources") or {}).get("limits") or {}).get("memory"))
    if pod_level is not None:
        return pod_level
    running = Decimal(0)
    largest_init = Decimal(0)
    for c in spec.get("initContainers") or []:
        limit = _q(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        if limit is None:
            return None
        if c.get("restartPolicy") == "Always":
            running += limit
            largest_init = max(largest_init, running)
        else:
            largest_init = max(largest_init, running + limit)
    for c in spec.get("containers") or []:
        limit = _q(((c.get("resources") or {}).get("limits") or {}).get("memory"))
        if limit is None:
            return None
        running += limit
    return max(running, largest_init)


PLUGIN = Plugin(name=NAME, source="emptyDir", read_only=False, refreshable=False, path=path, setup=setup)

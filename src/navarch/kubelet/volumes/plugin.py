"""What every volume plugin shares: the context it runs in, its shape, and its failure.

A plugin is one module exposing ``PLUGIN``: upstream's plugin name (``kubernetes.io/configmap``),
the pod-spec key of its volume source, whether its volumes are read-only to containers (upstream
``GetAttributes().ReadOnly``), whether their contents follow API objects (re-projected by
``VolumeManager.refresh``), where a volume lives on the host, and an idempotent ``setup``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from navarch.kubelet.volumes import atomicwriter, mounts

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

# API defaulting gives configMap/secret/downwardAPI/projected volumes this mode; pods written
# before defaulting (or by a server that skips it) get the same.
DEFAULT_MODE = 0o644
# Upstream emptyDir (and the emptyDir wrapped by configMap/secret volumes) is world-writable so any
# container user can use it.
VOLUME_DIR_MODE = 0o777


class VolumeError(Exception):
    """Volumes of a pod could not be set up. ``messages`` holds one FailedMount event message per
    failed volume (``MountVolume.SetUp failed for volume "x" : configmap "y" not found``)."""

    def __init__(self, message: str, more: tuple[str, ...] = ()) -> None:
        self.messages: tuple[str, ...] = (message, *more)
        super().__init__("; ".join(self.messages))


class SetUpFailed(Exception):
    """A plugin's reason, worded as upstream's plugin words it; the manager adds the volume name."""


@dataclass
class VolumeContext:
    root_dir: str
    client: Any
    isolated: bool
    node_allocatable: Mapping[str, Any] = field(default_factory=dict)
    # Fallbacks and skipped sources are logged once per volume, not on every refresh.
    warned: set[tuple[str, ...]] = field(default_factory=set)
    # Service-account tokens for projected volumes (a kubelet.token.TokenManager); None: no API.
    tokens: Any = None
    # ConfigMaps and Secrets served from watches (a kubelet.objectcache.ObjectCache); None: GET each.
    objects: Any = None

    def warn_once(self, key: tuple[str, ...], message: str, *args: Any) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning(message, *args)

    def forget(self, uid: str) -> None:
        self.warned = {k for k in self.warned if k[0] != uid}
        if self.tokens is not None:
            self.tokens.forget_pod(uid)

    def pod_dir(self, uid: str) -> str:
        return os.path.join(self.root_dir, "pods", uid)

    def volume_dir(self, uid: str, plugin: str, name: str) -> str:
        """``{root}/pods/{uid}/volumes/kubernetes.io~configmap/{name}``, as upstream escapes plugin names."""
        return os.path.join(self.pod_dir(uid), "volumes", plugin.replace("/", "~"), name)


@dataclass(frozen=True)
class Plugin:
    name: str
    source: str  # the key of the volume source in the pod spec (``configMap``, ``emptyDir``)
    read_only: bool
    refreshable: bool
    path: Callable[[VolumeContext, Obj, Obj], str]
    setup: Callable[[VolumeContext, Obj, Obj], Awaitable[None]]


def pod_uid(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("uid") or ""


def pod_namespace(pod: Obj) -> str:
    return (pod.get("metadata") or {}).get("namespace") or "default"


def go_error(op: str, path: str, e: OSError) -> str:
    """An OSError worded as Go's ``*PathError`` (``mkdir /x: permission denied``)."""
    text = e.strerror or str(e)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


def aggregate(errors: list[str]) -> str:
    """upstream utilerrors.NewAggregate(...).Error(): one message as is, several as ``[a, b]``."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def item_mode(item: Obj, default_mode: int) -> int:
    mode = item.get("mode")
    return int(mode) if mode is not None else default_mode


def volume_default_mode(source: Obj) -> int:
    mode = source.get("defaultMode")
    return int(mode) if mode is not None else DEFAULT_MODE


async def project(ctx: VolumeContext, target: str, payload: Mapping[str, atomicwriter.FileProjection], *,
                  memory: bool, log_context: str) -> bool:
    """Write ``payload`` into ``target`` with the atomic writer; True when anything changed.

    ``memory`` volumes (secret, projected) sit on their own tmpfs as root, as upstream wraps them in
    a memory-backed emptyDir, so their contents never reach the disk."""
    # One trip to a thread for the whole set-up: each hop costs more than the file work it carries.
    return await asyncio.to_thread(_project, target, payload, memory and ctx.isolated, log_context)


def _project(target: str, payload: Mapping[str, atomicwriter.FileProjection], tmpfs: bool, log_context: str) -> bool:
    _make_dir(target)
    if tmpfs and not mounts.is_mount_point(target):
        try:
            mounts.mount_tmpfs_blocking(target)
        except mounts.MountError as e:
            raise SetUpFailed(str(e)) from e
    try:
        return atomicwriter.write(target, payload, log_context)
    except (OSError, ValueError) as e:
        raise SetUpFailed(str(e)) from e


def _make_dir(path: str) -> None:
    if not os.path.isdir(path):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, VOLUME_DIR_MODE)

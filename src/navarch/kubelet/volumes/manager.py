"""The kubelet's volume manager: set up a pod's volumes before its containers start, tell the runtime
where each volumeMount lives on the host, keep object-backed volumes current, and clean up.

Upstream splits this across the volume manager's reconciler and ``makeMounts``; here one object does
it with no background task: the pod workers call ``setup`` before creating containers, ``mounts`` when
building each ContainerConfig, ``refresh`` on their periodic resync (upstream re-projects configMap
and secret volumes on its sync period too), and ``teardown`` once the pod is gone. Calls for one pod
are serialised (the atomic writer needs one writer per target); different pods run concurrently.
Files are written off the event loop (``asyncio.to_thread``); ``mounts`` makes at most a few small
syscalls (subPath directories) and is synchronous.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Collection, Mapping
from typing import Any

from navarch.kubelet import envvars
from navarch.kubelet.runtimes.interface import CreateContainerConfigError, Mount
from navarch.kubelet.volumes import (
    configmap,
    downwardapi,
    emptydir,
    hostpath,
    mounts,
    projected,
    secret,
)
from navarch.kubelet.volumes.plugin import (
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    VolumeError,
    pod_uid,
)

log = logging.getLogger(__name__)

PLUGINS: tuple[Plugin, ...] = (emptydir.PLUGIN, hostpath.PLUGIN, configmap.PLUGIN, secret.PLUGIN,
                               downwardapi.PLUGIN, projected.PLUGIN)


def _source_key(volume: Obj) -> str:
    return next((k for k in volume if k != "name"), "")


class VolumeManager:
    """Volumes of the pods of one node, under ``{root_dir}/pods/{uid}/volumes``. ``isolated``: the
    kubelet runs as root, so memory-backed volumes get their tmpfs mounts."""

    def __init__(self, root_dir: str, client: Any, *, isolated: bool,
                 node_allocatable: Mapping[str, Any] | None = None, objects: Any = None) -> None:
        from navarch.kubelet.token import TokenManager

        self.ctx = VolumeContext(root_dir=root_dir, client=client, isolated=isolated,
                                 node_allocatable=dict(node_allocatable or {}),
                                 tokens=TokenManager(client) if client is not None else None, objects=objects)
        self.plugins = {p.source: p for p in PLUGINS}
        self._ready: dict[str, set[str]] = {}  # pod uid -> volumes set up by this process
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def node_allocatable(self) -> Mapping[str, Any]:
        return self.ctx.node_allocatable

    @node_allocatable.setter
    def node_allocatable(self, value: Mapping[str, Any]) -> None:
        """Limits a downwardAPI resourceFieldRef defaults to; the kubelet sets it from its Node."""
        self.ctx.node_allocatable = dict(value)

    def pod_volumes_dir(self, uid: str) -> str:
        return os.path.join(self.ctx.pod_dir(uid), "volumes")

    # ---- setup and refresh ----------------------------------------------------------------------

    async def setup(self, pod: Obj) -> set[str]:
        """Set up every volume of the pod not set up yet (idempotent; after a kubelet restart every
        volume is checked again); returns the names set up by this call. Raises ``VolumeError``
        with one FailedMount message per volume that failed; the others are ready and not redone
        next time."""
        return await self._each(pod, refresh=False)

    async def refresh(self, pod: Obj, skip: Collection[str] = ()) -> None:
        """Re-project configMap, secret, downwardAPI and projected volumes from the current objects
        (except ``skip``: those just set up); a volume whose content is unchanged is not rewritten."""
        await self._each(pod, refresh=True, skip=skip)

    async def _each(self, pod: Obj, *, refresh: bool, skip: Collection[str] = ()) -> set[str]:
        uid = pod_uid(pod)
        if not uid:
            raise ValueError("pod without metadata.uid")
        done: set[str] = set()
        async with self._lock(uid):
            ready = self._ready.setdefault(uid, set())
            failures: list[str] = []
            for volume in (pod.get("spec") or {}).get("volumes") or []:
                name = volume.get("name") or ""
                # setup does what is not done yet; refresh redoes what is done and follows objects.
                if (name in ready) != refresh or name in skip:
                    continue
                plugin = self.plugins.get(_source_key(volume))
                if plugin is None:
                    failures.append(_failed(name, f"volume type {_source_key(volume) or '(none)'} is not supported by navarch"))
                    continue
                if refresh and not plugin.refreshable:
                    continue
                try:
                    await plugin.setup(self.ctx, pod, volume)
                except SetUpFailed as e:
                    failures.append(_failed(name, str(e)))
                    continue
                if name not in ready:
                    ready.add(name)
                    done.add(name)
                    log.debug("volume %s (%s) of pod %s set up", name, plugin.name, _pod_name(pod))
            if failures:
                for message in failures:
                    log.warning("pod %s: %s", _pod_name(pod), message)
                raise VolumeError(failures[0], tuple(failures[1:]))
        return done

    def _lock(self, uid: str) -> asyncio.Lock:
        lock = self._locks.get(uid)
        if lock is None:
            lock = self._locks[uid] = asyncio.Lock()
        return lock

    # ---- mounts ---------------------------------------------------------------------------------

    def mounts(self, pod: Obj, container: Obj, env: Mapping[str, str] | None = None) -> list[Mount]:
        """Where each of the container's volumeMounts is on the host (upstream makeMounts).

        ``env`` is the container's environment, for ``subPathExpr``. A subPath that does not exist is
        created (as a directory with the volume's mode); one that leaves the volume (``..`` or a
        symlink pointing out) is refused. Raises ``CreateContainerConfigError``.
        """
        volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or []}
        cname = container.get("name") or ""
        out: list[Mount] = []
        for vm in container.get("volumeMounts") or []:
            name = vm.get("name") or ""
            volume = volumes.get(name)
            plugin = self.plugins.get(_source_key(volume)) if volume is not None else None
            if volume is None or plugin is None:
                raise CreateContainerConfigError(f'cannot find volume "{name}" to mount into container "{cname}"')
            host = plugin.path(self.ctx, pod, volume)
            sub = vm.get("subPath") or ""
            if vm.get("subPathExpr"):
                sub = _expand_sub_path(vm["subPathExpr"], env or {})
            if sub:
                host = _sub_path(host, sub, name, cname)
            out.append(Mount(container_path=vm.get("mountPath") or "", host_path=host,
                             readonly=bool(vm.get("readOnly")) or plugin.read_only))
        return out

    # ---- teardown -------------------------------------------------------------------------------

    async def teardown(self, pod_uid: str) -> None:
        """Unmount and remove every volume of the pod (hostPath volumes are the node's and stay).
        Nothing is deleted while something under the pod's volumes is still mounted."""
        async with self._lock(pod_uid):
            base = self.pod_volumes_dir(pod_uid)
            for point in await asyncio.to_thread(mounts.mount_points_under, base):
                try:
                    await mounts.unmount(point)
                except mounts.MountError as e:
                    log.warning("pod %s: %s", pod_uid, e)
            left = await asyncio.to_thread(mounts.mount_points_under, base)
            if left:
                raise VolumeError(f"UnmountVolume.TearDown failed for pod {pod_uid}: still mounted: {', '.join(left)}")
            await asyncio.to_thread(_remove_pod_volumes, base)
            self._ready.pop(pod_uid, None)
            self.ctx.forget(pod_uid)
            log.info("volumes of pod %s torn down", pod_uid)
        self._locks.pop(pod_uid, None)


def _failed(volume: str, reason: str) -> str:
    # upstream GenerateError: `MountVolume.SetUp failed for volume "x" : <reason>`
    return f'MountVolume.SetUp failed for volume "{volume}" : {reason}'


def _pod_name(pod: Obj) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _remove_pod_volumes(base: str) -> None:
    shutil.rmtree(base, ignore_errors=True)
    pod_dir = os.path.dirname(base)
    try:
        os.rmdir(pod_dir)  # only when nothing else (container dirs, logs) lives there
    except OSError:
        pass


def _expand_sub_path(expr: str, env: Mapping[str, str]) -> str:
    """upstream ExpandContainerVolumeMounts: every reference must name a non-empty variable."""
    missing: set[str] = set()

    def lookup(name: str) -> str:
        value = env.get(name, "")
        if not value:
            missing.add(name)
        return value

    expanded = envvars.expand_with(expr, lookup)
    if missing:
        raise CreateContainerConfigError(f"missing value for {', '.join(sorted(missing))}")
    return expanded


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _sub_path(volume_path: str, sub: str, volume: str, container: str) -> str:
    if os.path.isabs(sub):
        raise CreateContainerConfigError(f"error SubPath `{sub}` must not be an absolute path")
    if ".." in sub.replace("\\", "/").split("/"):
        raise CreateContainerConfigError(f"unable to provision SubPath `{sub}`: must not contain '..'")
    root = os.path.realpath(volume_path)
    target = os.path.join(volume_path, sub)
    # Resolve symlinks before creating anything, so a link inside the volume cannot make us write
    # outside it (upstream SafeMakeDir / PrepareSafeSubpath).
    if not _inside(os.path.realpath(target), root):
        log.warning("subPath %s of volume %s (container %s) leaves the volume", sub, volume, container)
        raise CreateContainerConfigError(
            f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"')
    if not os.path.lexists(target):
        try:
            mode = os.stat(volume_path).st_mode & 0o7777
            os.makedirs(target, exist_ok=True)
            os.chmod(target, mode)
        except OSError as e:
            log.warning("creating subPath %s of volume %s (container %s): %s", sub, volume, container, e)
            raise CreateContainerConfigError(
                f'failed to create subPath directory for volumeMount "{volume}" of container "{container}"') from e
    resolved = os.path.realpath(target)
    if not _inside(resolved, root):
        raise CreateContainerConfigError(
            f'failed to prepare subPath for volumeMount "{volume}" of container "{container}"')
    return resolved

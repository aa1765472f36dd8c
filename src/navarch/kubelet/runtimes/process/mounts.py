"""The container's own mount namespace, set up by the shim just before it spawns the container.

Python 3.11 has no ``os.unshare`` nor ``mount``: this calls libc through ctypes (no extra process,
and errors come back as errno). Steps, as runc does them for bind mounts:
1. ``unshare(CLONE_NEWNS)``: a private copy of the host's mount table;
2. ``/`` made recursively private: the container's own mounts never leak out to the host, and the
   host's later mounts (every other pod's volumes) do not come in, as upstream's default
   ``mountPropagation: None``; with slave propagation, on a host whose ``/`` is shared, each pod's
   volume mounts were copied into every running container's namespace;
3. each Mount bind-mounted (recursively) at its container path, creating the target first (a
   directory, or an empty file when the source is a file: the target must be of the same kind);
   note that without a separate root filesystem the target is created on the host's filesystem;
4. read-only mounts remounted with ``MS_RDONLY`` (a bind mount takes that only on a remount).
Only the standard library is imported: the shim uses this module.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Sequence
from typing import Any

CLONE_NEWNS = 0x00020000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 0x2


class Libc:
    """libc's unshare/mount/setns, loaded once in the parent so the child only calls them."""

    def __init__(self) -> None:
        # dlopen(NULL): the interpreter already has libc loaded; find_library would run ldconfig.
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                     ctypes.c_void_p)
        self._libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)
        self._libc.unshare.argtypes = (ctypes.c_int,)
        self._libc.setns.argtypes = (ctypes.c_int, ctypes.c_int)

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags), "unshare")

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._check(self._libc.setns(fd, nstype), "setns")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
              ) -> None:
        self._check(self._libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)),
                    f"mount {source or ''} on {target}")

    def umount(self, target: str, flags: int = 0) -> None:
        self._check(self._libc.umount2(_b(target), flags), f"umount {target}")

    @staticmethod
    def _check(result: int, what: str) -> None:
        if result != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")


@functools.cache
def libc() -> Libc:
    """The one ``Libc`` of a long-lived process (the kubelet's runtime and volumes)."""
    return Libc()


def _b(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def enter_mount_namespace(libc: Libc, mounts: Sequence[dict[str, Any]]) -> int:
    """Move the calling (single-threaded) process into a new mount namespace set up for a container,
    and return a descriptor of the namespace it was in, for ``leave_mount_namespace``. The shim does
    this around spawning the container, which inherits the namespace: no fork of the shim is needed
    to prepare it. On failure the caller is back in its own namespace."""
    home = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setup_mount_namespace(libc, mounts)
    except BaseException:
        leave_mount_namespace(libc, home)
        raise
    return home


def leave_mount_namespace(libc: Libc, home: int) -> None:
    """Back to the namespace ``home`` (from ``enter_mount_namespace``), and close it. The container's
    namespace lives on as long as a process is in it."""
    try:
        libc.setns(home, CLONE_NEWNS)
    finally:
        os.close(home)
    os.chdir("/")  # setns moved us to the namespace's root; say so explicitly


def setup_mount_namespace(libc: Libc, mounts: Sequence[dict[str, Any]]) -> None:
    """Unshare the calling process's mount namespace and bind ``mounts`` (Mount dicts:
    container_path, host_path, readonly) into it."""
    libc.unshare(CLONE_NEWNS)
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    for m in mounts:
        source, target = m["host_path"], m["container_path"]
        if os.path.isdir(source):
            os.makedirs(target, exist_ok=True)
        elif not os.path.exists(target):
            os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
            with open(target, "a"):
                pass
        libc.mount(source, target, None, MS_BIND | MS_REC)
        if m.get("readonly"):
            libc.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def is_mount_point(path: str) -> bool:
    """``os.path.ismount`` for directories the kubelet made: the parent is taken as the kernel
    resolves ``..`` (one lstat) instead of ``realpath`` walking every component of a deep pod path."""
    try:
        here = os.lstat(path)
        parent = os.lstat(os.path.join(path, ".."))
    except (OSError, ValueError):
        return False
    return here.st_dev != parent.st_dev or here.st_ino == parent.st_ino

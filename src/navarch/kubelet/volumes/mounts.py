"""The few mount operations volumes need (tmpfs for memory-backed and projected volumes), as
mount(2)/umount2(2) calls: a ``mount`` process per pod cost more CPU than the rest of its volume
set-up. Only used when the kubelet runs as root."""

from __future__ import annotations

import asyncio
import logging
import os

from navarch.kubelet.runtimes.process import mounts as process_mounts
from navarch.kubelet.runtimes.process.mounts import MNT_DETACH, libc

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"

# The volume plugins find every mount call here; the runtime checks its state mount with it too.
is_mount_point = process_mounts.is_mount_point


class MountError(Exception):
    pass


async def mount_tmpfs(path: str, size_bytes: int | None = None) -> None:
    # In a thread: a mount waits on the kernel's mount lock, which another mount may hold.
    await asyncio.to_thread(mount_tmpfs_blocking, path, size_bytes)


def mount_tmpfs_blocking(path: str, size_bytes: int | None = None) -> None:
    """``mount_tmpfs`` for code already off the event loop."""
    data = f"size={size_bytes}" if size_bytes else None
    try:
        libc().mount("tmpfs", path, "tmpfs", 0, data)
    except OSError as e:
        raise MountError(e.strerror) from None
    log.debug("mounted tmpfs at %s%s", path, f" (size {size_bytes})" if size_bytes else "")


async def unmount(path: str) -> None:
    try:
        await asyncio.to_thread(libc().umount, path)
    except OSError:
        # Busy (a process still has a file open): detach it now, the kernel frees it when released.
        try:
            await asyncio.to_thread(libc().umount, path, MNT_DETACH)
        except OSError as e:
            raise MountError(e.strerror) from None
    log.debug("unmounted %s", path)


def unmount_all_under(directory: str) -> int:
    """Detach every mount inside ``directory`` (deepest first); how many. For whoever removes a
    kubelet's root dir after it stopped with pods still running (test and benchmark harnesses):
    their volume mounts stay, as upstream's do, and a mount point cannot be deleted."""
    if os.geteuid() != 0:
        return 0
    done = 0
    for path in mount_points_under(directory):
        try:
            libc().umount(path, MNT_DETACH)
            done += 1
        except OSError as e:
            log.warning("unmounting %s: %s", path, e.strerror)
    return done


def mount_points_under(directory: str, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points strictly inside ``directory``, deepest first (the order to unmount them in)."""
    base = os.path.realpath(directory).rstrip("/") + "/"
    found: list[str] = []
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) > 4:
                    point = _unescape(fields[4])
                    if point.startswith(base):
                        found.append(point)
    except FileNotFoundError:
        return []
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def _unescape(text: str) -> str:
    r"""mountinfo escapes space, tab, newline and backslash as ``\040`` style octal."""
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 3 < len(text) and text[i + 1:i + 4].isdigit():
            out.append(chr(int(text[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(text[i])
            i += 1
    return "".join(out)

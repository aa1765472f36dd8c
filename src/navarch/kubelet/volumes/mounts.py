"""The few mount operations volumes need (tmpfs for memory-backed volumes), through mount(8)/umount(8)
run as subprocesses so the event loop never blocks; only used when the kubelet runs as root."""

from __future__ import annotations

import asyncio
import logging
import os

log = logging.getLogger(__name__)

MOUNTINFO = "/proc/self/mountinfo"


class MountError(Exception):
    pass


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        text = (err or out).decode(errors="replace").strip()
        raise MountError(f"{' '.join(argv)} failed: exit status {proc.returncode}: {text}")


async def mount_tmpfs(path: str, size_bytes: int | None = None) -> None:
    options = ["size=" + str(size_bytes)] if size_bytes else []
    argv = ["mount", "-t", "tmpfs"]
    if options:
        argv += ["-o", ",".join(options)]
    await _run(*argv, "tmpfs", path)
    log.info("mounted tmpfs at %s%s", path, f" (size {size_bytes})" if size_bytes else "")


async def unmount(path: str) -> None:
    try:
        await _run("umount", path)
    except MountError:
        # Busy (a process still has a file open): detach it now, the kernel frees it when released.
        await _run("umount", "-l", path)
    log.info("unmounted %s", path)


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

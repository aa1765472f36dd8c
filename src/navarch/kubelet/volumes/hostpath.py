"""hostPath: a path of the node itself (upstream kubernetes.io/host-path), checked against ``type``
with upstream's messages; ``DirectoryOrCreate``/``FileOrCreate`` create what is missing."""

from __future__ import annotations

import asyncio
import os
import stat

from navarch.kubelet.volumes.plugin import (
    Obj,
    Plugin,
    SetUpFailed,
    VolumeContext,
    go_error,
)

NAME = "kubernetes.io/host-path"


def path(ctx: VolumeContext, pod: Obj, volume: Obj) -> str:
    return (volume.get("hostPath") or {}).get("path") or ""


async def setup(ctx: VolumeContext, pod: Obj, volume: Obj) -> None:
    source = volume.get("hostPath") or {}
    await asyncio.to_thread(check_type, source.get("path") or "", source.get("type") or "")


def _mode(p: str) -> int | None:
    try:
        return os.stat(p).st_mode
    except OSError:
        return None


def check_type(p: str, kind: str) -> None:
    """upstream checkTypeInternal. An empty type checks nothing (the path may not even exist)."""
    if kind == "":
        return
    mode = _mode(p)
    if kind == "DirectoryOrCreate":
        if mode is None:
            try:
                os.makedirs(p, 0o755, exist_ok=True)
            except OSError as e:
                raise SetUpFailed(go_error("mkdir", p, e)) from e
            return
        kind = "Directory"
    elif kind == "FileOrCreate":
        if mode is None:
            try:
                os.close(os.open(p, os.O_CREAT | os.O_RDONLY, 0o644))
            except OSError as e:
                raise SetUpFailed(go_error("open", p, e)) from e
            return
        kind = "File"
    checks = {
        "Directory": (stat.S_ISDIR, "a directory"),
        "File": (stat.S_ISREG, "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"),
        "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if kind not in checks:
        raise SetUpFailed(f"{kind} is an invalid volume type")
    test, what = checks[kind]
    if mode is None or not test(mode):
        raise SetUpFailed(f"hostPath type check failed: {p} is not {what}")


PLUGIN = Plugin(name=NAME, source="hostPath", read_only=False, refreshable=False, path=path, setup=setup)

"""Reading container logs as ``kubectl logs`` prints them: across rotated files, with ``tail_lines``,
``since``, ``timestamps`` and ``limit_bytes``, and following the current file by polling (cheap, no
inotify watches to run out of) until the container has exited and the file is read to its end."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from navarch.kubelet.runtimes.process import crilog

FOLLOW_POLL = 0.1


async def read_logs(path: str, *, follow: bool = False, tail_lines: int | None = None,
                    since: datetime | None = None, timestamps: bool = False, limit_bytes: int | None = None,
                    done: Callable[[], bool] = lambda: True) -> AsyncIterator[bytes]:
    """What ``kubectl logs`` prints, chunk by chunk. ``done`` says whether the writer has finished
    (the container exited and its shim closed the log): following stops at the end of the current
    file once it is true."""
    files = crilog.log_files(path)
    index, offset = 0, 0
    # (inode, size): where a tail that does not follow ends, so that what the container writes
    # while it is read does not lengthen the last N lines.
    end: tuple[int, int] | None = None
    if tail_lines is not None:
        index, offset, end = await asyncio.to_thread(crilog.tail_start, files, tail_lines)
        if follow:
            end = None
    remaining = limit_bytes
    current = files[index] if index < len(files) else path
    while True:
        try:
            f = open(current, "rb")  # noqa: SIM115, ASYNC230 - a local file, read in small chunks
        except FileNotFoundError:
            f = None
        if f is None:
            if not follow or done():
                return
            await asyncio.sleep(FOLLOW_POLL)
            files = crilog.log_files(path)
            current = files[0] if files else path
            continue
        with f:
            inode = os.fstat(f.fileno()).st_ino
            pos = f.seek(offset)
            offset = 0
            carry = b""
            limit = end[1] if end is not None and end[0] == inode else None
            while True:
                finished = done()  # before reading: what is written by then is all there will be
                want = crilog.READ_CHUNK if limit is None else min(crilog.READ_CHUNK, limit - pos)
                if want <= 0:
                    return  # the tail's last record is read
                chunk = f.read(want)
                pos += len(chunk)
                if chunk:
                    data = carry + chunk
                    cut = data.rfind(b"\n") + 1
                    carry = data[cut:]
                    out = crilog.format_records(data[:cut], since, timestamps)
                    if out:
                        if remaining is not None:
                            out = out[:remaining]
                            remaining -= len(out)
                        yield out
                        if remaining is not None and remaining <= 0:
                            return
                    continue
                # At the end of this file: is it still the current one?
                listing = crilog.log_files(path)
                inodes = [_inode(p) for p in listing]
                if inode in inodes and inodes.index(inode) < len(listing) - 1:
                    current = listing[inodes.index(inode) + 1]
                    break
                if inode not in inodes and listing:
                    current = listing[0]  # ours was deleted by rotation: everything left is newer
                    break
                if not follow or finished:
                    return
                await asyncio.sleep(FOLLOW_POLL)


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None

"""Frames on a shim's attach socket (the container's stdio, shared by ``kubectl attach`` sessions).

Each frame is one type byte, a 4-byte big-endian length, then the payload. Shim to client: STDOUT,
STDERR (output as the container writes it) and EXIT (the exit code in ASCII, last frame). Client to
shim: STDIN, CLOSE_STDIN (honoured only for ``stdinOnce`` containers, as upstream) and RESIZE
(columns, rows as two big-endian 16-bit numbers).
Only the standard library is imported: the shim uses this module.
"""

from __future__ import annotations

import fcntl
import struct
import termios
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

STDIN, STDOUT, STDERR, EXIT, CLOSE_STDIN, RESIZE = range(6)
HEADER = struct.Struct(">BI")


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Raises ``asyncio.IncompleteReadError`` at end of stream."""
    kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
    return kind, (await reader.readexactly(length) if length else b"")


def set_winsize(fd: int, cols: int, rows: int) -> None:
    """Resize a pty (its foreground process group gets SIGWINCH from the kernel)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

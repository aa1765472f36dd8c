"""Container logs in the CRI format, as containerd writes them and the kubelet reads them.

One record per line: ``<RFC3339Nano UTC> <stdout|stderr> <F|P> <message>``, ``F`` ending a line
(its newline dropped), ``P`` a piece of a line too long for one record (upstream splits at 16 KiB).
The writer (run by the shim) rotates by size as the kubelet's container log manager does:
the named file (``{container id}.log``) is current, ``.log.1`` the newest rotated one, up to
``max_files`` files in all. ``logreader.py`` turns records back into what ``kubectl logs`` prints,
with the helpers here.

Only the standard library is imported, and not asyncio: the shim runs the writer.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import NamedTuple

# Upstream (containerd's cio) cuts lines into 16 KiB records.
MAX_RECORD = 16 * 1024
READ_CHUNK = 64 * 1024


def cri_timestamp(ns: int | None = None) -> bytes:
    """RFC3339 with nine fractional digits, always UTC (the fixed width keeps records aligned)."""
    ns = time.time_ns() if ns is None else ns
    sec, frac = divmod(ns, 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z").encode()


class LogWriter:
    """Splits a stream's bytes into records and appends them; not thread-safe (the shim is one loop)."""

    def __init__(self, path: str, max_bytes: int, max_files: int) -> None:
        self.path = path
        self.max_bytes = max(max_bytes, 1)
        self.max_files = max(max_files, 1)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._pending: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._pending[stream]
        buf += data
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._line(stream, bytes(buf[start:end]))
            start = end + 1
        del buf[:start]
        while len(buf) >= MAX_RECORD:
            self._record(stream, b"P", bytes(buf[:MAX_RECORD]))
            del buf[:MAX_RECORD]

    def finish(self, stream: str) -> None:
        """The stream ended: an unterminated last line is still a whole line (as containerd logs it)."""
        buf = self._pending[stream]
        if buf:
            self._record(stream, b"F", bytes(buf))
            buf.clear()

    def close(self) -> None:
        for stream in self._pending:
            self.finish(stream)
        os.close(self._fd)

    def _line(self, stream: str, line: bytes) -> None:
        while len(line) > MAX_RECORD:
            self._record(stream, b"P", line[:MAX_RECORD])
            line = line[MAX_RECORD:]
        self._record(stream, b"F", line)

    def _record(self, stream: str, tag: bytes, message: bytes) -> None:
        record = b"%s %s %s %s\n" % (cri_timestamp(), stream.encode(), tag, message)
        if self._size > 0 and self._size + len(record) > self.max_bytes:
            self._rotate()
        # One write per record: a follower never reads half a record followed by another's bytes.
        os.write(self._fd, record)
        self._size += len(record)

    def _rotate(self) -> None:
        os.close(self._fd)
        keep = self.max_files - 1
        if keep <= 0:
            os.unlink(self.path)
        else:
            for i in range(keep, 0, -1):
                src = f"{self.path}.{i}"
                if not os.path.exists(src):
                    continue
                if i == keep:
                    os.unlink(src)
                else:
                    os.replace(src, f"{self.path}.{i + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = 0


# ---- reading -----------------------------------------------------------------------------------------

class Record(NamedTuple):  # not a dataclass: that would pull ``inspect`` into the zygote
    timestamp: bytes
    stream: bytes
    partial: bool
    message: bytes

    def time(self) -> datetime:
        return parse_timestamp(self.timestamp)


def parse_record(line: bytes) -> Record | None:
    """One CRI log line (without its newline); None for a line that is not one (skipped, as upstream)."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    ts, stream, tag = parts[0], parts[1], parts[2]
    if stream not in (b"stdout", b"stderr") or tag not in (b"F", b"P"):
        return None
    return Record(ts, stream, tag == b"P", parts[3] if len(parts) == 4 else b"")


def parse_timestamp(ts: bytes) -> datetime:
    text = ts.decode()
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = head + "." + rest[:min(digits, 6)].ljust(6, "0") + rest[digits:]
    return datetime.fromisoformat(text).astimezone(UTC)


def rfc3339nano(ts: bytes) -> bytes:
    """Go's RFC3339Nano, as the kubelet prints ``--timestamps``: trailing zeros of the fraction dropped."""
    if b"." not in ts:
        return ts
    head, rest = ts.split(b".", 1)
    digits = len(rest) - len(rest.lstrip(b"0123456789"))
    frac, zone = rest[:digits].rstrip(b"0"), rest[digits:]
    return head + (b"." + frac if frac else b"") + zone


def log_files(path: str) -> list[str]:
    """Oldest first, the current file last (if it exists)."""
    rotated: list[tuple[int, str]] = []
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory or ".")
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(base + ".") and name[len(base) + 1:].isdigit():
            rotated.append((int(name[len(base) + 1:]), os.path.join(directory, name)))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if os.path.exists(path):
        files.append(path)
    return files


def tail_start(files: list[str], n: int) -> tuple[int, int, tuple[int, int] | None]:
    """(index into files, byte offset) where the last ``n`` records begin, and the (inode, size) of
    the last file as counted: the writer may append meanwhile, and those are the last ``n`` records
    only up to there."""
    end: tuple[int, int] | None = None
    if n <= 0:
        if not files:
            return 0, 0, None
        st = os.stat(files[-1])
        return len(files) - 1, st.st_size, (st.st_ino, st.st_size)
    count = 0
    for index in range(len(files) - 1, -1, -1):
        try:
            f = open(files[index], "rb")  # noqa: SIM115 - closed below; a missing file is skipped
        except FileNotFoundError:
            continue
        with f:
            size = f.seek(0, os.SEEK_END)
            if end is None:
                end = (os.fstat(f.fileno()).st_ino, size)
            pos = size
            while pos > 0:
                step = min(READ_CHUNK, pos)
                pos -= step
                f.seek(pos)
                block = f.read(step)
                stop = len(block)
                if pos + stop == size and block.endswith(b"\n"):
                    stop -= 1  # the newline ending the last record starts nothing
                while True:
                    i = block.rfind(b"\n", 0, stop)
                    if i < 0:
                        break
                    count += 1
                    if count == n:
                        return index, pos + i + 1, end
                    stop = i
            if size > 0:
                count += 1  # the file's first record
                if count == n:
                    return index, 0, end
    return 0, 0, end


def format_records(data: bytes, since: datetime | None, timestamps: bool) -> bytes:
    out = bytearray()
    for line in data.split(b"\n"):
        if not line:
            continue
        record = parse_record(line)
        if record is None:
            continue
        if since is not None:
            try:
                if record.time() < since:
                    continue
            except ValueError:
                continue
        if timestamps:
            out += rfc3339nano(record.timestamp) + b" "
        out += record.message
        if not record.partial:
            out += b"\n"
    return bytes(out)

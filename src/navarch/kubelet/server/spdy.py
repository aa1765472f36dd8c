"""SPDY/3.1 framing and an asyncio connection, as far as Kubernetes streaming uses it.

kubectl's port-forward (and exec/attach before WebSockets) multiplexes streams over one upgraded
connection with SPDY/3.1 (draft 3.1 of the SPDY protocol), through Go's moby/spdystream. This module
speaks the same wire format:

- frames: DATA and the control frames SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY,
  HEADERS and WINDOW_UPDATE (``FrameEncoder`` / ``FrameDecoder``, sans I/O);
- header blocks are zlib streams primed with the SPDY/3 dictionary; each direction of a connection
  keeps ONE compression context for its whole life, so blocks must be encoded in wire order and
  decoded in arrival order (a frame cannot be decoded on its own);
- ``SpdyConnection`` runs one connection over any byte transport given as two coroutines (read a
  chunk, write bytes), so the same code serves a raw upgraded TCP/TLS connection and the bytes that
  kubectl >= 1.31 tunnels inside WebSocket binary messages.

Flow control: SPDY/3.1 gives every stream and the session a 64 KiB send window that the receiver
reopens with WINDOW_UPDATE. spdystream implements none of it: it never sends WINDOW_UPDATE and
ignores the ones it receives. A sender that honoured the windows would therefore stall after 64 KiB
towards kubectl, so, like spdystream, this module accepts SETTINGS and WINDOW_UPDATE and does not
block on windows. Back-pressure comes from the transport instead: the read loop stops reading while a
stream holds more than ``max_stream_buffer`` unread bytes (spdystream blocks its frame handler the
same way).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import itertools
import logging
import struct
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

VERSION = 3

FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02  # SYN_STREAM only
FLAG_CLEAR_SETTINGS = 0x01  # SETTINGS only

MAX_FRAME_LENGTH = 2**24 - 1
DEFAULT_INITIAL_WINDOW_SIZE = 65536
# Decompressed header blocks beyond this are refused: a small compressed block can expand a lot.
MAX_HEADER_BLOCK = 1 << 20
# DATA frames we send carry at most this much (io.Copy on the Go side writes 32 KiB at a time).
MAX_DATA_CHUNK = 1 << 16


class FrameType(enum.IntEnum):
    SYN_STREAM = 1
    SYN_REPLY = 2
    RST_STREAM = 3
    SETTINGS = 4
    PING = 6
    GOAWAY = 7
    HEADERS = 8
    WINDOW_UPDATE = 9


class RstStatus(enum.IntEnum):
    PROTOCOL_ERROR = 1
    INVALID_STREAM = 2
    REFUSED_STREAM = 3
    UNSUPPORTED_VERSION = 4
    CANCEL = 5
    INTERNAL_ERROR = 6
    FLOW_CONTROL_ERROR = 7
    STREAM_IN_USE = 8
    STREAM_ALREADY_CLOSED = 9
    FRAME_TOO_LARGE = 11


class GoAwayStatus(enum.IntEnum):
    OK = 0
    PROTOCOL_ERROR = 1
    INTERNAL_ERROR = 2


class SettingId(enum.IntEnum):
    UPLOAD_BANDWIDTH = 1
    DOWNLOAD_BANDWIDTH = 2
    ROUND_TRIP_TIME = 3
    MAX_CONCURRENT_STREAMS = 4
    CURRENT_CWND = 5
    DOWNLOAD_RETRANS_RATE = 6
    INITIAL_WINDOW_SIZE = 7
    CLIENT_CERTIFICATE_VECTOR_SIZE = 8


def _build_dictionary() -> bytes:
    """The SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): length-prefixed header
    names and common values, then a run of status lines, dates and content types. 1423 bytes."""
    prefixed = (
        "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
        "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
        "cache-control", "connection", "content-base", "content-encoding", "content-language",
        "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
        "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
        "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
        "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
        "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
        "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
        "set-cookie", "keep-alive", "origin",
    )
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
        "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
        "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 "
        "Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
        "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
        "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    words = b"".join(struct.pack(">I", len(w)) + w.encode("ascii") for w in prefixed)
    return words + tail.encode("ascii")


DICTIONARY = _build_dictionary()


class SpdyError(Exception):
    """The peer broke the protocol (the connection cannot go on) or the connection is gone."""


class StreamClosedError(SpdyError):
    """Writing to a stream that was half-closed locally or reset."""


# ---- frames ---------------------------------------------------------------------------------------

# Header names are lower case on the wire; one name carries several values joined by NUL.
Headers = Mapping[str, Sequence[str]]
HeaderInput = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class DataFrame:
    stream_id: int
    data: bytes = b""
    flags: int = 0


@dataclass(frozen=True)
class SynStreamFrame:
    stream_id: int
    headers: Headers
    associated_stream_id: int = 0
    priority: int = 0
    slot: int = 0
    flags: int = 0


@dataclass(frozen=True)
class SynReplyFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class RstStreamFrame:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Setting:
    id: int
    value: int
    flags: int = 0


@dataclass(frozen=True)
class SettingsFrame:
    settings: tuple[Setting, ...] = ()
    flags: int = 0


@dataclass(frozen=True)
class PingFrame:
    ping_id: int


@dataclass(frozen=True)
class GoAwayFrame:
    last_good_stream_id: int
    status: int = GoAwayStatus.OK


@dataclass(frozen=True)
class HeadersFrame:
    stream_id: int
    headers: Headers
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdateFrame:
    stream_id: int
    delta: int


Frame = (DataFrame | SynStreamFrame | SynReplyFrame | RstStreamFrame | SettingsFrame | PingFrame
         | GoAwayFrame | HeadersFrame | WindowUpdateFrame)


def normalize_headers(headers: HeaderInput | None) -> dict[str, list[str]]:
    """Lower-cased names (SPDY requires it; Go canonicalises on its side), values as lists."""
    out: dict[str, list[str]] = {}
    for name, value in (headers or {}).items():
        values = [value] if isinstance(value, str) else list(value)
        out.setdefault(name.lower(), []).extend(values)
    return out


def first_header(headers: Headers, name: str) -> str:
    """The first value of ``name`` (case-insensitive), or "" when absent."""
    values = headers.get(name.lower()) or ()
    return values[0] if values else ""


def encode_header_block(headers: HeaderInput | None) -> bytes:
    """The uncompressed name/value block: count, then length-prefixed names and NUL-joined values."""
    pairs = normalize_headers(headers)
    parts = [struct.pack(">I", len(pairs))]
    for name, values in pairs.items():
        raw_name = name.encode("utf-8")
        raw_value = "\0".join(values).encode("utf-8")
        if not raw_name:
            raise ValueError("empty header name")
        parts += [struct.pack(">I", len(raw_name)), raw_name, struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(parts)


def decode_header_block(block: bytes) -> dict[str, list[str]]:
    view = memoryview(block)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(view):
            raise SpdyError("truncated header block")
        chunk = bytes(view[pos:pos + n])
        pos += n
        return chunk

    (count,) = struct.unpack(">I", take(4))
    headers: dict[str, list[str]] = {}
    for _ in range(count):
        (name_len,) = struct.unpack(">I", take(4))
        name = take(name_len).decode("utf-8", "replace")
        (value_len,) = struct.unpack(">I", take(4))
        value = take(value_len).decode("utf-8", "replace")
        if not name:
            raise SpdyError("empty header name")
        if name in headers:
            raise SpdyError(f"duplicate header {name!r}")
        headers[name.lower()] = value.split("\0")
    if pos != len(view):
        raise SpdyError("trailing bytes after header block")
    return headers


class HeaderCompressor:
    """One direction's compression context: every block continues the same zlib stream, flushed to a
    byte boundary (Z_SYNC_FLUSH) so the peer can decode it as soon as the frame arrives."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                   zdict=DICTIONARY)

    def compress(self, headers: HeaderInput | None) -> bytes:
        block = encode_header_block(headers)
        return self._z.compress(block) + self._z.flush(zlib.Z_SYNC_FLUSH)


class HeaderDecompressor:
    def __init__(self, max_block: int = MAX_HEADER_BLOCK) -> None:
        self._z = zlib.decompressobj(zdict=DICTIONARY)
        self._max = max_block

    def decompress(self, data: bytes) -> dict[str, list[str]]:
        try:
            block = self._z.decompress(data, self._max)
        except zlib.error as exc:
            raise SpdyError(f"header block decompression failed: {exc}") from exc
        if self._z.unconsumed_tail:
            raise SpdyError("header block too large")
        return decode_header_block(block)


def _control(frame_type: FrameType, flags: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME_LENGTH:
        raise ValueError("control frame too large")
    return struct.pack(">HHI", 0x8000 | VERSION, frame_type, (flags << 24) | len(payload)) + payload


def _check_stream_id(stream_id: int) -> None:
    if not 0 < stream_id <= 0x7FFFFFFF:
        raise ValueError(f"invalid stream id {stream_id}")


class FrameEncoder:
    """Serialises frames; owns this direction's header compression context, so the bytes it returns
    must reach the wire in the order they were encoded."""

    def __init__(self) -> None:
        self._headers = HeaderCompressor()

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            _check_stream_id(frame.stream_id)
            if len(frame.data) > MAX_FRAME_LENGTH:
                raise ValueError("data frame too large")
            return struct.pack(">II", frame.stream_id, (frame.flags << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStreamFrame):
            _check_stream_id(frame.stream_id)
            head = struct.pack(">IIBB", frame.stream_id, frame.associated_stream_id & 0x7FFFFFFF,
                               (frame.priority & 0x7) << 5, frame.slot)
            return _control(FrameType.SYN_STREAM, frame.flags, head + self._headers.compress(frame.headers))
        if isinstance(frame, SynReplyFrame):
            _check_stream_id(frame.stream_id)
            payload = struct.pack(">I", frame.stream_id) + self._headers.compress(frame.headers)
            return _control(FrameType.SYN_REPLY, frame.flags, payload)
        if isinstance(frame, HeadersFrame):
            _check_stream_id(frame.stream_id)
            payload = struct.pack(">I", frame.stream_id) + self._headers.compress(frame.headers)
            return _control(FrameType.HEADERS, frame.flags, payload)
        if isinstance(frame, RstStreamFrame):
            _check_stream_id(frame.stream_id)
            return _control(FrameType.RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, SettingsFrame):
            entries = b"".join(struct.pack(">II", (s.flags << 24) | (s.id & 0xFFFFFF), s.value)
                               for s in frame.settings)
            return _control(FrameType.SETTINGS, frame.flags, struct.pack(">I", len(frame.settings)) + entries)
        if isinstance(frame, PingFrame):
            return _control(FrameType.PING, 0, struct.pack(">I", frame.ping_id))
        if isinstance(frame, GoAwayFrame):
            payload = struct.pack(">II", frame.last_good_stream_id & 0x7FFFFFFF, frame.status)
            return _control(FrameType.GOAWAY, 0, payload)
        if isinstance(frame, WindowUpdateFrame):
            payload = struct.pack(">II", frame.stream_id & 0x7FFFFFFF, frame.delta & 0x7FFFFFFF)
            return _control(FrameType.WINDOW_UPDATE, 0, payload)
        raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameDecoder:
    """Turns received bytes, chunked arbitrarily, into frames; owns the peer's compression context.
    Unknown control frame types are skipped, as the draft requires."""

    def __init__(self) -> None:
        self._headers = HeaderDecompressor()
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, flags_len = struct.unpack_from(">II", self._buf)
            length = flags_len & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = flags_len >> 24
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise SpdyError(f"unsupported SPDY version {version}")
                frame = self._control(first & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                stream_id = first & 0x7FFFFFFF
                if stream_id == 0:
                    raise SpdyError("data frame on stream 0")
                frames.append(DataFrame(stream_id, payload, flags))
        return frames

    def _control(self, frame_type: int, flags: int, payload: bytes) -> Frame | None:
        def need(n: int) -> None:
            if len(payload) < n:
                raise SpdyError(f"control frame type {frame_type} too short")

        if frame_type == FrameType.SYN_STREAM:
            need(10)
            stream_id, assoc, prio, slot = struct.unpack_from(">IIBB", payload)
            headers = self._headers.decompress(payload[10:])
            stream_id &= 0x7FFFFFFF
            if stream_id == 0:
                raise SpdyError("SYN_STREAM on stream 0")
            return SynStreamFrame(stream_id, headers, assoc & 0x7FFFFFFF, prio >> 5, slot, flags)
        if frame_type in (FrameType.SYN_REPLY, FrameType.HEADERS):
            need(4)
            (stream_id,) = struct.unpack_from(">I", payload)
            headers = self._headers.decompress(payload[4:])
            stream_id &= 0x7FFFFFFF
            if frame_type == FrameType.SYN_REPLY:
                return SynReplyFrame(stream_id, headers, flags)
            return HeadersFrame(stream_id, headers, flags)
        if frame_type == FrameType.RST_STREAM:
            need(8)
            stream_id, status = struct.unpack_from(">II", payload)
            return RstStreamFrame(stream_id & 0x7FFFFFFF, status)
        if frame_type == FrameType.SETTINGS:
            need(4)
            (count,) = struct.unpack_from(">I", payload)
            need(4 + 8 * count)
            settings = []
            for i in range(count):
                flag_id, value = struct.unpack_from(">II", payload, 4 + 8 * i)
                settings.append(Setting(flag_id & 0xFFFFFF, value, flag_id >> 24))
            return SettingsFrame(tuple(settings), flags)
        if frame_type == FrameType.PING:
            need(4)
            return PingFrame(struct.unpack_from(">I", payload)[0])
        if frame_type == FrameType.GOAWAY:
            need(4)
            (last,) = struct.unpack_from(">I", payload)
            # SPDY/3 added the status word; accept its absence.
            status = struct.unpack_from(">I", payload, 4)[0] if len(payload) >= 8 else GoAwayStatus.OK
            return GoAwayFrame(last & 0x7FFFFFFF, status)
        if frame_type == FrameType.WINDOW_UPDATE:
            need(8)
            stream_id, delta = struct.unpack_from(">II", payload)
            return WindowUpdateFrame(stream_id & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        return None


# ---- connection -----------------------------------------------------------------------------------

ByteReader = Callable[[], Awaitable[bytes]]
"""Returns the next chunk received, b"" once the transport reached its end."""
ByteWriter = Callable[[bytes], Awaitable[None]]
"""Sends bytes, waiting while the transport is congested; raises once it is gone."""
StreamHandler = Callable[["SpdyStream"], Awaitable[None]]


class SpdyStream:
    """One SPDY stream. Reads return b"" once the peer half-closed (FIN), reset the stream, or the
    connection ended. ``close()`` half-closes our side; the stream is forgotten by the connection once
    both sides are closed or it was reset."""

    def __init__(self, conn: SpdyConnection, stream_id: int, headers: Headers, *, local: bool) -> None:
        self._conn = conn
        self.id = stream_id
        self.headers: dict[str, list[str]] = normalize_headers(headers)
        self.reply_headers: dict[str, list[str]] = {}
        self.local = local  # opened by this side
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._changed = asyncio.Event()  # data arrived, or the stream ended
        self._drained = asyncio.Event()
        self._drained.set()
        self._replied = asyncio.Event()  # SYN_REPLY sent (remote stream) or received (local stream)
        self._got_reply = False
        self._discard = False
        self.remote_closed = False
        self.local_closed = False
        self.was_reset = False
        self.reset_status: int | None = None

    def __repr__(self) -> str:
        return f"<SpdyStream {self.id} {dict(self.headers)!r}>"

    @property
    def replied(self) -> bool:
        return self._replied.is_set()

    async def reply(self, headers: HeaderInput | None = None, *, fin: bool = False) -> None:
        """Accept a stream the peer opened (SYN_REPLY); the Go client waits for it before using it."""
        if self.local:
            raise SpdyError("cannot reply to a stream this side opened")
        if self.replied or self.was_reset:
            return
        self._replied.set()
        if fin:
            self.local_closed = True
        await self._conn._send(SynReplyFrame(self.id, normalize_headers(headers), FLAG_FIN if fin else 0))
        self._conn._maybe_forget(self)

    async def wait_reply(self, timeout: float | None = None) -> None:
        """For streams opened here: until the peer's SYN_REPLY (raises SpdyError if it reset instead)."""
        await asyncio.wait_for(self._replied.wait(), timeout)
        if not self._got_reply:
            raise SpdyError(f"stream {self.id} ended before a reply (reset status {self.reset_status})")

    async def read(self) -> bytes:
        while not self._chunks:
            if self.remote_closed or self.was_reset or self._discard:
                return b""
            self._changed.clear()
            await self._changed.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._buffered <= self._conn.max_stream_buffer // 2:
            self._drained.set()
        return chunk

    async def read_all(self, limit: int = 1 << 20) -> bytes:
        """Everything until the peer half-closes (at most ``limit`` bytes are kept)."""
        out = bytearray()
        while chunk := await self.read():
            if len(out) < limit:
                out += chunk[: limit - len(out)]
        return bytes(out)

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        for start in range(0, len(view), MAX_DATA_CHUNK):
            if self.local_closed or self.was_reset:
                raise StreamClosedError(f"stream {self.id} is closed for writing")
            await self._conn._send(DataFrame(self.id, bytes(view[start:start + MAX_DATA_CHUNK])))

    async def close(self) -> None:
        """Half-close: tell the peer we send nothing more (FIN). Idempotent."""
        if self.local_closed or self.was_reset or self._conn.closed:
            self.local_closed = True
            return
        self.local_closed = True
        if not self.local and not self.replied:
            self._replied.set()
            await self._conn._send(SynReplyFrame(self.id, {}, FLAG_FIN))
        else:
            await self._conn._send(DataFrame(self.id, b"", FLAG_FIN))
        self._conn._maybe_forget(self)

    def stop_reading(self) -> None:
        """Drop what the peer sends from now on (and what is buffered): for a stream whose reader
        is done, so that unread data cannot hold up the connection's read loop."""
        self._discard = True
        self._chunks.clear()
        self._buffered = 0
        self._drained.set()
        self._changed.set()

    async def reset(self, status: int = RstStatus.CANCEL) -> None:
        """Abort both directions (RST_STREAM); unread data is dropped."""
        if self.was_reset:
            return
        self._mark_reset(None)
        if not self._conn.closed:
            await self._conn._send(RstStreamFrame(self.id, status))

    # ---- called by the connection ----

    def _deliver(self, data: bytes, fin: bool) -> None:
        if data and not self.remote_closed and not self.was_reset and not self._discard:
            self._chunks.append(data)
            self._buffered += len(data)
            if self._buffered > self._conn.max_stream_buffer:
                self._drained.clear()
        if fin:
            self.remote_closed = True
        self._changed.set()

    def _mark_reset(self, status: int | None) -> None:
        self.was_reset = True
        self.reset_status = status
        self.remote_closed = self.local_closed = True
        self._chunks.clear()
        self._buffered = 0
        self._drained.set()
        self._replied.set()
        self._changed.set()
        self._conn._forget(self)

    def _mark_ended(self) -> None:
        self.remote_closed = self.local_closed = True
        self._drained.set()
        self._replied.set()
        self._changed.set()


@dataclass
class _Ping:
    sent: float
    done: asyncio.Future[float] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SpdyConnection:
    """A SPDY/3.1 session over a byte transport. Call ``run()`` (it returns when the transport ends,
    the peer breaks the protocol, or ``close()`` is called); streams the peer opens are handed to
    ``on_stream``, awaited in the read loop, so the handler must only reply or reset and hand longer
    work to tasks. Peer PINGs are answered; SETTINGS and WINDOW_UPDATE are accepted and not enforced
    (see the module docstring)."""

    def __init__(self, read: ByteReader, write: ByteWriter, *, server: bool,
                 on_stream: StreamHandler | None = None, max_stream_buffer: int = 1 << 20) -> None:
        self._read = read
        self._write = write
        self._server = server
        self._on_stream = on_stream
        self.max_stream_buffer = max_stream_buffer
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._write_lock = asyncio.Lock()
        self._streams: dict[int, SpdyStream] = {}
        self._next_stream_id = 2 if server else 1
        self._last_peer_stream_id = 0
        self._ping_ids = itertools.count(2 if server else 1, 2)
        self._pings: dict[int, _Ping] = {}
        self._goaway_sent = False
        self.goaway_received = False
        self.closed = False
        self._done = asyncio.Event()
        self.peer_settings: dict[int, int] = {}

    @property
    def streams(self) -> list[SpdyStream]:
        return list(self._streams.values())

    async def run(self) -> None:
        try:
            while not self.closed:
                try:
                    data = await self._read()
                except (ConnectionError, OSError) as exc:
                    log.debug("spdy: transport failed: %s", exc)
                    break
                if not data:
                    break
                for frame in self._decoder.feed(data):
                    await self._handle(frame)
        except SpdyError as exc:
            if not self.closed:
                log.info("spdy: closing connection after protocol error: %s", exc)
                await self._try_send(GoAwayFrame(self._last_peer_stream_id, GoAwayStatus.PROTOCOL_ERROR))
        finally:
            self._end()

    async def wait_closed(self) -> None:
        await self._done.wait()

    async def open_stream(self, headers: HeaderInput, *, fin: bool = False) -> SpdyStream:
        """Open a stream (SYN_STREAM); use ``wait_reply`` to wait for the peer to accept it."""
        if self.closed or self.goaway_received:
            raise SpdyError("connection is closed")
        stream_id = self._next_stream_id
        self._next_stream_id += 2
        stream = SpdyStream(self, stream_id, normalize_headers(headers), local=True)
        self._streams[stream_id] = stream
        if fin:
            stream.local_closed = True
        await self._send(SynStreamFrame(stream_id, stream.headers, flags=FLAG_FIN if fin else 0))
        return stream

    async def ping(self, timeout: float = 10.0) -> float:
        """Round-trip time of one PING, in seconds."""
        ping_id = next(self._ping_ids) & 0xFFFFFFFF
        pending = _Ping(time.monotonic())
        self._pings[ping_id] = pending
        try:
            await self._send(PingFrame(ping_id))
            return await asyncio.wait_for(asyncio.shield(pending.done), timeout)
        finally:
            self._pings.pop(ping_id, None)

    async def send_settings(self, settings: Iterable[Setting]) -> None:
        await self._send(SettingsFrame(tuple(settings)))

    async def close(self, status: int = GoAwayStatus.OK) -> None:
        """Say GOAWAY (once) and stop: open streams end, ``run()`` returns at its next read."""
        if not self._goaway_sent and not self.closed:
            self._goaway_sent = True
            await self._try_send(GoAwayFrame(self._last_peer_stream_id, status))
        self._end()

    # ---- internals -------------------------------------------------------------------------------

    async def _send(self, frame: Frame) -> None:
        if self.closed:
            raise SpdyError("connection is closed")
        # Encode under the lock: the header compression context must see blocks in wire order.
        async with self._write_lock:
            if self.closed:
                raise SpdyError("connection is closed")
            try:
                await self._write(self._encoder.encode(frame))
            except (ConnectionError, OSError, RuntimeError) as exc:
                # The transport is gone (or refuses writes after its close): so is the session.
                self._end()
                raise SpdyError(f"transport failed: {exc}") from exc

    async def _try_send(self, frame: Frame) -> None:
        try:
            await self._send(frame)
        except (SpdyError, ConnectionError, OSError, RuntimeError) as exc:
            log.debug("spdy: could not send %s: %s", type(frame).__name__, exc)

    def _end(self) -> None:
        if self.closed:
            return
        self.closed = True
        for stream in list(self._streams.values()):
            stream._mark_ended()
        self._streams.clear()
        for pending in self._pings.values():
            if not pending.done.done():
                pending.done.set_exception(SpdyError("connection closed"))
        self._done.set()

    def _forget(self, stream: SpdyStream) -> None:
        if self._streams.get(stream.id) is stream:
            del self._streams[stream.id]

    def _maybe_forget(self, stream: SpdyStream) -> None:
        if stream.local_closed and stream.remote_closed:
            self._forget(stream)

    def _is_peer_id(self, stream_id: int) -> bool:
        # Clients open odd-numbered streams, servers even-numbered ones.
        return (stream_id % 2 == 1) == self._server

    async def _handle(self, frame: Frame) -> None:
        if isinstance(frame, DataFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is None:
                return  # late frames for a stream we already forgot are harmless
            stream._deliver(frame.data, bool(frame.flags & FLAG_FIN))
            self._maybe_forget(stream)
            if not stream._drained.is_set():
                # Stop reading the transport until the stream's reader catches up (back-pressure).
                await stream._drained.wait()
        elif isinstance(frame, SynStreamFrame):
            await self._handle_syn_stream(frame)
        elif isinstance(frame, SynReplyFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is None or not stream.local or stream.replied:
                return
            stream.reply_headers = {name: list(values) for name, values in frame.headers.items()}
            stream._got_reply = True
            stream._replied.set()
            if frame.flags & FLAG_FIN:
                stream._deliver(b"", True)
                self._maybe_forget(stream)
        elif isinstance(frame, HeadersFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None and frame.flags & FLAG_FIN:
                stream._deliver(b"", True)
                self._maybe_forget(stream)
        elif isinstance(frame, RstStreamFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None:
                stream._mark_reset(frame.status)
        elif isinstance(frame, PingFrame):
            if self._is_peer_id(frame.ping_id):
                await self._send(frame)  # echo, as the draft asks
            else:
                pending = self._pings.get(frame.ping_id)
                if pending is not None and not pending.done.done():
                    pending.done.set_result(time.monotonic() - pending.sent)
        elif isinstance(frame, GoAwayFrame):
            self.goaway_received = True
        elif isinstance(frame, SettingsFrame):
            for setting in frame.settings:
                self.peer_settings[setting.id] = setting.value
        # WINDOW_UPDATE: accepted, not enforced (module docstring).

    async def _handle_syn_stream(self, frame: SynStreamFrame) -> None:
        if not self._is_peer_id(frame.stream_id) or frame.stream_id <= self._last_peer_stream_id:
            # The draft makes this a session error; spdystream only resets the stream. Do the same.
            await self._send(RstStreamFrame(frame.stream_id, RstStatus.PROTOCOL_ERROR))
            return
        self._last_peer_stream_id = frame.stream_id
        if self.goaway_received or self._goaway_sent or self._on_stream is None:
            await self._send(RstStreamFrame(frame.stream_id, RstStatus.REFUSED_STREAM))
            return
        stream = SpdyStream(self, frame.stream_id, frame.headers, local=False)
        self._streams[frame.stream_id] = stream
        if frame.flags & FLAG_FIN:
            stream.remote_closed = True
        if frame.flags & FLAG_UNIDIRECTIONAL:
            stream.local_closed = True
        await self._on_stream(stream)

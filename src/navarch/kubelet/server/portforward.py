"""The kubelet's port-forward endpoint: kubectl's streams in, the runtime's port streams out.

kubectl reaches it in one of two ways (KUBECTL.md section 7.4), both carrying SPDY/3.1:
- kubectl >= 1.31 first tries a WebSocket upgrade offering the subprotocol
  ``SPDY/3.1+portforward.k8s.io``; every binary message then carries raw SPDY bytes, chunked
  arbitrarily (upstream the API server unwraps them; navarch's API server relays the upgraded
  connection byte for byte, so the kubelet unwraps them itself);
- older kubectl (and newer ones after a failed WebSocket upgrade) POSTs with ``Upgrade: SPDY/3.1``
  and ``X-Stream-Protocol-Version: portforward.k8s.io`` and speaks SPDY on the raw connection.

Inside SPDY, each local connection accepted by kubectl opens an ``error`` and a ``data`` stream
(headers ``streamType``, ``port``, ``requestID``). They are paired by requestID; the data stream's
bytes are copied to and from ``runtime.port_forward(sandbox_id, port)``. Anything written on the
error stream makes kubectl print ``an error occurred forwarding L -> R: <text>`` and drop the whole
session, so it is written only when the port cannot be reached (upstream's wording, with the sandbox
id as pod name and an empty uid, as containerd's streaming server reports it). Connection resets by
the target are not reported there (upstream kubernetes#111825): the local connection just closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from navarch.kubelet.runtimes.interface import PortStream, Runtime
from navarch.kubelet.server import spdy
from navarch.kubelet.server.upgraded import (
    header_tokens,
    spdy_upgrade_missing,
    switch_to_spdy,
)

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
TUNNEL_PREFIX = "SPDY/3.1+"
TUNNEL_PROTOCOL = TUNNEL_PREFIX + PROTOCOL
HEADER_PROTOCOL_VERSION = "X-Stream-Protocol-Version"
HEADER_ACCEPTED_PROTOCOL_VERSIONS = "X-Accepted-Stream-Protocol-Versions"

# Upstream kubelet defaults: streams of one forwarded connection must both arrive within 30 s.
STREAM_CREATION_TIMEOUT = 30.0


async def handle_portforward(request: web.Request, runtime: Runtime, sandbox_id: str, *,
                             stream_creation_timeout: float = STREAM_CREATION_TIMEOUT) -> web.StreamResponse:
    """Serve one port-forward session for the pod sandbox ``sandbox_id`` until kubectl goes away."""
    session = PortForwardSession(runtime, sandbox_id, stream_creation_timeout=stream_creation_timeout)
    if request.headers.get("Upgrade", "").strip().lower() == "websocket":
        return await _serve_websocket(request, session)
    return await _serve_spdy_upgrade(request, session)


# ---- transports -----------------------------------------------------------------------------------

async def _serve_websocket(request: web.Request, session: PortForwardSession) -> web.StreamResponse:
    offered = header_tokens(request, "Sec-WebSocket-Protocol")
    if TUNNEL_PROTOCOL not in offered:
        # Upstream's tunnelling handler answers the same; kubectl then falls back to plain SPDY.
        return web.Response(status=400, text="unable to upgrade: no tunneling spdy protocols provided\n")
    ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=0, autoping=True)
    await ws.prepare(request)

    async def read() -> bytes:
        while True:
            msg = await ws.receive()
            if msg.type == WSMsgType.BINARY:
                if msg.data:
                    return bytes(msg.data)
                continue  # an empty message is not the end of the stream
            if msg.type == WSMsgType.TEXT:
                log.info("portforward: text message on the SPDY tunnel; closing")
            return b""

    async def write(data: bytes) -> None:
        await ws.send_bytes(data)

    try:
        await session.serve(read, write)
    finally:
        # kubectl reads a normal closure (1000) as the end of the tunnel.
        await ws.close()
    return ws


async def _serve_spdy_upgrade(request: web.Request, session: PortForwardSession) -> web.StreamResponse:
    refused = spdy_upgrade_missing(request)
    if refused is not None:
        return refused
    offered = header_tokens(request, HEADER_PROTOCOL_VERSION)
    if PROTOCOL not in offered:
        return web.Response(
            status=403, headers={HEADER_ACCEPTED_PROTOCOL_VERSIONS: PROTOCOL},
            text=f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                 f"server accepts {[PROTOCOL]}\n")
    read, write, response = await switch_to_spdy(request, {HEADER_PROTOCOL_VERSION: PROTOCOL})
    await session.serve(read, write)
    return response


# ---- the port-forward protocol ----------------------------------------------------------------------

@dataclass
class _StreamPair:
    request_id: str
    error: spdy.SpdyStream | None = None
    data: spdy.SpdyStream | None = None
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, stream_type: str, stream: spdy.SpdyStream) -> str:
        """An error message if this pair already has a stream of that type."""
        if stream_type == "error":
            if self.error is not None:
                return "error stream already assigned"
            self.error = stream
        else:
            if self.data is not None:
                return "data stream already assigned"
            self.data = stream
        if self.error is not None and self.data is not None:
            self.complete.set()
        return ""

    async def print_error(self, message: str) -> None:
        if self.error is not None:
            with contextlib.suppress(spdy.SpdyError):
                await self.error.write(message.encode())


class PortForwardSession:
    """One kubectl connection: pairs the streams it opens and forwards each pair to the runtime."""

    def __init__(self, runtime: Runtime, sandbox_id: str, *,
                 stream_creation_timeout: float = STREAM_CREATION_TIMEOUT) -> None:
        self._runtime = runtime
        self._sandbox_id = sandbox_id
        self._timeout = stream_creation_timeout
        self._pairs: dict[str, _StreamPair] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._conn: spdy.SpdyConnection | None = None

    async def serve(self, read: spdy.ByteReader, write: spdy.ByteWriter) -> None:
        conn = spdy.SpdyConnection(read, write, server=True, on_stream=self._on_stream)
        self._conn = conn
        log.debug("portforward: session for sandbox %s started", self._sandbox_id)
        try:
            await conn.run()
        finally:
            await conn.close()
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.debug("portforward: session for sandbox %s ended", self._sandbox_id)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_stream(self, stream: spdy.SpdyStream) -> None:
        problem = _validate(stream.headers)
        if problem:
            log.info("portforward: rejecting stream %d: %s", stream.id, problem)
            await stream.reset()
            return
        await stream.reply()
        stream_type = spdy.first_header(stream.headers, "streamType")
        request_id = spdy.first_header(stream.headers, "requestID")
        if not request_id:
            # Clients older than request ids: error and data streams come as consecutive odd ids.
            request_id = str(stream.id if stream_type == "error" else stream.id - 2)
        pair = self._pairs.get(request_id)
        if pair is None:
            pair = self._pairs[request_id] = _StreamPair(request_id)
            self._spawn(self._monitor(pair), f"portforward-pair-{request_id}")
        problem = pair.add(stream_type, stream)
        if problem:
            await pair.print_error(f"error processing stream for request {request_id}: {problem}")
        elif pair.complete.is_set():
            self._spawn(self._forward(pair), f"portforward-{request_id}")

    async def _monitor(self, pair: _StreamPair) -> None:
        try:
            await asyncio.wait_for(pair.complete.wait(), self._timeout)
        except TimeoutError:
            message = f"(conn={id(self._conn):#x}, request={pair.request_id}) timed out waiting for streams"
            log.info("portforward: %s", message)
            await pair.print_error(message)
            for stream in (pair.error, pair.data):
                if stream is not None:
                    stream.stop_reading()
                    with contextlib.suppress(spdy.SpdyError):
                        await stream.close()
        finally:
            self._pairs.pop(pair.request_id, None)

    async def _forward(self, pair: _StreamPair) -> None:
        assert pair.data is not None and pair.error is not None
        data, error = pair.data, pair.error
        port = int(spdy.first_header(data.headers, "port"))
        try:
            try:
                target = await self._runtime.port_forward(self._sandbox_id, port)
            except Exception as exc:  # noqa: BLE001 - any failure to connect is the user's to read
                message = f"error forwarding port {port} to pod {self._sandbox_id}, uid : {exc}"
                log.info("portforward: %s", message)
                await pair.print_error(message)
                return
            try:
                await _copy_both_ways(data, target)
            except Exception as exc:  # noqa: BLE001 - upstream reports every copy failure but resets
                if _is_reset(exc):
                    log.info("portforward: port %d of sandbox %s reset the connection", port, self._sandbox_id)
                else:
                    message = f"error forwarding port {port} to pod {self._sandbox_id}, uid : {exc}"
                    log.warning("portforward: %s", message)
                    await pair.print_error(message)
            finally:
                with contextlib.suppress(Exception):
                    await target.close()
        finally:
            for stream in (data, error):
                # kubectl resets the data stream once we close it; until then, ignore what it sends.
                stream.stop_reading()
                with contextlib.suppress(spdy.SpdyError):
                    await stream.close()


def _validate(headers: spdy.Headers) -> str:
    """Upstream's checks on a new stream, with its messages; "" when the stream is acceptable."""
    port = spdy.first_header(headers, "port")
    if not port:
        return '"port" header is required'
    try:
        value = int(port, 10)
    except ValueError:
        return f"unable to parse {port!r} as a port"
    if not 0 < value < 65536:
        return f"port {port!r} must be > 0" if value < 1 else f"unable to parse {port!r} as a port"
    stream_type = spdy.first_header(headers, "streamType")
    if not stream_type:
        return '"streamType" header is required'
    if stream_type not in ("error", "data"):
        return f"invalid stream type {stream_type!r}"
    return ""


def _is_reset(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return True
    return isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)


async def _copy_both_ways(stream: spdy.SpdyStream, target: PortStream) -> None:
    """Until the target closes its side (or kubectl resets the data stream): kubectl -> target and
    target -> kubectl. When kubectl half-closes, the target is half-closed too if it can be
    (``write_eof``, as asyncio streams name it), so request/response servers see the end."""

    async def to_target() -> None:
        while chunk := await stream.read():
            await target.write(chunk)
        if stream.was_reset:
            return
        write_eof = getattr(target, "write_eof", None)
        if write_eof is not None:
            await write_eof()
        await asyncio.get_running_loop().create_future()  # keep going until the target side finishes

    async def from_target() -> None:
        while chunk := await target.read():
            try:
                await stream.write(chunk)
            except spdy.SpdyError:  # kubectl reset the stream, or the session is gone
                return

    upstream = asyncio.create_task(to_target(), name="portforward-to-target")
    downstream = asyncio.create_task(from_target(), name="portforward-from-target")
    try:
        done, _ = await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # surface the first failure
    finally:
        for task in (upstream, downstream):
            task.cancel()
        await asyncio.gather(upstream, downstream, return_exceptions=True)

"""``kubectl exec`` and ``attach`` over SPDY/3.1: what kubectl 1.27–1.29 speaks by default, and later
ones after a refused WebSocket upgrade (KUBECTL.md section 7.3).

kubectl POSTs with ``Upgrade: SPDY/3.1`` and offers protocol versions in ``X-Stream-Protocol-Version``;
we answer 101 with the one chosen, then the client opens one SPDY stream per channel, named by its
``streamType`` header: ``error`` always, ``stdin``, ``stdout`` and ``stderr`` as the request asks
(no ``stderr`` under a TTY), ``resize`` under a TTY from v3 on. Each stream gets its SYN_REPLY at once
(the Go client waits for it); the command starts once every expected stream is there.

Versions differ only in what the error stream carries at the end: v4 and v5 a ``metav1.Status`` JSON
(kubectl turns its exit code cause into its own exit code), v1 to v3 the failure's text alone. stdin's
end is the stream's FIN (no close channel as in WebSocket v5). kubectl reads stdout, stderr and the
error stream to their FIN before it exits, so every output byte is sent, then those streams are
half-closed, the status written and the error stream closed, and last the session is ended (GOAWAY).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from navarch.kubelet.runtimes.interface import RuntimeFailure, StreamSession
from navarch.kubelet.server import channels, spdy
from navarch.kubelet.server.options import StreamRequest
from navarch.kubelet.server.upgraded import (
    header_tokens,
    spdy_upgrade_missing,
    switch_to_spdy,
)

log = logging.getLogger("navarch.kubelet.server")

HEADER_PROTOCOL_VERSION = "X-Stream-Protocol-Version"
HEADER_ACCEPTED_PROTOCOL_VERSIONS = "X-Accepted-Stream-Protocol-Versions"
V5, V4, V3, V2, V1 = "v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"
PROTOCOLS = (V5, V4, V3, V2, V1)
# Upstream kubelet's default: the client must have opened every stream within 30 s.
STREAM_CREATION_TIMEOUT = 30.0

OpenSession = Callable[[], Awaitable[StreamSession]]


def negotiate(offered: list[str]) -> str | None:
    """The first version the client offers that we speak; V1 when it offers none (as upstream's
    handshake, which then leaves the header out of the 101)."""
    if not offered:
        return V1
    return next((p for p in offered if p in PROTOCOLS), None)


def expected_streams(protocol: str, opts: StreamRequest) -> set[str]:
    want = {"error"}
    if opts.stdin:
        want.add("stdin")
    if opts.stdout:
        want.add("stdout")
    if opts.stderr and not opts.tty:
        want.add("stderr")
    if opts.tty and protocol not in (V1, V2):
        want.add("resize")
    return want


async def serve(request: web.Request, opts: StreamRequest, open_session: OpenSession, *, exec_: bool,
                stream_creation_timeout: float = STREAM_CREATION_TIMEOUT) -> web.StreamResponse:
    refused = spdy_upgrade_missing(request)
    if refused is not None:
        return refused
    offered = header_tokens(request, HEADER_PROTOCOL_VERSION)
    protocol = negotiate(offered)
    if protocol is None:
        return web.Response(
            status=403, headers={HEADER_ACCEPTED_PROTOCOL_VERSIONS: ", ".join(PROTOCOLS)},
            text=f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                 f"server accepts {list(PROTOCOLS)}\n")
    read, write, response = await switch_to_spdy(request, {HEADER_PROTOCOL_VERSION: protocol} if offered else {})
    session = _Session(protocol, opts, open_session, exec_, stream_creation_timeout)
    await session.serve(read, write)
    return response


class _Session:
    def __init__(self, protocol: str, opts: StreamRequest, open_session: OpenSession, exec_: bool,
                 timeout: float) -> None:
        self.protocol = protocol
        # What goes on the error stream: the Status JSON (v4, v5) or the failure's text (v1-v3).
        self.channel = channels.PROTOCOLS[channels.V4 if protocol in (V4, V5) else channels.V1]
        self.opts = opts
        self.open_session = open_session
        self.exec_ = exec_
        self.timeout = timeout
        self.expected = expected_streams(protocol, opts)
        self.streams: dict[str, spdy.SpdyStream] = {}
        self.ready = asyncio.Event()

    async def _on_stream(self, stream: spdy.SpdyStream) -> None:
        kind = spdy.first_header(stream.headers, "streamType")
        if kind not in self.expected or kind in self.streams:
            log.info("exec/attach over SPDY: unexpected stream %r; resetting it", kind)
            await stream.reset()
            return
        await stream.reply()
        self.streams[kind] = stream
        if self.expected <= self.streams.keys():
            self.ready.set()

    async def serve(self, read: spdy.ByteReader, write: spdy.ByteWriter) -> None:
        conn = spdy.SpdyConnection(read, write, server=True, on_stream=self._on_stream)
        running = asyncio.create_task(conn.run(), name="spdy-exec-connection")
        try:
            if not await self._streams_ready(running):
                return
            try:
                session = await self.open_session()
            except RuntimeFailure as e:
                what = "executing command in" if self.exec_ else "attaching to"
                await self._finish(channels.failure_status(f"error {what} container: {e}"))
                return
            await self._run(session, running)
        finally:
            await conn.close()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running

    async def _streams_ready(self, running: asyncio.Task[None]) -> bool:
        ready = asyncio.create_task(self.ready.wait())
        try:
            done, _ = await asyncio.wait({ready, running}, timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if ready in done:
            return True
        if running not in done:
            log.info("exec/attach over SPDY: timed out waiting for the client to create streams "
                     "(have %s, want %s)", sorted(self.streams), sorted(self.expected))
        return False

    async def _run(self, session: StreamSession, running: asyncio.Task[None]) -> None:
        inputs = [asyncio.create_task(self._stdin(session), name="spdy-exec-stdin")]
        if "resize" in self.streams:
            inputs.append(asyncio.create_task(self._resize(session), name="spdy-exec-resize"))
        outputs = asyncio.gather(self._pump(session.read_stdout, "stdout"),
                                 self._pump(session.read_stderr, "stderr"))
        try:
            done, _ = await asyncio.wait({outputs, running}, return_when=asyncio.FIRST_COMPLETED)
            if outputs not in done:
                # The client went away: nobody reads the output any more. An exec'd process keeps
                # its own fate, as upstream's does when the stream drops.
                return
            outputs.result()
            await self._finish(await self._status(session))
        finally:
            for task in (*inputs, outputs):
                task.cancel()
            for task in (*inputs, outputs):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.opts.stdin:
                with contextlib.suppress(RuntimeFailure, ConnectionError, OSError):
                    await session.close_stdin()

    async def _status(self, session: StreamSession) -> dict[str, Any]:
        if not self.exec_:
            return channels.success_status()  # upstream's attach: Success whatever the exit code
        try:
            code = await session.wait()
        except RuntimeFailure as e:
            return channels.failure_status(f"error executing command in container: {e}")
        return channels.success_status() if code == 0 else channels.exit_code_status(code, self.opts.command)

    async def _finish(self, status: dict[str, Any]) -> None:
        with contextlib.suppress(spdy.SpdyError):
            for kind in ("stdout", "stderr"):
                if kind in self.streams:
                    await self.streams[kind].close()
            error = self.streams["error"]
            payload = self.channel.status(status)
            if payload:
                await error.write(payload)
            await error.close()

    async def _pump(self, read: Callable[[], Awaitable[bytes]], kind: str) -> None:
        stream = self.streams.get(kind)
        # Output nobody asked for is still drained, so the process never blocks on a full pipe.
        while chunk := await read():
            if stream is not None:
                try:
                    await stream.write(chunk)
                except spdy.SpdyError:
                    stream = None  # the client reset it (or left): drain the rest

    async def _stdin(self, session: StreamSession) -> None:
        stream = self.streams.get("stdin")
        if stream is None:
            return
        while chunk := await stream.read():
            await session.write_stdin(chunk)
        if not stream.was_reset:
            await session.close_stdin()  # the client's FIN: its stdin reached EOF

    async def _resize(self, session: StreamSession) -> None:
        """Resize events are JSON objects one after another on the stream (Go's json.Encoder)."""
        stream = self.streams["resize"]
        decoder = json.JSONDecoder()
        text = ""
        while chunk := await stream.read():
            text += chunk.decode("utf-8", "replace")
            while True:
                text = text.lstrip()
                try:
                    event, end = decoder.raw_decode(text)
                except ValueError:
                    break  # an incomplete object: wait for more
                text = text[end:]
                size = channels.resize_size(event)
                if size is not None and self.opts.tty:
                    await session.resize(*size)

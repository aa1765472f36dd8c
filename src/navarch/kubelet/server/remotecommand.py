"""Serving one ``kubectl exec`` or ``attach`` over a WebSocket channel protocol.

Order matters to kubectl: every stdout/stderr byte must be sent before the status on the error
channel, and the session must end with close code 1000, else kubectl reports "error reading from
error stream" and loses the exit code. Pings are answered by aiohttp while the reader task receives;
kubectl extends its read deadline only on pongs, so the reader runs for the whole session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from navarch.kubelet.runtimes.interface import RuntimeFailure, StreamSession
from navarch.kubelet.server import channels
from navarch.kubelet.server.options import StreamRequest

log = logging.getLogger("navarch.kubelet.server")

OpenSession = Callable[[], Awaitable[StreamSession]]

# kubectl cp streams a tar on stdin in 32 KiB writes; bound messages well above that.
_MAX_MESSAGE = 16 * 2**20


def offered_protocols(request: web.Request) -> list[str]:
    return [p.strip() for h in request.headers.getall("Sec-WebSocket-Protocol", []) for p in h.split(",")
            if p.strip()]


async def serve(request: web.Request, proto: channels.ChannelProtocol, opts: StreamRequest,
                open_session: OpenSession, *, exec_: bool) -> web.WebSocketResponse:
    """Upgrade, open the runtime session, pump until the process ends or the client leaves."""
    ws = web.WebSocketResponse(protocols=(proto.name,), autoping=True, heartbeat=None,
                               max_msg_size=_MAX_MESSAGE, compress=False)
    await ws.prepare(request)
    try:
        session = await open_session()
    except RuntimeFailure as e:
        # As upstream: a failure to start the stream is reported on the error channel after the upgrade.
        what = "executing command in" if exec_ else "attaching to"
        await _finish(ws, proto, channels.failure_status(f"error {what} container: {e}"))
        return ws
    await _Pumps(ws, proto, opts, session, exec_).run()
    return ws


async def _finish(ws: web.WebSocketResponse, proto: channels.ChannelProtocol, status: dict[str, Any]) -> None:
    payload = proto.status(status)
    if not ws.closed:
        with contextlib.suppress(ConnectionError, RuntimeError):
            if payload or proto.status_json:
                await _send(ws, proto, channels.ERROR, payload)
            await ws.close(code=1000)


async def _send(ws: web.WebSocketResponse, proto: channels.ChannelProtocol, channel: int, data: bytes) -> None:
    frame = proto.encode(channel, data)
    if isinstance(frame, str):
        await ws.send_str(frame)
    else:
        await ws.send_bytes(frame)


class _Pumps:
    def __init__(self, ws: web.WebSocketResponse, proto: channels.ChannelProtocol, opts: StreamRequest,
                 session: StreamSession, exec_: bool) -> None:
        self.ws = ws
        self.proto = proto
        self.opts = opts
        self.session = session
        self.exec_ = exec_
        self.stdin_closed = False

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_client(), name="remotecommand-client-reader")
        outputs = asyncio.gather(self._pump(self.session.read_stdout, channels.STDOUT, self.opts.stdout),
                                 self._pump(self.session.read_stderr, channels.STDERR, self.opts.stderr))
        try:
            done, _ = await asyncio.wait({reader, outputs}, return_when=asyncio.FIRST_COMPLETED)
            if outputs not in done:
                # The client went away (or broke the protocol): nobody is left to read the output.
                # An exec'd process keeps its own fate, as upstream's does when the stream drops.
                outputs.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await outputs
                await self._close_stdin()
                return
            outputs.result()
            status = await self._status()
            await _finish(self.ws, self.proto, status)
        finally:
            # Also on cancellation (the client dropped): leave no pump behind.
            for task in (reader, outputs):
                task.cancel()
            for task in (reader, outputs):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close_stdin()

    async def _status(self) -> dict[str, Any]:
        if not self.exec_:
            # Upstream's attach reports Success whatever the container's exit code.
            return channels.success_status()
        try:
            code = await self.session.wait()
        except RuntimeFailure as e:
            return channels.failure_status(f"error executing command in container: {e}")
        if code == 0:
            return channels.success_status()
        return channels.exit_code_status(code, self.opts.command)

    async def _pump(self, read: Callable[[], Awaitable[bytes]], channel: int, wanted: bool) -> None:
        # Output nobody asked for is still drained, so the process never blocks on a full pipe.
        while True:
            chunk = await read()
            if not chunk:
                return
            if wanted and not self.ws.closed:
                await _send(self.ws, self.proto, channel, chunk)

    async def _read_client(self) -> None:
        async for msg in self.ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                continue
            if msg.type is WSMsgType.TEXT and not self.proto.base64:
                log.info("exec/attach: text message on a binary channel protocol; closing")
                return
            try:
                channel, data = self.proto.decode(msg.data)
            except channels.FrameError as e:
                log.info("exec/attach: bad frame: %s", e)
                return
            if channel == channels.STDIN:
                if self.opts.stdin and data and not self.stdin_closed:
                    await self.session.write_stdin(data)
            elif channel == channels.RESIZE:
                size = channels.parse_resize(data)
                if size is not None and self.opts.tty:
                    await self.session.resize(*size)
            elif channel == channels.CLOSE and self.proto.close_signal and data[:1] == bytes((channels.STDIN,)):
                await self._close_stdin()

    async def _close_stdin(self) -> None:
        if self.stdin_closed:
            return
        self.stdin_closed = True
        if self.opts.stdin:
            with contextlib.suppress(RuntimeFailure, ConnectionError, OSError):
                await self.session.close_stdin()

"""What the kubelet's streaming endpoints share about an HTTP connection that leaves HTTP behind:
the tokens of a list-valued header, and the raw bytes after a SPDY ``101 Switching Protocols``."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web

SPDY_UPGRADE = "SPDY/3.1"


def header_tokens(request: web.Request, name: str) -> list[str]:
    """Every comma-separated value of every ``name`` header, in order."""
    return [token.strip() for value in request.headers.getall(name, ()) for token in value.split(",")
            if token.strip()]


def spdy_upgrade_missing(request: web.Request) -> web.Response | None:
    """Upstream's 400 for a request that does not ask to switch to SPDY/3.1; None when it does."""
    connection = [t.lower() for t in header_tokens(request, "Connection")]
    if "upgrade" not in connection or request.headers.get("Upgrade", "").strip().lower() != SPDY_UPGRADE.lower():
        return web.Response(status=400, text="unable to upgrade: missing upgrade headers in request\n")
    return None


async def switch_to_spdy(request: web.Request, headers: dict[str, str]) -> tuple[
        Callable[[], Awaitable[bytes]], Callable[[bytes], Awaitable[None]], web.StreamResponse]:
    """Answer ``101 Switching Protocols`` (with ``headers`` besides the upgrade ones) and take the
    connection over: its byte reader and writer, and the response to return from the handler."""
    pipe = UpgradedConnection.take_over(request)
    response = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": SPDY_UPGRADE,
                                                       **headers})
    response.force_close()
    writer = await response.prepare(request)
    assert writer is not None

    async def write(data: bytes) -> None:
        if pipe.lost:
            raise ConnectionResetError("connection lost")
        await writer.write(data)

    return pipe.read, write, response


class UpgradedConnection:
    """The raw bytes of an aiohttp connection after a non-WebSocket ``101 Switching Protocols``.

    aiohttp's HTTP parser only treats WebSocket upgrades as upgrades, so without this the SPDY bytes
    would be parsed as the next HTTP request. ``take_over`` installs this object as the connection's
    payload parser (the hook aiohttp's own WebSocketResponse uses), before the 101 is written, so
    every byte after the request reaches ``read()``. Reading pauses the transport while more than
    ``high_water`` bytes wait, so a slow consumer slows the sender instead of filling memory.
    """

    def __init__(self, transport: asyncio.Transport, high_water: int = 1 << 20) -> None:
        self._transport = transport
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._high = high_water
        self._paused = False
        self._changed = asyncio.Event()
        self.lost = False

    @classmethod
    def take_over(cls, request: web.Request) -> UpgradedConnection:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("connection lost")
        pipe = cls(transport)  # type: ignore[arg-type]
        request.protocol.set_parser(pipe)  # type: ignore[arg-type]
        request.protocol.keep_alive(False)
        return pipe

    # aiohttp's payload parser interface
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data:
            self._chunks.append(bytes(data))
            self._buffered += len(data)
            if self._buffered > self._high and not self._paused:
                self._paused = True
                with contextlib.suppress(Exception):
                    self._transport.pause_reading()
            self._changed.set()
        return False, b""

    def feed_eof(self) -> None:
        self.lost = True
        self._changed.set()

    async def read(self) -> bytes:
        while not self._chunks:
            if self.lost:
                return b""
            self._changed.clear()
            await self._changed.wait()
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= self._high // 2:
            self._paused = False
            with contextlib.suppress(Exception):
                self._transport.resume_reading()
        return chunk

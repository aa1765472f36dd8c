"""``Transport``: a capped keep-alive HTTP/1.1 connection pool to one API server, for unary requests.

aiohttp's client spends about twice the CPU of the request itself on machinery a client of one
origin does not need (URL objects, per-request timeout and connector plumbing, stream readers). The
scheduler's and kubelet's throughput is bounded by that CPU, so unary requests go through this
instead: the request head is formatted by hand, the response is parsed by ``httptools`` straight from
``data_received``, and the hot path is a dict lookup, one write and one future.

Failures keep aiohttp's exception types, because every caller already handles those: connect errors
are ``aiohttp.ClientConnectorError`` (and its certificate/SSL/DNS subclasses), a peer that goes away
is ``aiohttp.ServerDisconnectedError`` or ``aiohttp.ClientOSError``, a malformed response is
``aiohttp.ClientPayloadError``, and running out of time is ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from urllib.parse import urlsplit

import aiohttp
import httptools
from aiohttp.client_reqrep import ConnectionKey

# Connections idle longer than this are closed, never reused: it stays below the usual server idle
# timeouts (aiohttp's 75 s, Go's 90 s), so the server rarely closes a connection under our feet.
IDLE_TIMEOUT = 60.0
# How long close() lets TLS connections say goodbye before cutting them.
CLOSE_GRACE = 1.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# Status codes whose responses never carry a body, so they cannot be delimited by EOF.
_NO_BODY = frozenset({204, 304})


class Response:
    """A complete response; ``headers`` keys are lowercase (repeated headers joined with ", ")."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Response({self.status}, {len(self.body)} bytes)"


class Transport:
    """A pool of at most ``max_connections`` connections to the origin of ``server``.

    Past the cap, requests wait for a connection in arrival order: a new TLS handshake costs both
    sides more CPU than a request, so a burst queues rather than dialling. Create it inside the
    running event loop; ``close()`` releases every connection.
    """

    def __init__(self, server: str, ssl_context: ssl.SSLContext | bool, *, server_name: str | None = None,
                 max_connections: int = 16, idle_timeout: float = IDLE_TIMEOUT) -> None:
        url = urlsplit(server)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"server URL {server!r} is not http(s)://host[:port]")
        tls = url.scheme == "https"
        if tls and not isinstance(ssl_context, ssl.SSLContext):
            raise ValueError(f"{server} needs an ssl.SSLContext")
        default_port = 443 if tls else 80
        self.host = url.hostname
        self.port = url.port or default_port
        self.max_connections = max(1, max_connections)
        self.idle_timeout = idle_timeout
        self._ssl: ssl.SSLContext | None = ssl_context if tls else None  # type: ignore[assignment]
        self._server_name = (server_name or self.host) if tls else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._host_line = f"Host: {host}\r\n" if self.port == default_port else f"Host: {host}:{self.port}\r\n"
        self._key = ConnectionKey(self.host, self.port, tls, tls, None, None, None, self._server_name)
        self._loop = asyncio.get_running_loop()
        self._idle: list[_Connection] = []  # oldest first; taken from the end (most recently used)
        self._conns: set[_Connection] = set()
        self._size = 0  # live connections + dials in progress + slots handed to waiters
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def open_connections(self) -> int:
        """Established connections, idle or in use."""
        return len(self._conns)

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None,
                      timeout: float) -> Response:
        """One request and its complete response, all within ``timeout`` seconds.

        ``target`` is the encoded path and query. A reused connection that turns out to have been
        closed by the server while idle (it failed before any response byte) is replaced and the
        request sent once more on a fresh one, for the methods Go's net/http replays (GET, HEAD,
        OPTIONS, TRACE): a write cannot tell a server that closed an idle connection from one that
        died after acting on it, and replaying a create with generateName would make a second object.
        Writes get the error (rare: idle connections are dropped before the server's idle timeout);
        any other failure is the caller's too.
        """
        if self._closed:
            raise aiohttp.ClientConnectionError(f"transport to {self.address} is closed")
        data = self._head(method, target, headers, body)
        if body:
            data += body
        now = self._loop.time()
        deadline = now + timeout
        conn = self._pop_idle(now)
        if conn is None:
            conn = await self._acquire(deadline)
        retried = False
        while True:
            if conn is None:
                conn = await self._connect(deadline)
            try:
                response = await conn.send(data, deadline, method, target)
            except aiohttp.ClientConnectionError:
                if retried or not conn.reused or conn.got_bytes or self._closed or method not in _REPLAYABLE:
                    self._discard(conn)
                    raise
                self._discard(conn, keep_slot=True)
                conn, retried = None, True
                continue
            except BaseException:
                self._discard(conn)
                raise
            if conn.reusable:
                self._release(conn)
            else:
                self._discard(conn)
            return response

    async def close(self) -> None:
        """Close every connection (idle or in use) and fail waiting requests."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(aiohttp.ClientConnectionError(f"transport to {self.address} closed"))
        self._idle.clear()
        conns = list(self._conns)
        self._conns.clear()
        gone = [c.closing(self._loop) for c in conns]
        if gone:
            await asyncio.wait(gone, timeout=CLOSE_GRACE)
            for conn in conns:
                if conn.transport is not None and not conn.lost:
                    conn.transport.abort()

    # ---- the request head ---------------------------------------------------------------------

    def _head(self, method: str, target: str, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1\r\n", self._host_line]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        if body:
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif method in _BODY_METHODS:
            lines.append("Content-Length: 0\r\n")
        lines.append("\r\n")
        head = "".join(lines)
        # A CR or LF inside a value would let it forge headers or a second request; counting them
        # over the whole head is one C-speed pass instead of a check per value.
        if head.count("\n") != len(lines) or head.count("\r") != len(lines):
            raise ValueError(f"{method} {target}: line breaks are not allowed in the request line or headers")
        return head.encode()

    # ---- the pool -----------------------------------------------------------------------------

    def _pop_idle(self, now: float) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            conn.idle = False
            if now - conn.idle_since <= self.idle_timeout:
                return conn
            self._discard(conn)
        return None

    async def _acquire(self, deadline: float) -> _Connection | None:
        """An idle connection, or None when the caller now holds a slot and must dial."""
        if self._size < self.max_connections and not self._waiters:
            self._size += 1
            return None
        waiter: asyncio.Future[_Connection | None] = self._loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # handed over just as we gave up: pass it on
                if handed is None:
                    self._free_slot()
                else:
                    self._release(handed)
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    async def _connect(self, deadline: float) -> _Connection:
        """Dial with the slot the caller holds; the slot is given back if dialling fails."""
        try:
            if self._closed:
                raise aiohttp.ClientConnectionError(f"transport to {self.address} is closed")
            async with asyncio.timeout_at(deadline):
                _, conn = await self._loop.create_connection(
                    lambda: _Connection(self), self.host, self.port, ssl=self._ssl,
                    server_hostname=self._server_name)
        except BaseException as e:
            self._free_slot()
            if isinstance(e, (TimeoutError, aiohttp.ClientError)) or not isinstance(e, OSError):
                raise
            raise self._connect_error(e) from e
        if self._closed:
            conn.transport.abort()
            self._free_slot()
            raise aiohttp.ClientConnectionError(f"transport to {self.address} is closed")
        self._conns.add(conn)
        return conn

    def _connect_error(self, e: OSError) -> aiohttp.ClientConnectorError:
        if isinstance(e, ssl.CertificateError):
            return aiohttp.ClientConnectorCertificateError(self._key, e)
        if e.strerror is None:  # e.g. "Multiple exceptions: ..." from trying several addresses
            e = OSError(e.errno, str(e) or type(e).__name__)
        if isinstance(e, ssl.SSLError):
            return aiohttp.ClientConnectorSSLError(self._key, e)
        if isinstance(e, socket.gaierror):
            return aiohttp.ClientConnectorDNSError(self._key, e)
        return aiohttp.ClientConnectorError(self._key, e)

    def _release(self, conn: _Connection) -> None:
        """A healthy connection goes to the longest waiter, else back to the pool."""
        conn.reused = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle = True
        conn.idle_since = self._loop.time()
        self._idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self._loop.call_at(conn.idle_since + self.idle_timeout, self._sweep)

    def _discard(self, conn: _Connection, *, keep_slot: bool = False) -> None:
        conn.idle = False
        conn.detach()
        self._conns.discard(conn)
        transport = conn.transport
        if transport is not None and not transport.is_closing():
            if conn.abort_on_close:
                transport.abort()
            else:
                transport.close()
        if not keep_slot:
            self._free_slot()

    def _free_slot(self) -> None:
        """A slot frees up: the longest waiter may dial with it, else the pool shrinks."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._size -= 1

    def _lost_while_idle(self, conn: _Connection) -> None:
        try:
            self._idle.remove(conn)
        except ValueError:
            return
        conn.idle = False
        self._conns.discard(conn)
        self._free_slot()

    def _sweep(self) -> None:
        self._sweeper = None
        expiry = self._loop.time() - self.idle_timeout
        while self._idle and self._idle[0].idle_since <= expiry:
            self._discard(self._idle.pop(0))
        if self._idle:
            self._sweeper = self._loop.call_at(self._idle[0].idle_since + self.idle_timeout, self._sweep)


class _Connection(asyncio.Protocol):
    """One connection: at most one request in flight, its response parsed as bytes arrive."""

    def __init__(self, pool: Transport) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle = False
        self.idle_since = 0.0
        self.reused = False
        self.lost = False
        self.got_bytes = False
        self.reusable = False
        self.abort_on_close = False  # after a timeout or a protocol error the peer gets no goodbye
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._on_lost: asyncio.Future[None] | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._until_eof = False
        self._request_line = ("", "")

    def send(self, data: bytes, deadline: float, method: str, target: str) -> asyncio.Future[Response]:
        loop = self.pool._loop
        waiter: asyncio.Future[Response] = loop.create_future()
        self._request_line = (method, target)
        if self.lost or self.transport is None or self.transport.is_closing():
            waiter.set_exception(self._disconnected(None))
            return waiter
        self._waiter = waiter
        self.got_bytes = False
        self.reusable = False
        self._status = 0
        self._timer = loop.call_at(deadline, self._expire)
        self.transport.write(data)
        return waiter

    def detach(self) -> None:
        """The pool stopped caring about this connection's request (it is being discarded)."""
        self._settle()

    def closing(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """Start closing; the future resolves once the connection is gone."""
        gone: asyncio.Future[None] = loop.create_future()
        if self.lost or self.transport is None:
            gone.set_result(None)
        else:
            self._on_lost = gone
            self.transport.close()
        return gone

    # ---- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # nothing asked for: a late or unsolicited response
            self.abort_on_close = True
            self.reusable = False
            self.transport.abort()  # type: ignore[union-attr]
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as e:
            self.abort_on_close = True
            self._fail(aiohttp.ClientPayloadError(
                f"{self._what}: malformed HTTP response from {self.pool.address}: {e}"))
            self.transport.abort()  # type: ignore[union-attr]

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.reusable = False
        if self._on_lost is not None and not self._on_lost.done():
            self._on_lost.set_result(None)
        if self.idle:
            self.pool._lost_while_idle(self)
        elif self._waiter is not None:
            if self._until_eof and self._status:
                self._complete(False)
            else:
                self._fail(self._disconnected(exc))

    # ---- httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second response to one request: the stream cannot be trusted
            self.reusable = False
            self.abort_on_close = True
        self._headers = {}
        self._body = []
        self._until_eof = False

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._status = status = self.parser.get_status_code()
        headers = self._headers
        self._until_eof = ("content-length" not in headers and "transfer-encoding" not in headers
                           and status >= 200 and status not in _NO_BODY)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200 and self._status != 101:
            return  # an interim response (100 Continue, 103 Early Hints): the real one follows
        self._complete(self.parser.should_keep_alive())

    # ---- outcomes -------------------------------------------------------------------------------

    def _complete(self, keep_alive: bool) -> None:
        waiter = self._waiter
        self._settle()
        self._until_eof = False
        if waiter is None or waiter.done():
            return
        self.reusable = keep_alive and not self.lost and self._status != 101
        waiter.set_result(Response(self._status, self._headers, b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        self._settle()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _settle(self) -> None:
        self._waiter = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self.abort_on_close = True  # the connection's state is unknown: it is never reused
        self._fail(TimeoutError(f"{self._what}: no complete response from {self.pool.address} in time"))

    @property
    def _what(self) -> str:
        return " ".join(self._request_line)

    def _disconnected(self, exc: BaseException | None) -> aiohttp.ClientConnectionError:
        if isinstance(exc, OSError) and exc.errno is not None:
            return aiohttp.ClientOSError(exc.errno, f"{self._what}: {exc.strerror} ({self.pool.address})")
        return aiohttp.ServerDisconnectedError(
            f"{self._what}: {self.pool.address} closed the connection before the response was complete")

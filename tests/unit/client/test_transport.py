"""The lean transport against a real aiohttp server, and a raw asyncio server where it must misbehave."""

import asyncio
import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from navarch.client import tls
from navarch.client.kubeconfig import ClientConfig
from navarch.client.transport import Response, Transport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
CLOSE = "close"  # close the connection instead of (or after) answering
HANG = "hang"  # never answer; wait for the client to go away


class RawServer:
    """Answers each request with the next scripted list of steps; counts connections and requests."""

    def __init__(self) -> None:
        self.script: list[list[Any]] = []
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        self.connections = 0
        self.closed = 0
        self.client_went_away = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> "RawServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    def transport(self, **kw: Any) -> Transport:
        return Transport(f"http://127.0.0.1:{self.port}", False, **kw)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.heads.append(head)
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.bodies.append(await reader.readexactly(length) if length else b"")
                for step in self.script.pop(0) if self.script else [OK]:
                    if step == CLOSE:
                        return
                    if step == HANG:
                        await reader.read()
                        self.client_went_away.set()
                        return
                    if isinstance(step, asyncio.Event):
                        await step.wait()
                    else:
                        writer.write(step)
                        await writer.drain()
        finally:
            writer.close()
            self.closed += 1


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = await RawServer().start()
    yield server
    await server.stop()


async def eventually(predicate: Callable[[], bool]) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def get(t: Transport, target: str = "/", timeout: float = 5.0) -> Response:
    return await t.request("GET", target, {"Accept": "application/json"}, None, timeout)


# ---- a real HTTP server ----------------------------------------------------------------------------

class Peers:
    """An aiohttp app that answers with the client's address, so tests can count connections."""

    def __init__(self) -> None:
        self.peers: list[Any] = []
        self.in_flight = 0
        self.peak = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if request.path == "/slow":
                await asyncio.sleep(0.02)  # long enough for the other requests to pile up
            if request.path == "/chunked":
                resp = web.StreamResponse()
                resp.enable_chunked_encoding()
                await resp.prepare(request)
                for piece in (b"hello", b" ", b"world" * 1000):
                    await resp.write(piece)
                await resp.write_eof()
                return resp
            return web.json_response({"method": request.method, "path": request.path,
                                      "query": request.query_string, "body": (await request.read()).decode()},
                                     headers={"Retry-After": "3"})
        finally:
            self.in_flight -= 1


async def serve_app(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                    ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def app() -> AsyncIterator[tuple[Peers, str]]:
    peers = Peers()
    runner, port = await serve_app(peers.handle)
    yield peers, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_sequential_requests_reuse_one_connection(app):
    peers, url = app
    t = Transport(url, False)
    try:
        for i in range(5):
            resp = await get(t, f"/r{i}?a=b")
            assert resp.status == 200 and resp.headers["content-type"].startswith("application/json")
            assert resp.headers["retry-after"] == "3"
        body = (await t.request("POST", "/w", {"Content-Type": "application/json"}, b'{"x":1}', 5)).body
        assert b'"body": "{\\"x\\":1}"' in body and b'"query": ""' in body
    finally:
        await t.close()
    assert len(peers.peers) == 6 and len(set(peers.peers)) == 1


async def test_concurrent_requests_past_the_cap_wait_for_a_connection(app):
    peers, url = app
    t = Transport(url, False, max_connections=2)
    try:
        results = await asyncio.gather(*(get(t, "/slow") for _ in range(8)))
    finally:
        await t.close()
    assert [r.status for r in results] == [200] * 8
    assert len(set(peers.peers)) == 2 and peers.peak == 2


async def test_chunked_response(app):
    _, url = app
    t = Transport(url, False)
    try:
        resp = await get(t, "/chunked")
        again = await get(t, "/after")
    finally:
        await t.close()
    assert resp.body == b"hello world" + b"world" * 999 and again.status == 200


# ---- a misbehaving server --------------------------------------------------------------------------

async def test_request_head_names_the_host_and_frames_the_body(raw):
    t = raw.transport()
    try:
        await t.request("POST", "/p?q=1", {"User-Agent": "ua/1", "Authorization": "Bearer t"}, None, 5)
        await t.request("PUT", "/p", {}, b"abc", 5)
        await get(t, "/g")
    finally:
        await t.close()
    first, second, third = (h.decode() for h in raw.heads)
    assert first.startswith("POST /p?q=1 HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{raw.port}\r\n" in first and "\r\nContent-Length: 0\r\n" in first
    assert "\r\nUser-Agent: ua/1\r\n" in first and "\r\nAuthorization: Bearer t\r\n" in first
    assert "\r\nContent-Length: 3\r\n" in second and raw.bodies[1] == b"abc"
    assert "Content-Length" not in third
    assert raw.connections == 1


async def test_header_values_cannot_smuggle_lines(raw):
    t = raw.transport()
    with pytest.raises(ValueError, match="line breaks"):
        await t.request("GET", "/", {"Authorization": "Bearer x\r\nX-Admin: yes"}, None, 5)
    assert raw.heads == []
    await t.close()


async def test_host_header_omits_default_ports_and_brackets_ipv6():
    https = Transport("https://[::1]", ssl.create_default_context())
    http = Transport("http://example.test:8080/", False)
    assert b"\r\nHost: [::1]\r\n" in https._head("GET", "/", {}, None)
    assert b"\r\nHost: example.test:8080\r\n" in http._head("GET", "/", {}, None)
    assert (https.address, http.address) == ("[::1]:443", "example.test:8080")


async def test_response_delimited_by_eof(raw):
    raw.script = [[b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ", b"the end", CLOSE]]
    t = raw.transport()
    try:
        resp = await get(t)
        assert resp.body == b"until the end"
        assert (await get(t)).body == b"ok"
    finally:
        await t.close()
    assert raw.connections == 2


async def test_connection_close_is_not_reused(raw):
    raw.script = [[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"]]  # server keeps it open
    t = raw.transport()
    try:
        assert (await get(t)).body == b"x"
        assert (await get(t)).body == b"ok"
    finally:
        await t.close()
    assert raw.connections == 2


async def test_interim_responses_are_skipped(raw):
    raw.script = [[b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nc"]]
    t = raw.transport()
    try:
        resp = await get(t)
        assert (resp.status, resp.body) == (201, b"c")
        assert (await get(t)).status == 200
    finally:
        await t.close()
    assert raw.connections == 1


async def test_a_stale_reused_connection_is_replaced_once(raw):
    raw.script = [[OK], [CLOSE], [OK]]  # the second request races the server closing its idle connection
    t = raw.transport()
    try:
        await get(t)
        assert (await get(t)).body == b"ok"
    finally:
        await t.close()
    assert raw.connections == 2 and len(raw.heads) == 3


async def test_a_write_on_a_stale_connection_is_not_replayed(raw):
    raw.script = [[OK], [CLOSE], [OK]]
    t = raw.transport()
    try:
        await get(t)
        with pytest.raises(aiohttp.ClientConnectionError):
            await t.request("POST", "/create", {}, b"{}", 5)  # the server may have acted on it
        assert (await get(t)).body == b"ok"
    finally:
        await t.close()
    assert raw.connections == 2 and len(raw.heads) == 3


async def test_no_retry_twice_nor_on_a_fresh_connection(raw):
    raw.script = [[OK], [CLOSE], [CLOSE], [CLOSE]]
    t = raw.transport()
    try:
        await get(t)
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(t)  # reused (fails), then once on a fresh connection (fails): given up
        assert raw.connections == 2
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await get(t)  # fresh from the start: not retried
        assert raw.connections == 3 and len(raw.heads) == 4
    finally:
        await t.close()


async def test_server_closing_mid_response_is_not_retried(raw):
    raw.script = [[OK], [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", CLOSE]]
    t = raw.transport()
    try:
        await get(t)
        with pytest.raises(aiohttp.ServerDisconnectedError, match=f"127.0.0.1:{raw.port}"):
            await get(t, "/mid")
    finally:
        await t.close()
    assert raw.connections == 1 and len(raw.heads) == 2


async def test_connection_closed_while_idle_leaves_the_pool(raw):
    raw.script = [[OK, CLOSE]]
    t = raw.transport()
    try:
        await get(t)
        await eventually(lambda: t.open_connections == 0)
        assert (await get(t)).body == b"ok"
    finally:
        await t.close()
    assert raw.connections == 2 and len(raw.heads) == 2


async def test_idle_connections_expire(raw):
    t = raw.transport(idle_timeout=0.01)
    try:
        await get(t)
        await eventually(lambda: t.open_connections == 0)  # closed by the pool, not the server
        await get(t)
    finally:
        await t.close()
    assert raw.connections == 2


async def test_timeout_discards_the_connection(raw):
    raw.script = [[HANG]]
    t = raw.transport()
    try:
        with pytest.raises(TimeoutError):
            await get(t, "/hang", timeout=0.05)
        await asyncio.wait_for(raw.client_went_away.wait(), 5)
        assert t.open_connections == 0
        assert (await get(t)).status == 200
    finally:
        await t.close()
    assert raw.connections == 2


async def test_waiting_for_a_connection_is_bounded_and_in_order(raw):
    gate = asyncio.Event()
    raw.script = [[gate, OK]]
    t = raw.transport(max_connections=1)
    try:
        first = asyncio.create_task(get(t, "/first"))
        await eventually(lambda: len(raw.heads) == 1)
        with pytest.raises(TimeoutError):
            await get(t, "/starved", timeout=0.05)
        queued = [asyncio.create_task(get(t, f"/q{i}")) for i in range(3)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(first, *queued)
    finally:
        await t.close()
    assert [h.split(b" ")[1] for h in raw.heads] == [b"/first", b"/q0", b"/q1", b"/q2"]
    assert raw.connections == 1


async def test_cancelled_request_gives_its_connection_back(raw):
    raw.script = [[HANG]]
    t = raw.transport(max_connections=1)
    try:
        task = asyncio.create_task(get(t, "/hang"))
        await eventually(lambda: len(raw.heads) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await get(t)).status == 200
    finally:
        await t.close()


async def test_malformed_response(raw):
    raw.script = [[b"HTTP/1.1 abc nonsense\r\n\r\n"]]
    t = raw.transport()
    with pytest.raises(aiohttp.ClientPayloadError, match="malformed"):
        await get(t)
    await t.close()


async def test_connect_refused_names_the_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = Transport(f"http://127.0.0.1:{port}", False, max_connections=1)
    with pytest.raises(aiohttp.ClientOSError, match=f"127.0.0.1:{port}") as e:
        await get(t)
    assert isinstance(e.value, aiohttp.ClientConnectorError) and isinstance(e.value, OSError)
    # the slot came back: a second attempt fails the same way instead of waiting for a connection
    with pytest.raises(aiohttp.ClientConnectorError):
        await get(t, timeout=5)
    await t.close()


async def test_close_closes_connections_and_later_requests_fail(raw):
    t = raw.transport()
    await get(t)
    assert t.open_connections == 1
    await t.close()
    await eventually(lambda: raw.closed == 1)
    with pytest.raises(aiohttp.ClientConnectionError, match="closed"):
        await get(t)


# ---- TLS ---------------------------------------------------------------------------------------------

def make_pki(tmp: Path, dns: str) -> tuple[bytes, Path, Path]:
    """A CA and a server certificate for ``dns`` only (no IP address), as PEM."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp / "server.crt", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca.public_bytes(serialization.Encoding.PEM), cert_path, key_path


async def test_tls_verifies_the_server_name(tmp_path):
    ca_pem, cert, key = make_pki(tmp_path, "api.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    peers = Peers()
    runner, port = await serve_app(peers.handle, server_ctx)
    url = f"https://127.0.0.1:{port}"
    try:
        ctx = tls.ssl_context(ClientConfig(url, ca_data=ca_pem))
        wrong = Transport(url, ctx)  # verified against 127.0.0.1, which the certificate does not name
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match=f"127.0.0.1:{port}") as e:
            await get(wrong)
        assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "mismatch" in str(e.value)
        await wrong.close()
        right = Transport(url, ctx, server_name="api.test")
        try:
            assert (await get(right, "/a")).status == 200
            assert (await get(right, "/b")).status == 200
        finally:
            await right.close()
        assert len(set(peers.peers)) == 1
    finally:
        await runner.cleanup()


def test_works_under_uvloop(tmp_path):
    """Components run on uvloop: the same pool, keep-alive, stale retry and timeout there."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[int, int]:
        raw = await RawServer().start()
        raw.script = [[OK], [CLOSE], [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"],
                      [HANG]]
        t = raw.transport()
        try:
            await get(t)
            assert (await get(t)).body == b"abc"  # stale connection replaced
            with pytest.raises(TimeoutError):
                await get(t, timeout=0.05)
            assert (await get(t)).body == b"ok"
        finally:
            await t.close()
            await raw.stop()
        return raw.connections, len(raw.heads)

    assert uvloop.run(scenario()) == (3, 5)

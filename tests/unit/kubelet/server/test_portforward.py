"""Port-forward on the kubelet: stream pairing and errors with an in-memory SPDY client, both upgrade
paths through aiohttp, and the real kubectl (WebSocket tunnel with 1.33, plain SPDY with 1.30)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import re
import signal
import ssl
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from navarch.kubelet.runtimes.interface import NotSupportedError
from navarch.kubelet.server import spdy
from navarch.kubelet.server.portforward import PortForwardSession, handle_portforward

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
SANDBOX = "sandbox-1"


# ---- fakes ------------------------------------------------------------------------------------------

class TcpPortStream:
    """A PortStream over an asyncio TCP connection, as a host-network runtime would give."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self) -> bytes:
        return await self._reader.read(65536)

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        if self._writer.can_write_eof():
            self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class FakeRuntime:
    """``port_forward`` connects to local servers: container port -> host port."""

    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports
        self.calls: list[tuple[str, int]] = []

    async def port_forward(self, sandbox_id: str, port: int) -> TcpPortStream:
        self.calls.append((sandbox_id, port))
        if port not in self.ports:
            raise ConnectionRefusedError(f"dial tcp 127.0.0.1:{port}: connect: connection refused")
        if self.ports[port] < 0:
            raise NotSupportedError("port-forward is not supported on simulated nodes")
        reader, writer = await asyncio.open_connection("127.0.0.1", self.ports[port])
        return TcpPortStream(reader, writer)


@contextlib.asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


PAGE = b"<html>" + b"navarch port-forward " * 20000 + b"</html>"  # ~400 KiB: many frames, past any window


@contextlib.asynccontextmanager
async def http_server() -> AsyncIterator[int]:
    """A one-request-per-connection HTTP server, like ``python3 -m http.server``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
                         % len(PAGE) + PAGE)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


# ---- an in-memory kubectl ------------------------------------------------------------------------

class Pipe:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        await self.queue.put(data)


@contextlib.asynccontextmanager
async def session_client(runtime: Any, **kwargs: Any) -> AsyncIterator[spdy.SpdyConnection]:
    """A SPDY client connection talking to a PortForwardSession over in-memory pipes."""
    up, down = Pipe(), Pipe()
    session = PortForwardSession(runtime, SANDBOX, **kwargs)
    serving = asyncio.create_task(session.serve(up.read, down.write))
    client = spdy.SpdyConnection(down.read, up.write, server=False)
    running = asyncio.create_task(client.run())
    try:
        yield client
    finally:
        await up.queue.put(b"")
        await asyncio.wait_for(serving, 5)
        await down.queue.put(b"")
        await asyncio.wait_for(running, 5)


async def open_pair(client: spdy.SpdyConnection, port: int, request_id: int,
                    ) -> tuple[spdy.SpdyStream, spdy.SpdyStream]:
    """What kubectl does per local connection: error stream (half-closed at once), then data."""
    headers = {"streamType": "error", "port": str(port), "requestID": str(request_id)}
    error = await client.open_stream(headers)
    await error.wait_reply(timeout=5)
    await error.close()
    data = await client.open_stream({**headers, "streamType": "data"})
    await data.wait_reply(timeout=5)
    return error, data


async def test_pair_is_forwarded_to_the_runtime_port() -> None:
    async with echo_server() as port:
        runtime = FakeRuntime({8080: port})
        async with session_client(runtime) as client:
            error, data = await open_pair(client, 8080, 0)
            await data.write(b"hello through the pod")
            assert await asyncio.wait_for(data.read(), 5) == b"hello through the pod"
            # kubectl's local side closes: FIN on data; the target sees EOF and closes; streams end
            await data.close()
            assert await asyncio.wait_for(data.read_all(), 5) == b""
            assert await asyncio.wait_for(error.read_all(), 5) == b"", "no error on success"
            # a second connection over the same session
            error2, data2 = await open_pair(client, 8080, 1)
            await data2.write(b"again")
            assert await asyncio.wait_for(data2.read(), 5) == b"again"
            await data2.reset()
            assert await asyncio.wait_for(error2.read_all(), 5) == b""
        assert runtime.calls == [(SANDBOX, 8080), (SANDBOX, 8080)]


async def test_unreachable_port_is_reported_on_the_error_stream() -> None:
    runtime = FakeRuntime({})
    async with session_client(runtime) as client:
        error, data = await open_pair(client, 9999, 0)
        message = (await asyncio.wait_for(error.read_all(), 5)).decode()
        assert message == (f"error forwarding port 9999 to pod {SANDBOX}, uid : "
                           "dial tcp 127.0.0.1:9999: connect: connection refused")
        assert await asyncio.wait_for(data.read_all(), 5) == b""


async def test_streams_pair_by_request_id_in_any_order() -> None:
    async with echo_server() as port:
        runtime = FakeRuntime({80: port})
        async with session_client(runtime) as client:
            base = {"port": "80"}
            data_b = await client.open_stream({**base, "streamType": "data", "requestID": "b"})
            error_a = await client.open_stream({**base, "streamType": "error", "requestID": "a"})
            data_a = await client.open_stream({**base, "streamType": "data", "requestID": "a"})
            error_b = await client.open_stream({**base, "streamType": "error", "requestID": "b"})
            for stream in (data_b, error_a, data_a, error_b):
                await stream.wait_reply(timeout=5)
            await data_a.write(b"A")
            await data_b.write(b"B")
            assert await asyncio.wait_for(data_a.read(), 5) == b"A"
            assert await asyncio.wait_for(data_b.read(), 5) == b"B"


async def test_streams_without_request_id_pair_by_stream_id() -> None:
    async with echo_server() as port, session_client(FakeRuntime({80: port})) as client:
        error = await client.open_stream({"streamType": "error", "port": "80"})
        data = await client.open_stream({"streamType": "data", "port": "80"})
        await data.wait_reply(timeout=5)
        await data.write(b"old client")
        assert await asyncio.wait_for(data.read(), 5) == b"old client"
        assert error.id == 1 and data.id == 3


@pytest.mark.parametrize("headers", [
    {"streamType": "data"},
    {"streamType": "data", "port": "http"},
    {"streamType": "data", "port": "0"},
    {"port": "80"},
    {"streamType": "stdin", "port": "80"},
], ids=["no-port", "named-port", "port-zero", "no-type", "bad-type"])
async def test_invalid_streams_are_reset(headers: dict[str, str]) -> None:
    async with session_client(FakeRuntime({})) as client:
        stream = await client.open_stream(headers)
        with pytest.raises(spdy.SpdyError):
            await stream.wait_reply(timeout=5)
        assert stream.was_reset


async def test_duplicate_stream_type_is_reported() -> None:
    async with session_client(FakeRuntime({}), stream_creation_timeout=30) as client:
        error = await client.open_stream({"streamType": "error", "port": "80", "requestID": "7"})
        await error.wait_reply(timeout=5)
        again = await client.open_stream({"streamType": "error", "port": "80", "requestID": "7"})
        await again.wait_reply(timeout=5)
        assert await asyncio.wait_for(error.read(), 5) == \
            b"error processing stream for request 7: error stream already assigned"


async def test_lonely_stream_times_out() -> None:
    async with session_client(FakeRuntime({}), stream_creation_timeout=0.05) as client:
        error = await client.open_stream({"streamType": "error", "port": "80", "requestID": "3"})
        await error.wait_reply(timeout=5)
        message = (await asyncio.wait_for(error.read_all(), 5)).decode()
        assert re.fullmatch(r"\(conn=0x[0-9a-f]+, request=3\) timed out waiting for streams", message)


# ---- through aiohttp ---------------------------------------------------------------------------

def self_signed_context(directory: Path) -> ssl.SSLContext:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubelet")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1)).sign(key, hashes.SHA256()))
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "tls.crt", directory / "tls.key")
    return context


@contextlib.asynccontextmanager
async def api_server(runtime: Any, phase: str = "Running", *, tls: bool = False) -> AsyncIterator[str]:
    """Just enough of an API server for ``kubectl port-forward pod/x``: legacy discovery, the pod, and
    the portforward subresource served by ``handle_portforward``; HTTPS with ``tls`` (the kubelet's
    case: the upgraded connection is then a TLS transport)."""

    async def api(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})

    async def apis(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})

    async def core(_: web.Request) -> web.Response:
        return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                                  "resources": [
                                      {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                                       "verbs": ["get", "list"], "shortNames": ["po"]},
                                      {"name": "pods/portforward", "singularName": "", "namespaced": True,
                                       "kind": "PodPortForwardOptions", "verbs": ["create", "get"]}]})

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "0",
                                  "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
                                  "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})

    async def pod(request: web.Request) -> web.Response:
        name, ns = request.match_info["name"], request.match_info["ns"]
        return web.json_response({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "uid": "u1", "resourceVersion": "1"},
            "spec": {"containers": [{"name": "c", "image": "python", "ports": [{"containerPort": 8080}]}]},
            "status": {"phase": phase}})

    async def portforward(request: web.Request) -> web.StreamResponse:
        return await handle_portforward(request, runtime, SANDBOX)

    app = web.Application()
    app.router.add_get("/api", api)
    app.router.add_get("/apis", apis)
    app.router.add_get("/api/v1", core)
    app.router.add_get("/version", version)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", pod)
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/portforward", portforward)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    with tempfile.TemporaryDirectory() as tmp:
        context = self_signed_context(Path(tmp)) if tls else None
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


PF_PATH = "/api/v1/namespaces/default/pods/x/portforward"


async def test_websocket_tunnel_carries_spdy() -> None:
    async with (
        echo_server() as port,
        api_server(FakeRuntime({8080: port})) as url,
        aiohttp.ClientSession() as http,
        http.ws_connect(url + PF_PATH, protocols=("SPDY/3.1+portforward.k8s.io",)) as ws,
    ):
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"

        async def read() -> bytes:
            msg = await ws.receive()
            return bytes(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else b""

        async def write(data: bytes) -> None:
            # split every write in two messages: chunking must not matter
            await ws.send_bytes(data[:3])
            await ws.send_bytes(data[3:])

        client = spdy.SpdyConnection(read, write, server=False)
        running = asyncio.create_task(client.run())
        _, data = await open_pair(client, 8080, 0)
        await data.write(b"tunnelled")
        assert await asyncio.wait_for(data.read(), 5) == b"tunnelled"
        assert await client.ping(timeout=5) >= 0
        await ws.close()
        await asyncio.wait_for(running, 5)


async def test_websocket_without_the_tunnel_protocol_is_refused() -> None:
    async with api_server(FakeRuntime({})) as url, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(url + PF_PATH, protocols=("v4.channel.k8s.io",))
        assert info.value.status == 400


async def raw_upgrade(url: str, protocol: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"POST {PF_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                  f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n").encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, head


async def test_spdy_upgrade_takes_over_the_connection() -> None:
    async with echo_server() as port, api_server(FakeRuntime({8080: port})) as url:
        reader, writer, head = await raw_upgrade(url, "portforward.k8s.io")
        try:
            lines = head.decode().split("\r\n")
            assert lines[0] == "HTTP/1.1 101 Switching Protocols"
            fields = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
            assert fields["upgrade"] == "SPDY/3.1"
            assert fields["connection"].lower() == "upgrade"
            assert fields["x-stream-protocol-version"] == "portforward.k8s.io"
            assert "content-length" not in fields and "transfer-encoding" not in fields

            async def write(data: bytes) -> None:
                writer.write(data)
                await writer.drain()

            client = spdy.SpdyConnection(lambda: reader.read(65536), write, server=False)
            running = asyncio.create_task(client.run())
            _, data = await open_pair(client, 8080, 0)
            payload = os.urandom(300_000)
            await data.write(payload)
            got = bytearray()
            while len(got) < len(payload):
                got += await asyncio.wait_for(data.read(), 5)
            assert bytes(got) == payload
        finally:
            writer.close()
        await asyncio.wait_for(running, 5)


async def test_spdy_upgrade_with_another_protocol_is_forbidden() -> None:
    async with api_server(FakeRuntime({})) as url:
        _, writer, head = await raw_upgrade(url, "v4.channel.k8s.io")
        writer.close()
        assert head.startswith(b"HTTP/1.1 403")
        assert b"X-Accepted-Stream-Protocol-Versions: portforward.k8s.io" in head


# ---- the real kubectl -----------------------------------------------------------------------------

def kubeconfig(directory: Path, url: str) -> Path:
    path = directory / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "{url}", insecure-skip-tls-verify: {str(url.startswith("https")).lower()}}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u, namespace: default}}}}]
current-context: x
""")
    return path


@contextlib.asynccontextmanager
async def kubectl_port_forward(version: str, url: str, remote: int) -> AsyncIterator[tuple[int, Any]]:
    """Runs ``kubectl port-forward pod/x :REMOTE``; yields the local port it chose and the process."""
    binary = KUBECTL_DIR / f"kubectl.{version}"
    if not binary.exists():
        pytest.skip(f"{binary} not installed")
    with tempfile.TemporaryDirectory() as tmp:
        config = kubeconfig(Path(tmp), url)
        env = {**os.environ, "KUBECACHEDIR": str(Path(tmp) / "cache"), "HOME": tmp}
        env.pop("KUBECONFIG", None)
        proc = await asyncio.create_subprocess_exec(
            str(binary), "--kubeconfig", str(config), "port-forward", "pod/x", f":{remote}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            match = re.match(rf"Forwarding from 127\.0\.0\.1:(\d+) -> {remote}", line)
            if match is None:
                assert proc.stderr is not None
                err = await asyncio.wait_for(proc.stderr.read(), 5)
                raise AssertionError(f"kubectl said {line!r} {err!r}")
            yield int(match.group(1)), proc
        finally:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)


async def fetch(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()


@pytest.mark.parametrize(("version", "tls"), [("1.33", False), ("1.30", False), ("1.33", True), ("1.30", True)],
                         ids=["websocket-tunnel", "spdy-upgrade", "websocket-tunnel-tls", "spdy-upgrade-tls"])
async def test_kubectl_port_forward_serves_the_page(version: str, tls: bool) -> None:
    async with http_server() as port:
        runtime = FakeRuntime({8080: port})
        async with api_server(runtime, tls=tls) as url, kubectl_port_forward(version, url, 8080) as (local, _):
            for _ in range(3):  # several connections over one session
                response = await fetch(local)
                assert response.startswith(b"HTTP/1.0 200 OK\r\n")
                assert response.endswith(PAGE)
        assert runtime.calls == [(SANDBOX, 8080)] * 3


@pytest.mark.parametrize("version", ["1.33", "1.30"], ids=["websocket-tunnel", "spdy-upgrade"])
async def test_kubectl_port_forward_echoes_concurrently(version: str) -> None:
    async with echo_server() as port, api_server(FakeRuntime({5000: port})) as url, \
            kubectl_port_forward(version, url, 5000) as (local, _):
        async def one(i: int) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", local)
            payload = bytes([i]) * 100_000
            writer.write(payload)
            await writer.drain()
            got = await asyncio.wait_for(reader.readexactly(len(payload)), 20)
            writer.close()
            assert got == payload

        await asyncio.gather(*(one(i) for i in range(4)))


async def test_kubectl_reports_an_unreachable_port() -> None:
    async with api_server(FakeRuntime({})) as url, kubectl_port_forward("1.33", url, 8080) as (local, proc):
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        assert await asyncio.wait_for(reader.read(), 20) == b""
        writer.close()
        assert proc.stderr is not None
        stderr = (await asyncio.wait_for(proc.stderr.read(), 20)).decode()
        assert f"error forwarding port 8080 to pod {SANDBOX}, uid : " in stderr
        assert "connection refused" in stderr

"""The httpGet handler against a real local aiohttp server (HTTP and self-signed HTTPS)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from navarch.kubelet.prober.httpprobe import build_request, go_url, probe_http
from navarch.kubelet.prober.probe import ProbeError, Result
from navarch.server.pki import ensure_pki

AGENT = "kube-probe/1.33"


class Server:
    """Records what each probe sent."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.port = 0
        self.tls_port = 0


SERVER = web.AppKey("server", Server)


async def _handler(request: web.Request) -> web.StreamResponse:
    server = request.app[SERVER]
    server.seen.append({"path": request.path_qs, "headers": request.headers.copy(), "host": request.host})
    path = request.path
    if path == "/ok":
        return web.Response(text="fine")
    if path == "/fail":
        return web.Response(status=500, text="secret details")
    if path == "/notfound":
        return web.Response(status=404)
    if path == "/local":
        raise web.HTTPFound("/ok")
    if path == "/away":
        raise web.HTTPFound(f"http://localhost:{server.port}/ok")
    if path == "/loop":
        raise web.HTTPFound("/loop")
    if path == "/slow":
        await asyncio.sleep(0.5)
        return web.Response(text="late")
    if path == "/big":
        return web.Response(body=b"x" * 50_000)
    return web.Response(status=418)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    srv = Server()
    app = web.Application()
    app[SERVER] = srv
    app.router.add_route("GET", "/{tail:.*}", _handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = runner.addresses[0][1]
    pki = ensure_pki(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.serving.cert, pki.serving.key)
    tls_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await tls_site.start()
    srv.tls_port = runner.addresses[1][1]
    try:
        yield srv
    finally:
        await runner.cleanup()


async def probe(server: Server, path: str, *, timeout: float = 2, port: Any = None, scheme: str = "HTTP",
                headers: list[dict[str, str]] | None = None, container: dict[str, Any] | None = None):
    action: dict[str, Any] = {"path": path, "port": port if port is not None else server.port, "scheme": scheme}
    if headers is not None:
        action["httpHeaders"] = headers
    url, hdrs = build_request(action, container or {"name": "c"}, "127.0.0.1", AGENT)
    return await probe_http(url, hdrs, timeout)


@pytest.mark.parametrize("path,result,output", [
    ("/ok", Result.SUCCESS, "fine"),
    ("/fail", Result.FAILURE, "HTTP probe failed with statuscode: 500"),
    ("/notfound", Result.FAILURE, "HTTP probe failed with statuscode: 404"),
    ("/local", Result.SUCCESS, "fine"),
], ids=["200", "500", "404", "local-redirect-followed"])
async def test_status_codes(server: Server, path: str, result: Result, output: str) -> None:
    outcome = await probe(server, path)
    assert outcome.result is result
    assert outcome.output == output


async def test_default_headers_are_upstreams(server: Server) -> None:
    await probe(server, "/ok?x=1")
    seen = server.seen[-1]
    assert seen["path"] == "/ok?x=1"
    assert seen["headers"]["User-Agent"] == AGENT
    assert seen["headers"]["Accept"] == "*/*"
    assert seen["headers"]["Connection"].lower() == "close", "each probe must use a fresh connection"


async def test_custom_headers_host_and_empty_accept(server: Server) -> None:
    await probe(server, "/ok", headers=[{"name": "X-Probe", "value": "a"}, {"name": "X-Probe", "value": "b"},
                                        {"name": "Host", "value": "example.test"}, {"name": "Accept", "value": ""},
                                        {"name": "User-Agent", "value": "mine"}])
    headers = server.seen[-1]["headers"]
    assert headers.getall("X-Probe") == ["a", "b"]
    assert server.seen[-1]["host"] == "example.test"
    assert "Accept" not in headers
    assert headers["User-Agent"] == "mine"


async def test_redirect_to_another_host_is_a_warning(server: Server) -> None:
    outcome = await probe(server, "/away")
    assert outcome.result is Result.WARNING
    assert outcome.output.startswith("Probe terminated redirects, Response body: ")
    assert [s["path"] for s in server.seen] == ["/away"]


async def test_redirect_loop_stops_after_ten_requests(server: Server) -> None:
    outcome = await probe(server, "/loop")
    assert outcome.result is Result.FAILURE
    assert outcome.output == f'Get "http://127.0.0.1:{server.port}/loop": stopped after 10 redirects'
    assert len(server.seen) == 10


async def test_timeout_is_a_failure(server: Server) -> None:
    outcome = await probe(server, "/slow", timeout=0.2)
    assert outcome.result is Result.FAILURE
    assert outcome.output == (f'Get "http://127.0.0.1:{server.port}/slow": context deadline exceeded '
                              "(Client.Timeout exceeded while awaiting headers)")


async def test_connection_refused_reads_as_go(server: Server) -> None:
    outcome = await probe(server, "/ok", port=1)
    assert outcome.result is Result.FAILURE
    assert outcome.output == 'Get "http://127.0.0.1:1/ok": dial tcp 127.0.0.1:1: connect: connection refused'


async def test_https_is_not_verified(server: Server) -> None:
    outcome = await probe(server, "/ok", port=server.tls_port, scheme="HTTPS")
    assert (outcome.result, outcome.output) == (Result.SUCCESS, "fine")


async def test_named_port_and_body_limit(server: Server) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": server.port}]}
    outcome = await probe(server, "/big", port="web", container=container)
    assert outcome.result is Result.SUCCESS
    assert len(outcome.output) == 10 * 1024


@pytest.mark.parametrize("port,message", [
    ("nope", 'strconv.Atoi: parsing "nope": invalid syntax'),
    (0, "invalid port number: 0"),
    (70000, "invalid port number: 70000"),
], ids=["unknown-name", "zero", "too-big"])
def test_bad_ports_cannot_be_probed(port: Any, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        build_request({"port": port}, {"name": "c"}, "10.0.0.1", AGENT)


def test_url_shape() -> None:
    url, _ = build_request({"port": "8080", "path": "healthz"}, {"name": "c"}, "fd00::1", AGENT)
    assert go_url(url) == "http://[fd00::1]:8080/healthz"
    url, _ = build_request({"port": 443, "host": "example.test", "scheme": "HTTPS"}, {}, "10.0.0.1", AGENT)
    assert go_url(url) == "https://example.test:443"
    url, _ = build_request({"port": 80, "path": "/a?b=c"}, {}, "10.0.0.1", AGENT)
    assert go_url(url) == "http://10.0.0.1:80/a?b=c"

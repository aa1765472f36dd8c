"""The API server's kubelet proxies: container defaulting and log checks as upstream, and the byte
relay of upgraded connections (WebSocket exec through a real KubeletServer, a raw SPDY-style upgrade
through a bare TLS echo backend, non-101 answers passed back)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from navarch.api import errors
from navarch.apiserver import kubeletproxy
from navarch.kubelet.server import KubeletServer, channels
from navarch.kubelet.server.pki import ensure_serving_cert
from tests.unit.kubelet.server.fakeruntime import FakeRuntime


def make_pod(containers: list[str], init: list[str] = (), statuses: list[dict[str, Any]] | None = None,
             node: str = "n1") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": c} for c in containers], "nodeName": node}
    if init:
        spec["initContainers"] = [{"name": c} for c in init]
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec,
            "status": {"containerStatuses": statuses or []}}


@pytest.mark.parametrize("containers, init, asked, want", [
    (["a"], [], "", "a"),
    (["a", "b"], [], "b", "b"),
    (["a"], ["setup"], "setup", "setup"),
    (["a", "b"], [], "", "a container name must be specified for pod web, choose one of: [a b]"),
    (["a", "b"], ["i1", "i2"], "",
     "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i1 i2]"),
    (["a"], [], "zz", "container zz is not valid for pod web"),
], ids=["single", "named", "init", "choose", "choose-init", "invalid"])
def test_container_defaulting(containers: list[str], init: list[str], asked: str, want: str) -> None:
    pod = make_pod(containers, init)
    if " " not in want:
        assert kubeletproxy._container(pod, asked, "web") == want
        return
    with pytest.raises(errors.StatusError) as e:
        kubeletproxy._container(pod, asked, "web")
    assert (e.value.code, e.value.reason, e.value.message) == (400, "BadRequest", want)


@pytest.mark.parametrize("status, previous, message", [
    ({"state": {"running": {}}}, False, None),
    ({"state": {"waiting": {"reason": "ContainerCreating"}}}, False,
     'container "a" in pod "web" is waiting to start: ContainerCreating'),
    ({"state": {"waiting": {"reason": "ImagePullBackOff"}}}, False,
     'container "a" in pod "web" is waiting to start: trying and failing to pull image'),
    ({"state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}, False,
     None),
    ({"state": {"running": {}}}, True, 'previous terminated container "a" in pod "web" not found'),
    ({"state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}, True, None),
], ids=["running", "creating", "pull-backoff", "crashloop-shows-last", "no-previous", "previous"])
def test_log_status_checks(status: dict[str, Any], previous: bool, message: str | None) -> None:
    pod = make_pod(["a"], statuses=[{"name": "a", **status}])
    if message is None:
        kubeletproxy._check_log_status(pod, "a", previous=previous)
        return
    with pytest.raises(errors.StatusError) as e:
        kubeletproxy._check_log_status(pod, "a", previous=previous)
    assert (e.value.code, e.value.message) == (400, message)


@pytest.mark.parametrize("raw, want", [
    ("n1", ("n1", None)), ("n1:10255", ("n1", 10255)), ("https:n1:10250", ("n1", 10250)),
], ids=["plain", "port", "scheme"])
def test_split_node_name(raw: str, want: tuple[str, int | None]) -> None:
    assert kubeletproxy._split_node_name(raw) == want


def test_kubelet_errors_keep_the_kubelets_status_or_wrap_its_text() -> None:
    body = orjson.dumps(errors.bad_request('container "a" in pod "web" is not available').to_status())
    e = kubeletproxy._kubelet_error(400, body)
    assert (e.code, e.reason, e.message) == (400, "BadRequest", 'container "a" in pod "web" is not available')
    e = kubeletproxy._kubelet_error(404, b"pod does not exist\n")
    assert (e.code, e.reason, e.message) == (404, "NotFound", "pod does not exist")


# ---------------------------------------------------------------------- the relay
def _client_ctx() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _front(host: str, port: int) -> TestClient:
    """A plain HTTP front whose every request is relayed to the TLS backend, as the API server does."""
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await kubeletproxy.relay_upgrade(request, host, port, request.rel_url.raw_path_qs,
                                                    _client_ctx())
        except errors.StatusError as e:
            return web.json_response(e.to_status(), status=e.code)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return TestClient(TestServer(app))


@pytest.fixture
async def kubelet(tmp_path: Path) -> AsyncIterator[KubeletServer]:
    rt = FakeRuntime()
    rt.add_container(rt.add_sandbox("default", "web"), "app")
    cert, key = ensure_serving_cert(tmp_path, "n1", ["127.0.0.1"])
    server = KubeletServer(rt, host="127.0.0.1", port=0, cert_file=str(cert), key_file=str(key))
    await server.start()
    yield server
    await server.stop()


async def test_websocket_exec_is_relayed_byte_for_byte(kubelet: KubeletServer) -> None:
    proto = channels.PROTOCOLS[channels.V5]
    async with await _front("127.0.0.1", kubelet.port) as client:
        url = "/exec/default/web/app?command=cat&stdin=true&stdout=true"
        async with client.ws_connect(url, protocols=[channels.V5]) as ws:
            assert ws.protocol == channels.V5
            await ws.send_bytes(proto.encode(channels.STDIN, b"x" * 200_000))
            await ws.send_bytes(bytes((channels.CLOSE, channels.STDIN)))
            out: dict[int, bytes] = {}
            async for msg in ws:
                ch, data = proto.decode(msg.data)
                out[ch] = out.get(ch, b"") + data
            assert ws.close_code == 1000
    assert out[channels.STDOUT] == b"x" * 200_000
    assert orjson.loads(out[channels.ERROR])["status"] == "Success"


async def test_non_101_answers_are_passed_back(kubelet: KubeletServer) -> None:
    async with await _front("127.0.0.1", kubelet.port) as client:
        r = await client.get("/exec/default/web/nope?command=ls&stdout=1",
                             headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                      "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                      "Sec-WebSocket-Protocol": channels.V5})
        assert r.status == 404
        assert (await r.json())["message"] == 'container not found ("nope")'


async def test_non_websocket_upgrade_is_relayed_raw(tmp_path: Path) -> None:
    """SPDY upgrades are not known to aiohttp's parser: the bytes after the 101 must still reach the
    backend untouched, in both directions."""
    cert, key = ensure_serving_cert(tmp_path, "n1", ["127.0.0.1"])
    seen: list[bytes] = []

    async def backend(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                     b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\nhello")
        while data := await reader.read(65536):
            writer.write(data.upper())
        writer.close()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server = await asyncio.start_server(backend, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with await _front("127.0.0.1", port) as client:
            reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
            writer.write(b"POST /portForward/default/web HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                         b"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n"
                         b"Authorization: Bearer secret\r\nContent-Length: 0\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101")
            assert b"X-Stream-Protocol-Version: portforward.k8s.io" in head
            assert await reader.readexactly(5) == b"hello"
            writer.write(b"GET / HTTP/1.1\r\n\r\nnot http at all")
            want = b"GET / HTTP/1.1\r\n\r\nNOT HTTP AT ALL".upper()
            assert await reader.readexactly(len(want)) == want
            writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert b"POST /portForward/default/web HTTP/1.1" in seen[0]
    assert b"authorization" not in seen[0].lower()


async def test_unreachable_kubelet_is_a_500_status() -> None:
    from tests.navarch_process import free_port

    async with await _front("127.0.0.1", free_port()) as client:
        r = await client.get("/exec/default/web/app", headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
        assert r.status == 500
        assert "Connect call failed" in (await r.json())["message"]

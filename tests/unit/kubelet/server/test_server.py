"""The kubelet server against a fake runtime whose exec/attach run real subprocesses."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from navarch.kubelet.runtimes.interface import ContainerState
from navarch.kubelet.server import KubeletServer, channels
from navarch.kubelet.server.pki import ensure_serving_cert
from tests.unit.kubelet.server.fakeruntime import FakeRuntime


@pytest.fixture
def runtime() -> FakeRuntime:
    rt = FakeRuntime()
    sb = rt.add_sandbox("default", "web")
    rt.add_container(sb, "app", attempt=0, state=ContainerState.EXITED, log=b"old 1\nold 2\n", exit_code=1)
    rt.add_container(sb, "app", attempt=1, log=b"one\ntwo\nthree\n")
    rt.add_container(sb, "side", log=b"side\n")
    rt.add_sandbox("default", "empty")
    return rt


@pytest.fixture
async def client(runtime: FakeRuntime, tmp_path: Path) -> AsyncIterator[TestClient]:
    cert, key = ensure_serving_cert(tmp_path, "node1", ["127.0.0.1"])
    server = KubeletServer(runtime, host="127.0.0.1", port=0, cert_file=str(cert), key_file=str(key))
    async with TestClient(TestServer(server.build_app())) as c:
        yield c


def _exec_url(cmd: list[str], *, container: str = "app", pod: str = "web", **flags: str) -> str:
    from urllib.parse import urlencode

    q = [("command", c) for c in cmd] + list(flags.items())
    return f"/exec/default/{pod}/{container}?{urlencode(q)}"


async def _collect(ws: aiohttp.ClientWebSocketResponse, proto: channels.ChannelProtocol,
                   ) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    async for msg in ws:
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)
        ch, data = proto.decode(msg.data)
        out[ch] = out.get(ch, b"") + data
    return out


async def test_healthz_and_pods(client: TestClient) -> None:
    r = await client.get("/healthz")
    assert r.status == 200 and await r.text() == "ok"
    pods = await (await client.get("/pods")).json()
    assert pods["kind"] == "PodList"
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in pods["items"]]
    assert names == [("default", "empty"), ("default", "web")]
    web = pods["items"][1]
    assert web["status"]["podIP"] == "127.0.0.1"
    assert sorted(c["name"] for c in web["status"]["containerStatuses"]) == ["app", "app", "side"]


@pytest.mark.parametrize("query, body", [
    ("", b"one\ntwo\nthree\n"),
    ("?tailLines=2", b"two\nthree\n"),
    ("?previous=true", b"old 1\nold 2\n"),
    ("?timestamps=true&tailLines=1", b"2026-01-01T00:00:00.000000000Z three\n"),
], ids=["current", "tail", "previous", "timestamps"])
async def test_container_logs(client: TestClient, query: str, body: bytes) -> None:
    r = await client.get(f"/containerLogs/default/web/app{query}")
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].startswith("text/plain")
    assert await r.read() == body


@pytest.mark.parametrize("path, code, message", [
    ("/containerLogs/default/nope/app", 404, 'pod "nope" does not exist'),
    ("/containerLogs/default/web/nope", 400, 'container "nope" in pod "web" is not available'),
    ("/containerLogs/default/web/side?previous=true", 400,
     'previous terminated container "side" in pod "web" not found'),
    ("/containerLogs/default/web/app?tailLines=-3", 400, None),
    ("/exec/default/nope/app?command=ls&stdout=1", 404, "pod does not exist"),
    ("/exec/default/empty/app?command=ls&stdout=1", 404, 'container not found ("app")'),
    ("/exec/default/web/app?stdout=1", 400, None),
], ids=["no-pod", "no-container", "no-previous", "bad-option", "exec-no-pod", "exec-no-container",
        "exec-no-command"])
async def test_errors_are_status_bodies(client: TestClient, path: str, code: int, message: str | None) -> None:
    r = await client.get(path)
    assert r.status == code
    status = await r.json()
    assert status["kind"] == "Status" and status["code"] == code
    if message is not None:
        assert status["message"] == message


async def test_logs_follow_streams_until_the_runtime_ends(client: TestClient, runtime: FakeRuntime) -> None:
    cid = next(c.id for c in runtime.containers.values() if c.name == "side")
    r = await client.get("/containerLogs/default/web/side?follow=true")
    assert r.status == 200
    assert await r.content.readline() == b"side\n"
    runtime.append_log(cid, b"more\n")
    assert await r.content.readline() == b"more\n"
    runtime.append_log(cid, None)
    assert await r.content.read() == b""


async def test_exec_v5_output_and_exit_code(client: TestClient) -> None:
    proto = channels.PROTOCOLS[channels.V5]
    async with client.ws_connect(_exec_url(["sh", "-c", "echo hi; echo err >&2; exit 3"], stdout="true",
                                           stderr="true"), protocols=[channels.V5]) as ws:
        assert ws.protocol == channels.V5
        out = await _collect(ws, proto)
        assert ws.close_code == 1000
    assert out[channels.STDOUT] == b"hi\n"
    assert out[channels.STDERR] == b"err\n"
    status = orjson.loads(out[channels.ERROR])
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_exec_success_status(client: TestClient) -> None:
    proto = channels.PROTOCOLS[channels.V4]
    async with client.ws_connect(_exec_url(["true"], stdout="1"), protocols=[channels.V4]) as ws:
        out = await _collect(ws, proto)
    assert orjson.loads(out[channels.ERROR])["status"] == "Success"
    assert channels.STDOUT not in out


async def test_exec_stdin_half_close_with_v5_signal(client: TestClient) -> None:
    """kubectl cp's pattern: send stdin, then [255, 0]; the process sees EOF and ends."""
    proto = channels.PROTOCOLS[channels.V5]
    async with client.ws_connect(_exec_url(["cat"], stdin="true", stdout="true"), protocols=[channels.V5]) as ws:
        await ws.send_bytes(proto.encode(channels.STDIN, b"hello "))
        await ws.send_bytes(proto.encode(channels.STDIN, b"world"))
        await ws.send_bytes(bytes((channels.CLOSE, channels.STDIN)))
        out = await _collect(ws, proto)
    assert out[channels.STDOUT] == b"hello world"
    assert orjson.loads(out[channels.ERROR])["status"] == "Success"


async def test_exec_base64_protocol(client: TestClient) -> None:
    proto = channels.PROTOCOLS[channels.V4_BASE64]
    async with client.ws_connect(_exec_url(["sh", "-c", "printf ok"], stdout="1"),
                                 protocols=[channels.V4_BASE64]) as ws:
        out = await _collect(ws, proto)
    assert out[channels.STDOUT] == b"ok"


async def test_exec_tty_resize_reaches_the_session(client: TestClient, runtime: FakeRuntime) -> None:
    proto = channels.PROTOCOLS[channels.V5]
    async with client.ws_connect(_exec_url(["cat"], stdin="1", stdout="1", stderr="1", tty="1"),
                                 protocols=[channels.V5]) as ws:
        await ws.send_bytes(proto.encode(channels.RESIZE, b'{"Width":100,"Height":40}'))
        await ws.send_bytes(proto.encode(channels.STDIN, b"x"))
        msg = await ws.receive()
        assert proto.decode(msg.data) == (channels.STDOUT, b"x")
        await ws.send_bytes(bytes((channels.CLOSE, channels.STDIN)))
        await _collect(ws, proto)
    assert runtime.resizes == [(100, 40)]
    assert runtime.execs[-1][2:] == (True, True)


async def test_attach_reports_success(client: TestClient) -> None:
    proto = channels.PROTOCOLS[channels.V5]
    async with client.ws_connect("/attach/default/web/app?stdin=true&stdout=true",
                                 protocols=[channels.V5]) as ws:
        await ws.send_bytes(proto.encode(channels.STDIN, b"ping\n"))
        await ws.send_bytes(bytes((channels.CLOSE, channels.STDIN)))
        out = await _collect(ws, proto)
    assert out[channels.STDOUT] == b"attached\nping\n"
    assert orjson.loads(out[channels.ERROR])["status"] == "Success"


async def test_exec_runtime_failure_goes_on_the_error_channel(client: TestClient) -> None:
    proto = channels.PROTOCOLS[channels.V5]
    async with client.ws_connect(_exec_url(["/no/such/binary"], stdout="1"), protocols=[channels.V5]) as ws:
        out = await _collect(ws, proto)
        assert ws.close_code == 1000
    status = orjson.loads(out[channels.ERROR])
    assert status["status"] == "Failure" and "executable not found" in status["message"]


async def test_exec_that_is_no_upgrade_or_offers_no_known_version_is_refused(client: TestClient) -> None:
    # Upstream's httpstream handshake texts (kubectl prints them after its upgrade fails).
    r = await client.post(_exec_url(["ls"], stdout="1"))
    assert r.status == 400
    assert (await r.text()) == "unable to upgrade: missing upgrade headers in request\n"
    r = await client.post(_exec_url(["ls"], stdout="1"),
                          headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1",
                                   "X-Stream-Protocol-Version": "v9.channel.k8s.io"})
    assert r.status == 403
    assert "v4.channel.k8s.io" in r.headers["X-Accepted-Stream-Protocol-Versions"]
    assert "unable to negotiate protocol: client supports ['v9.channel.k8s.io']" in await r.text()


async def test_client_certificate_required_when_a_ca_is_given(runtime: FakeRuntime, tmp_path: Path) -> None:
    from navarch.server.pki import CertPaths, ensure_pki, issue_client_cert

    pki = ensure_pki(tmp_path / "cluster")
    cert, key = ensure_serving_cert(tmp_path / "kubelet", "node1", ["127.0.0.1"])
    server = KubeletServer(runtime, host="127.0.0.1", port=0, cert_file=str(cert), key_file=str(key),
                           client_ca_file=str(pki.ca.cert))
    await server.start()
    try:
        assert server.port != 0
        anon = ssl.create_default_context(cafile=str(cert))
        anon.check_hostname = False
        signed = ssl.create_default_context(cafile=str(cert))
        signed.check_hostname = False
        other = CertPaths(tmp_path / "o.crt", tmp_path / "o.key")
        issue_client_cert(pki.ca, "kube-apiserver-kubelet-client", ["system:masters"], other)
        signed.load_cert_chain(str(other.cert), str(other.key))
        base = f"https://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as s:
            async with s.get(f"{base}/healthz", ssl=anon) as r:
                assert r.status == 200
            async with s.get(f"{base}/pods", ssl=anon) as r:
                assert r.status == 401
            async with s.get(f"{base}/pods", ssl=signed) as r:
                assert r.status == 200
    finally:
        await server.stop()


"""``Prober``: handler choice, retries of errored probes, and upstream's events."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Sequence

import pytest
from aiohttp import web

from navarch.kubelet.prober import Prober, ProbeType, Result
from navarch.kubelet.runtimes.interface import ExecResult, NotSupportedError

POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}, "spec": {}}


class Runtime:
    def __init__(self, *results: ExecResult | Exception) -> None:
        self.results = list(results)
        self.calls = 0

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
        self.calls += 1
        result = self.results[min(self.calls, len(self.results)) - 1]
        if isinstance(result, Exception):
            raise result
        return result


class Events:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str, str]] = []

    def __call__(self, pod: Any, kind: str, reason: str, message: str, container: str) -> None:
        self.recorded.append((kind, reason, message, container))


def container(probe_type: ProbeType, probe: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "app", probe_type.field: probe, **extra}


@pytest.fixture
async def web_port() -> AsyncIterator[int]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=int(request.query.get("code", "200")))

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_http_failure_records_unhealthy_with_upstreams_message(web_port: int) -> None:
    events = Events()
    prober = Prober(None, emit=events)
    spec = container(ProbeType.LIVENESS, {"httpGet": {"path": "/?code=500", "port": web_port}})
    assert await prober.probe(ProbeType.LIVENESS, POD, "127.0.0.1", spec, "cid") is Result.FAILURE
    assert events.recorded == [("Warning", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500",
                                "app")]


async def test_http_success_records_nothing(web_port: int) -> None:
    events = Events()
    spec = container(ProbeType.READINESS, {"httpGet": {"path": "/", "port": "web"}},
                     ports=[{"name": "web", "containerPort": web_port}])
    assert await Prober(None, emit=events).probe(ProbeType.READINESS, POD, "127.0.0.1", spec, "cid") is Result.SUCCESS
    assert events.recorded == []


async def test_tcp_probe_goes_to_the_pod_ip(web_port: int) -> None:
    spec = container(ProbeType.STARTUP, {"tcpSocket": {"port": web_port}})
    assert await Prober(None).probe(ProbeType.STARTUP, POD, "127.0.0.1", spec, "cid") is Result.SUCCESS


async def test_exec_failure_message_is_the_output() -> None:
    events = Events()
    prober = Prober(Runtime(ExecResult(b"", b"not ready\n", 1)), emit=events)
    spec = container(ProbeType.READINESS, {"exec": {"command": ["check"]}})
    assert await prober.probe(ProbeType.READINESS, POD, "", spec, "cid") is Result.FAILURE
    assert events.recorded == [("Warning", "Unhealthy", "Readiness probe failed: not ready\n", "app")]


async def test_errored_probe_is_retried_then_thrown_away() -> None:
    events = Events()
    runtime = Runtime(NotSupportedError("exec is not supported on simulated nodes"))
    spec = container(ProbeType.LIVENESS, {"exec": {"command": ["true"]}})
    assert await Prober(runtime, emit=events).probe(ProbeType.LIVENESS, POD, "", spec, "cid") is None
    assert runtime.calls == 3
    message = "Liveness probe errored and resulted in unknown state: exec is not supported on simulated nodes"
    assert events.recorded == [("Warning", "Unhealthy", message, "app")]


async def test_error_then_success_counts_as_success() -> None:
    runtime = Runtime(NotSupportedError("flaky"), ExecResult(b"", b"", 0))
    spec = container(ProbeType.LIVENESS, {"exec": {"command": ["true"]}})
    assert await Prober(runtime).probe(ProbeType.LIVENESS, POD, "", spec, "cid") is Result.SUCCESS
    assert runtime.calls == 2


async def test_unresolvable_named_port_errors_with_go_message() -> None:
    events = Events()
    spec = container(ProbeType.READINESS, {"httpGet": {"port": "http"}})
    assert await Prober(None, emit=events).probe(ProbeType.READINESS, POD, "10.0.0.1", spec, "cid") is None
    assert events.recorded[0][2] == ('Readiness probe errored and resulted in unknown state: '
                                     'strconv.Atoi: parsing "http": invalid syntax')


async def test_redirect_elsewhere_is_success_with_a_warning_event() -> None:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://example.invalid/")

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        events = Events()
        spec = container(ProbeType.READINESS, {"httpGet": {"port": runner.addresses[0][1]}})
        result = await Prober(None, emit=events).probe(ProbeType.READINESS, POD, "127.0.0.1", spec, "cid")
    finally:
        await runner.cleanup()
    assert result is Result.SUCCESS
    assert events.recorded[0][:2] == ("Warning", "ProbeWarning")
    assert events.recorded[0][2].startswith("Readiness probe warning: Probe terminated redirects, Response body: ")


async def test_probe_without_handler_errors() -> None:
    events = Events()
    spec = container(ProbeType.LIVENESS, {"periodSeconds": 5})
    assert await Prober(None, emit=events).probe(ProbeType.LIVENESS, POD, "", spec, "cid") is None
    assert "missing probe handler" in events.recorded[0][2]


async def test_timeout_seconds_is_passed_to_the_runtime() -> None:
    seen: list[float] = []

    class Recording(Runtime):
        async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
            seen.append(timeout)
            await asyncio.sleep(0)
            return ExecResult(b"", b"", 0)

    spec = container(ProbeType.LIVENESS, {"exec": {"command": ["true"]}, "timeoutSeconds": 7})
    await Prober(Recording()).probe(ProbeType.LIVENESS, POD, "", spec, "cid")
    spec = container(ProbeType.LIVENESS, {"exec": {"command": ["true"]}})
    await Prober(Recording()).probe(ProbeType.LIVENESS, POD, "", spec, "cid")
    assert seen == [7, 1]

"""The grpc handler against a real grpc.aio server on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from typing import AsyncIterator

import grpc
import grpc.aio
import pytest

from navarch.kubelet.prober.grpcprobe import decode_status, encode_request, go_code, probe_grpc
from navarch.kubelet.prober.probe import Result

AGENT = "kube-probe/1.33"


class Health:
    """A health service answering from a table: service name -> status (absent: NOT_FOUND)."""

    def __init__(self) -> None:
        self.statuses = {"": 1, "db": 2}
        self.agents: list[str] = []
        self.services: list[str] = []
        self.delay = 0.0

    async def check(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        self.agents.extend(v for k, v in context.invocation_metadata() if k == "user-agent")
        service = request[2:].decode() if request else ""
        self.services.append(service)
        if self.delay:
            await asyncio.sleep(self.delay)
        if service not in self.statuses:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        status = self.statuses[service]
        return b"\x08" + bytes([status]) if status else b""


async def start(handlers: list[grpc.GenericRpcHandler]) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(handlers)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def health() -> AsyncIterator[tuple[Health, int]]:
    svc = Health()
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(svc.check)})
    server, port = await start([handler])
    try:
        yield svc, port
    finally:
        await server.stop(None)


async def test_serving_is_healthy(health: tuple[Health, int]) -> None:
    svc, port = health
    outcome = await probe_grpc("127.0.0.1", port, "", 2, AGENT)
    assert (outcome.result, outcome.output) == (Result.SUCCESS, "service healthy")
    assert svc.services == [""]
    assert svc.agents and svc.agents[0].startswith(AGENT + " ")


async def test_not_serving_is_unhealthy(health: tuple[Health, int]) -> None:
    outcome = await probe_grpc("127.0.0.1", health[1], "db", 2, AGENT)
    assert (outcome.result, outcome.output) == (Result.FAILURE, 'service unhealthy (responded with "NOT_SERVING")')
    assert health[0].services == ["db"]


async def test_unknown_service_is_an_rpc_error(health: tuple[Health, int]) -> None:
    outcome = await probe_grpc("127.0.0.1", health[1], "nope", 2, AGENT)
    assert outcome.result is Result.FAILURE
    assert outcome.output == "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"


async def test_slow_rpc_times_out(health: tuple[Health, int]) -> None:
    health[0].delay = 2
    outcome = await probe_grpc("127.0.0.1", health[1], "", 0.3, AGENT)
    assert outcome.result is Result.FAILURE
    assert outcome.output == "timeout: health rpc did not complete within 300ms"


async def test_server_without_health_service() -> None:
    server, port = await start([])
    try:
        outcome = await probe_grpc("127.0.0.1", port, "", 2, AGENT)
    finally:
        await server.stop(None)
    assert outcome.result is Result.FAILURE
    assert outcome.output.startswith(
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ")


async def test_nothing_listening_is_a_connect_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await probe_grpc("127.0.0.1", port, "", 0.3, AGENT)
    assert outcome.result is Result.FAILURE
    assert outcome.output == (f'timeout: failed to connect service "127.0.0.1:{port}" within 300ms: '
                              "context deadline exceeded")


@pytest.mark.parametrize("service", ["", "a", "x" * 200], ids=["empty", "short", "long"])
def test_request_encoding_round_trips(service: str) -> None:
    data = encode_request(service)
    if service:
        assert data[0] == 0x0A
    # The request's one field decodes with the response decoder's skipping logic: no status field.
    assert decode_status(data) == 0


def test_response_decoding() -> None:
    assert decode_status(b"") == 0
    assert decode_status(b"\x08\x01") == 1
    assert decode_status(b"\x12\x02hi\x08\x02") == 2
    with pytest.raises(ValueError):
        decode_status(b"\x08")


def test_go_code_names() -> None:
    assert go_code(grpc.StatusCode.NOT_FOUND) == "NotFound"
    assert go_code(grpc.StatusCode.CANCELLED) == "Canceled"
    assert go_code(grpc.StatusCode.DEADLINE_EXCEEDED) == "DeadlineExceeded"

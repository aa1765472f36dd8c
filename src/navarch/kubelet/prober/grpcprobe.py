"""The grpc handler: the standard health check (``grpc.health.v1.Health/Check``), plaintext.

The request and response are one field each (``service``, a string; ``status``, an enum), so
they are encoded here rather than pulling in generated protobuf modules; the call itself goes
through grpcio's asyncio channel as a generic method. Upstream dials with ``WithBlock``: a server
that does not answer is retried until the timeout, reported as ``timeout: failed to connect
service ...``; the other messages are upstream's too.
"""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio

from navarch.kubelet.prober.probe import Outcome, Result, go_duration, go_quote, join_host_port

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = 1
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


async def probe_grpc(host: str, port: int, service: str, timeout: float, agent: str) -> Outcome:
    address = join_host_port(host, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    options = [("grpc.primary_user_agent", agent), ("grpc.enable_retries", 0)]
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            return Outcome(Result.FAILURE, f"timeout: failed to connect service {go_quote(address)} within "
                                           f"{go_duration(timeout)}: context deadline exceeded")
        check = channel.unary_unary(HEALTH_CHECK)  # no (de)serializers: bytes in, bytes out
        try:
            raw = await check(encode_request(service), timeout=max(deadline - loop.time(), 0.001))
        except grpc.aio.AioRpcError as e:
            code = e.code()
            if code is grpc.StatusCode.UNIMPLEMENTED:
                return Outcome(Result.FAILURE, "error: this server does not implement the grpc health protocol "
                                               f"(grpc.health.v1.Health): {e.details()}")
            if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                return Outcome(Result.FAILURE, f"timeout: health rpc did not complete within {go_duration(timeout)}")
            return Outcome(Result.FAILURE, f"error: health rpc probe failed: rpc error: code = {go_code(code)} "
                                           f"desc = {e.details()}")
    try:
        status = decode_status(raw)
    except ValueError as e:
        return Outcome(Result.FAILURE, f"error: health rpc probe failed: {e}")
    if status != SERVING:
        return Outcome(Result.FAILURE, f"service unhealthy (responded with {go_quote(STATUS_NAMES.get(status, str(status)))})")
    return Outcome(Result.SUCCESS, "service healthy")


def encode_request(service: str) -> bytes:
    """``HealthCheckRequest{service}``: field 1, length-delimited; empty means "the server"."""
    data = service.encode()
    return b"\x0a" + _varint(len(data)) + data if data else b""


def decode_status(message: bytes) -> int:
    """``HealthCheckResponse.status`` (field 1, varint); other fields are skipped, absent is 0."""
    status = 0
    i = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(message, i)
            if field == 1:
                status = value
        elif wire == 2:
            size, i = _read_varint(message, i)
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        if i > len(message):
            raise ValueError("truncated health check response")
    return status


def go_code(code: grpc.StatusCode) -> str:
    """grpc-go's spelling of a status code (``NotFound``, ``Canceled``)."""
    if code is grpc.StatusCode.OK:
        return "OK"
    if code is grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in code.name.split("_"))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data):
            raise ValueError("truncated varint")
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7

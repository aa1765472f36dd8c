"""The tcpSocket handler against a real loopback listener."""

from __future__ import annotations

import asyncio
import socket

from navarch.kubelet.prober.probe import Result
from navarch.kubelet.prober.tcpprobe import probe_tcp


async def test_open_port_succeeds() -> None:
    accepted: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        outcome = await probe_tcp("127.0.0.1", port, 1)
        await asyncio.sleep(0.01)
    assert (outcome.result, outcome.output) == (Result.SUCCESS, "")
    assert accepted == [True]


async def test_closed_port_fails_as_go_says() -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await probe_tcp("127.0.0.1", port, 1)
    assert outcome.result is Result.FAILURE
    assert outcome.output == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


async def test_timeout_fails_with_io_timeout(monkeypatch) -> None:
    async def never(*args, **kwargs):
        await asyncio.sleep(10)

    monkeypatch.setattr(asyncio, "open_connection", never)
    outcome = await probe_tcp("10.255.255.1", 80, 0.05)
    assert (outcome.result, outcome.output) == (Result.FAILURE, "dial tcp 10.255.255.1:80: i/o timeout")

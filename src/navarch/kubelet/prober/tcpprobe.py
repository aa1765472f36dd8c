"""The tcpSocket handler: success when a connection opens within the timeout; nothing is sent."""

from __future__ import annotations

import asyncio
import contextlib
import os

from navarch.kubelet.prober.probe import Outcome, Result, join_host_port


async def probe_tcp(host: str, port: int, timeout: float) -> Outcome:
    address = join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return Outcome(Result.FAILURE, f"dial tcp {address}: i/o timeout")
    except OSError as e:
        return Outcome(Result.FAILURE, f"dial tcp {address}: {dial_error(e)}")
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return Outcome(Result.SUCCESS)


def dial_error(e: OSError) -> str:
    """Go's wording for a failed connect (``connect: connection refused``): the errno's text, in
    lower case (asyncio's own message names the address instead)."""
    if e.errno:
        return f"connect: {os.strerror(e.errno).lower()}"
    return str(e)

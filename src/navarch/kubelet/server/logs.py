"""``GET /containerLogs/{ns}/{pod}/{container}``: a container's log, streamed as it is written.

Errors found before the first byte (no such container, no previous instance, a runtime that keeps no
logs) are answered as Status bodies with upstream's messages; the API server relays them to kubectl.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from navarch.api import errors
from navarch.kubelet.runtimes.interface import (
    NotFoundError,
    NotSupportedError,
    Runtime,
    RuntimeFailure,
)
from navarch.kubelet.server import lookup
from navarch.kubelet.server.options import OptionError, log_request

log = logging.getLogger("navarch.kubelet.server")

# How long the first chunk may take before headers go out anyway: long enough for a runtime to fail
# opening the log (an answerable error), short enough that ``logs -f`` of a quiet container shows at once.
_FIRST_CHUNK_GRACE = 0.25


async def container_logs(request: web.Request, runtime: Runtime) -> web.StreamResponse:
    ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
    try:
        req = log_request(request.query)
    except OptionError as e:
        raise errors.bad_request(str(e)) from None
    instances = await lookup.container_instances(runtime, ns, pod, name)
    if not instances:
        if not await lookup.pod_known(runtime, ns, pod):
            raise errors.StatusError(404, "NotFound", f'pod "{pod}" does not exist')
        raise errors.bad_request(f'container "{name}" in pod "{pod}" is not available')
    if req.previous:
        if len(instances) < 2:
            raise errors.bad_request(f'previous terminated container "{name}" in pod "{pod}" not found')
        target = instances[1]
    else:
        target = instances[0]
    chunks = runtime.container_logs(target.id, req.options)
    first = asyncio.ensure_future(_next(chunks))
    try:
        await asyncio.wait({first}, timeout=_FIRST_CHUNK_GRACE)
        if first.done():
            try:
                first.result()
            except NotFoundError:
                raise errors.bad_request(f'container "{name}" in pod "{pod}" is not available') from None
            except NotSupportedError as e:
                raise errors.bad_request(str(e)) from None
            except RuntimeFailure as e:
                raise errors.internal(f"failed to read the log of container {name}: {e}") from None
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        try:
            chunk = await first
            while chunk:
                await resp.write(chunk)
                chunk = await _next(chunks)
        except RuntimeFailure as e:
            # Too late for a Status: the headers are out. End the stream; the log says why.
            log.warning("log stream of %s/%s/%s ended early: %s", ns, pod, name, e)
        await resp.write_eof()
        return resp
    finally:
        if not first.done():
            first.cancel()
        with contextlib.suppress(BaseException):
            await first
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()


async def _next(chunks: AsyncIterator[bytes]) -> bytes:
    """The next chunk, b"" at the end."""
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return b""
        if chunk:
            return chunk

"""The httpGet handler: one GET, success for 200 <= status < 400 (upstream ``pkg/probe/http``).

Upstream's request and client, reproduced:
- the URL is ``scheme://host:port`` plus ``path`` as written (query included); ``host`` defaults
  to the pod IP; the port is a number or a named container port;
- ``httpHeaders`` are sent as given (repeats kept); ``User-Agent`` defaults to
  ``kube-probe/<major>.<minor>``, ``Accept`` to ``*/*`` (a header given empty removes it); a
  ``Host`` header sets the request's host;
- HTTPS is not verified, and every probe opens a new connection (no keep-alive);
- redirects to the same host name are followed, at most 10; a redirect elsewhere is not followed,
  and the 3xx answer counts as success with a warning (``Probe terminated redirects``);
- ``timeoutSeconds`` bounds the whole exchange, redirects and body included; at most 10 KiB of
  the body is read;
- the failure messages are Go's (``Get "http://...": dial tcp ...: connect: connection refused``)
  so that ``kubectl describe`` reads as it does against a real kubelet.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Mapping

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from navarch.kubelet.prober.probe import (
    MAX_OUTPUT,
    Outcome,
    ProbeError,
    Result,
    join_host_port,
    resolve_port,
)
from navarch.kubelet.prober.tcpprobe import dial_error

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REQUESTS = 10  # Go's default client stops after 10 redirects


def build_request(http_get: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str,
                  agent: str) -> tuple[URL, CIMultiDict[str]]:
    """The URL and headers for an ``httpGet`` action; raises ``ProbeError`` when they cannot be made."""
    scheme = str(http_get.get("scheme") or "HTTP").lower()
    host = str(http_get.get("host") or pod_ip)
    if not host:
        raise ProbeError("the pod has no IP address yet")
    port = resolve_port(http_get.get("port"), container)
    path = str(http_get.get("path") or "")
    if path and not path.startswith("/"):
        path = "/" + path
    try:
        url = URL(f"{scheme}://{join_host_port(host, port)}{path}")
    except ValueError as e:
        raise ProbeError(f"parse {path!r}: {e}") from e
    headers: CIMultiDict[str] = CIMultiDict()
    for header in http_get.get("httpHeaders") or []:
        headers.add(str(header.get("name", "")), str(header.get("value", "")))
    if "User-Agent" not in headers:
        headers["User-Agent"] = agent
    if "Accept" not in headers:
        headers["Accept"] = "*/*"
    elif not headers.get("Accept"):
        headers.popall("Accept")
    return url, headers


async def probe_http(url: URL, headers: CIMultiDict[str], timeout: float) -> Outcome:
    current = url
    reading_body = False
    try:
        async with asyncio.timeout(timeout):
            connector = aiohttp.TCPConnector(ssl=False, force_close=True)
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             skip_auto_headers=("Accept", "User-Agent")) as session:
                for sent in range(1, MAX_REQUESTS + 1):
                    async with session.get(current, headers=headers, allow_redirects=False) as resp:
                        location = resp.headers.get("Location")
                        if resp.status in REDIRECT_STATUSES and location:
                            target = current.join(URL(location))
                            if target.host == url.host:
                                if sent >= MAX_REQUESTS:
                                    return Outcome(Result.FAILURE,
                                                   f'Get "{go_url(target)}": stopped after {MAX_REQUESTS} redirects')
                                current = target
                                continue
                        reading_body = True
                        body = await _read_at_most(resp, MAX_OUTPUT)
                        return judge(resp.status, body.decode("utf-8", errors="replace"))
    except TimeoutError:
        why = ("Client.Timeout or context cancellation while reading body" if reading_body
               else "Client.Timeout exceeded while awaiting headers")
        return Outcome(Result.FAILURE, f'Get "{go_url(current)}": context deadline exceeded ({why})')
    except aiohttp.ClientConnectorError as e:
        return Outcome(Result.FAILURE, f'Get "{go_url(current)}": {_dial_error(e, current)}')
    except aiohttp.ServerDisconnectedError:
        return Outcome(Result.FAILURE, f'Get "{go_url(current)}": EOF')
    except (aiohttp.ClientError, ValueError) as e:
        return Outcome(Result.FAILURE, f'Get "{go_url(current)}": {e}')
    raise AssertionError("unreachable: the loop returns")  # pragma: no cover


def go_url(url: URL) -> str:
    """The URL as Go prints it in errors: the port always shown, the path as given."""
    path = url.raw_path
    if path == "/" and not str(url.with_query(None).with_fragment(None)).endswith("/"):
        path = ""
    query = f"?{url.raw_query_string}" if url.raw_query_string else ""
    return f"{url.scheme}://{join_host_port(url.host or '', url.port or 0)}{path}{query}"


def judge(status: int, body: str) -> Outcome:
    if 200 <= status < 400:
        if status >= 300:
            return Outcome(Result.WARNING, f"Probe terminated redirects, Response body: {body}")
        return Outcome(Result.SUCCESS, body)
    # Upstream leaves the body out of the message on purpose (it may hold secrets).
    return Outcome(Result.FAILURE, f"HTTP probe failed with statuscode: {status}")


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _dial_error(e: aiohttp.ClientConnectorError, url: URL) -> str:
    os_error = e.os_error
    if isinstance(os_error, socket.gaierror):
        return f"dial tcp: lookup {url.host}: no such host"
    address = join_host_port(url.host or "", url.port or 0)
    return f"dial tcp {address}: {dial_error(os_error) if os_error is not None else e}"

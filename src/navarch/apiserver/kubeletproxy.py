"""The API server's proxies to kubelets: ``pods/log``, ``pods/exec``, ``pods/attach``,
``pods/portforward`` and ``nodes/proxy``.

As upstream (``pkg/registry/core/pod/rest/log.go``, ``subresources.go``, ``pkg/registry/core/node/rest``):
the pod names its node (``spec.nodeName``), the Node names the kubelet's address (``status.addresses``)
and port (``status.daemonEndpoints.kubeletEndpoint.Port``); the API server dials it over TLS with its
kubelet client certificate and verifies the kubelet's serving certificate only when given a CA.

Upgrade requests (exec, attach, port-forward: WebSocket or SPDY) are relayed byte for byte once the
kubelet answers 101, so whatever protocol the kubelet speaks reaches kubectl unchanged; any other
answer is passed back as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
from aiohttp import web

from navarch.api import errors
from navarch.api.resources import REGISTRY

if TYPE_CHECKING:
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI

log = logging.getLogger("navarch.apiserver")

DEFAULT_KUBELET_PORT = 10250
PROXIED = {("pods", "log"), ("pods", "exec"), ("pods", "attach"), ("pods", "portforward"), ("nodes", "proxy")}

_LOG_PARAMS = ("follow", "previous", "timestamps", "tailLines", "sinceSeconds", "sinceTime", "limitBytes")
# Headers that belong to one hop, or to the client's credentials at the API server, not to the kubelet.
_HOP_HEADERS = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                "transfer-encoding", "upgrade", "host", "authorization", "content-length"}
_UPGRADE_DROP = {"host", "authorization", "proxy-authorization"}
_MAX_HEAD = 64 * 1024
_MAX_ERROR_BODY = 1 << 20
_HIGH_WATER = 1 << 20


@dataclass(frozen=True)
class KubeletClientConfig:
    """``--kubelet-client-certificate``, ``--kubelet-client-key``, ``--kubelet-certificate-authority``."""

    client_cert: Path | None = None
    client_key: Path | None = None
    certificate_authority: Path | None = None
    connect_timeout: float = 30.0


@dataclass(frozen=True)
class _Kubelet:
    host: str
    port: int

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def is_proxied(info: RequestInfo) -> bool:
    return info.resource.group == "" and (info.resource.plural, info.subresource) in PROXIED


class KubeletProxy:
    def __init__(self, api: ResourceAPI, config: KubeletClientConfig) -> None:
        self.api = api
        self.config = config
        self._verifying = self._context(verify=True)
        self._insecure = self._context(verify=False)
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _context(self, *, verify: bool) -> ssl.SSLContext:
        c = self.config
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if verify and c.certificate_authority:
            ctx.load_verify_locations(str(c.certificate_authority))
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if c.client_cert and c.client_key:
            ctx.load_cert_chain(str(c.client_cert), str(c.client_key))
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    def _ssl(self, info: RequestInfo) -> ssl.SSLContext:
        skip = info.query.get("insecureSkipTLSVerifyBackend") in ("true", "1")
        return self._insecure if skip else self._verifying

    def _session(self, insecure: bool) -> aiohttp.ClientSession:
        s = self._sessions.get(insecure)
        if s is None or s.closed:
            ctx = self._insecure if insecure else self._verifying
            s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=0),
                                      auto_decompress=False, timeout=aiohttp.ClientTimeout(
                                          total=None, sock_connect=self.config.connect_timeout))
            self._sessions[insecure] = s
        return s

    async def close(self) -> None:
        for s in self._sessions.values():
            await s.close()
        self._sessions.clear()

    # ------------------------------------------------------------------ entry point
    async def serve(self, info: RequestInfo) -> web.StreamResponse:
        sub = info.subresource
        if info.resource.plural == "nodes":
            return await self._node_proxy(info)
        pod = await self._pod(info)
        if sub == "log":
            return await self._logs(info, pod)
        return await self._stream(info, pod)

    async def _pod(self, info: RequestInfo) -> dict[str, Any]:
        pods = REGISTRY.get("", "v1", "pods")
        assert pods is not None
        return (await self.api._get_current(pods, info.namespace, info.name or "")).obj

    async def _kubelet(self, node_name: str) -> _Kubelet:
        nodes = REGISTRY.get("", "v1", "nodes")
        assert nodes is not None
        node = (await self.api._get_current(nodes, None, node_name)).obj
        status = node.get("status") or {}
        addresses = status.get("addresses") or []
        # navarch prefers InternalIP (always dialable) over Hostname (upstream's default order puts
        # Hostname first, which needs DNS for node names).
        host = ""
        for kind in ("InternalIP", "Hostname", "ExternalIP", "InternalDNS", "ExternalDNS"):
            host = next((a.get("address", "") for a in addresses if a.get("type") == kind and a.get("address")), "")
            if host:
                break
        if not host:
            known = ", ".join(f"{a.get('type')}={a.get('address')}" for a in addresses)
            raise errors.internal(f"no preferred addresses found; known addresses: [{known}]")
        port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or DEFAULT_KUBELET_PORT
        return _Kubelet(host, int(port))

    # ------------------------------------------------------------------ pods/log
    async def _logs(self, info: RequestInfo, pod: dict[str, Any]) -> web.StreamResponse:
        name = info.name or ""
        container = _container(pod, info.query.get("container", ""), name)
        _validate_log_options(info, name)
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            # Upstream answers an unscheduled pod's log with an empty stream.
            return web.Response(body=b"", content_type="text/plain")
        _check_log_status(pod, container, previous=info.query.get("previous") in ("true", "1"))
        kubelet = await self._kubelet(node)
        params = [(k, info.query[k]) for k in _LOG_PARAMS if k in info.query]
        url = (f"https://{kubelet.hostport}/containerLogs/{_seg(info.namespace or '')}/{_seg(name)}/"
               f"{_seg(container)}" + (f"?{urlencode(params)}" if params else ""))
        session = self._session(insecure=self._ssl(info) is self._insecure)
        try:
            upstream = await session.get(url)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _dial_error("GET", url, e) from None
        try:
            if upstream.status != 200:
                raise _kubelet_error(upstream.status, await upstream.content.read(_MAX_ERROR_BODY))
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await resp.prepare(info.request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (aiohttp.ClientError, OSError) as e:
                log.info("log stream from kubelet %s ended: %s", kubelet.hostport, e)
            await resp.write_eof()
            return resp
        finally:
            upstream.release()
            upstream.close()

    # ------------------------------------------------------------------ exec, attach, portforward
    async def _stream(self, info: RequestInfo, pod: dict[str, Any]) -> web.StreamResponse:
        name = info.name or ""
        sub = info.subresource or ""
        container = ""
        if sub != "portforward":
            container = _container(pod, info.query.get("container", ""), name)
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        if not _is_upgrade(info.request):
            raise errors.bad_request("Upgrade request required")
        kubelet = await self._kubelet(node)
        ns = _seg(info.namespace or "")
        if sub == "portforward":
            path = f"/portForward/{ns}/{_seg(name)}"
        else:
            path = f"/{sub}/{ns}/{_seg(name)}/{_seg(container)}"
        params = [(k, v) for k, v in info.query.items() if k != "container"]
        if params:
            path += "?" + urlencode(params)
        return await relay_upgrade(info.request, kubelet.host, kubelet.port, path, self._ssl(info),
                                   self.config.connect_timeout)

    # ------------------------------------------------------------------ nodes/proxy
    async def _node_proxy(self, info: RequestInfo) -> web.StreamResponse:
        raw_name = info.name or ""
        node_name, port = _split_node_name(raw_name)
        kubelet = await self._kubelet(node_name)
        if port:
            kubelet = _Kubelet(kubelet.host, port)
        request = info.request
        raw = request.rel_url.raw_path
        marker = f"/nodes/{raw_name}/proxy"
        at = raw.find(marker)
        rest = raw[at + len(marker):] if at >= 0 else "/"
        path = rest or "/"
        if request.rel_url.raw_query_string:
            path += "?" + request.rel_url.raw_query_string
        if _is_upgrade(request):
            return await relay_upgrade(request, kubelet.host, kubelet.port, path, self._ssl(info),
                                       self.config.connect_timeout)
        url = f"https://{kubelet.hostport}{path}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        body = await request.read() if request.can_read_body else None
        session = self._session(insecure=self._ssl(info) is self._insecure)
        try:
            upstream = await session.request(request.method, aiohttp.client.URL(url, encoded=True),
                                             headers=headers, data=body, allow_redirects=False)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _dial_error(request.method, url, e) from None
        try:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in _HOP_HEADERS:
                    resp.headers.add(k, v)
            await resp.prepare(request)
            async for chunk in upstream.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        finally:
            upstream.release()
            upstream.close()


# ---------------------------------------------------------------------- the byte relay
async def relay_upgrade(request: web.Request, host: str, port: int, path: str, ctx: ssl.SSLContext,
                        connect_timeout: float = 30.0) -> web.StreamResponse:
    """Send the client's upgrade request to ``host:port``; on 101, answer the client with the
    backend's 101 and copy bytes both ways until either side closes; else pass the answer back."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host if ctx.check_hostname else None,
                                    limit=_MAX_HEAD * 2), connect_timeout)
    except (TimeoutError, OSError, ssl.SSLError) as e:
        raise _dial_error(request.method, f"https://{host}:{port}{path}", e) from None
    try:
        writer.write(_request_head(request, host, port, path))
        await writer.drain()
        status, reason, headers = await _read_head(reader)
        if status != 101:
            body = await _read_body(reader, headers)
            resp = web.Response(status=status, reason=reason, body=body)
            for k, v in headers:
                if k.lower() not in _HOP_HEADERS and k.lower() not in ("date", "server"):
                    resp.headers.add(k, v)
            return resp
        resp = web.StreamResponse(status=101, reason=reason or "Switching Protocols")
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "date", "server"):
                resp.headers.add(k, v)
        resp.force_close()
        # From here on, the client's bytes belong to the backend: take them before aiohttp's HTTP
        # parser can see them (as aiohttp's own WebSocketResponse takes over its connection).
        sink = _Sink(writer, request)
        request.protocol.set_parser(sink)  # type: ignore[arg-type]
        await resp.prepare(request)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                await resp.write(data)
        except (ConnectionError, OSError, ssl.SSLError) as e:
            log.debug("upgraded stream to %s:%d ended: %s", host, port, e)
        return resp
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)


class _Sink:
    """Stands in for aiohttp's payload parser on an upgraded connection: every byte the client sends
    goes to the backend, with the client paused while the backend is slow to take them."""

    def __init__(self, writer: asyncio.StreamWriter, request: web.Request) -> None:
        self.writer = writer
        self.request = request
        self._draining: asyncio.Task[None] | None = None

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self.writer.is_closing():
            return False, b""
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > _HIGH_WATER and self._draining is None:
            transport = self.request.transport
            if transport is not None:
                transport.pause_reading()
            self._draining = asyncio.ensure_future(self._drain())
        return False, b""

    async def _drain(self) -> None:
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._draining = None
            transport = self.request.transport
            if transport is not None and not transport.is_closing():
                transport.resume_reading()

    def feed_eof(self) -> None:
        # TLS cannot half-close: the client is done, so is the backend connection.
        self.writer.close()


def _request_head(request: web.Request, host: str, port: int, path: str) -> bytes:
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {hostport}"]
    for k, v in request.headers.items():
        low = k.lower()
        if low in _UPGRADE_DROP or low.startswith("impersonate-"):
            continue
        lines.append(f"{k}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, str, list[tuple[str, str]]]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ssl.SSLError) as e:
        raise errors.internal(f"error reading the kubelet's answer: {e}") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise errors.internal(f"malformed answer from the kubelet: {lines[0]!r}") from None
    reason = parts[2] if len(parts) > 2 else ""
    headers = []
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.append((k.strip(), v.strip()))
    return status, reason, headers


async def _read_body(reader: asyncio.StreamReader, headers: list[tuple[str, str]]) -> bytes:
    h = {k.lower(): v for k, v in headers}
    try:
        if "content-length" in h:
            return await reader.readexactly(min(int(h["content-length"]), _MAX_ERROR_BODY))
        if "chunked" in h.get("transfer-encoding", "").lower():
            out = bytearray()
            while len(out) < _MAX_ERROR_BODY:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                out += await reader.readexactly(size)
                await reader.readline()
            return bytes(out)
        return await reader.read(_MAX_ERROR_BODY)
    except (asyncio.IncompleteReadError, ValueError, ConnectionError, ssl.SSLError):
        return b""


# ---------------------------------------------------------------------- helpers
def _is_upgrade(request: web.Request) -> bool:
    tokens = {t.strip().lower() for h in request.headers.getall("Connection", []) for t in h.split(",")}
    return "upgrade" in tokens and bool(request.headers.get("Upgrade"))


def _seg(value: str) -> str:
    return quote(value, safe="")


def _names(containers: list[dict[str, Any]] | None) -> str:
    return " ".join(c.get("name", "") for c in containers or [])


def _container(pod: dict[str, Any], container: str, name: str) -> str:
    """The container a log/exec/attach is for, defaulted as upstream's LogLocation/streamLocation."""
    spec = pod.get("spec") or {}
    containers = spec.get("containers") or []
    if not container:
        if len(containers) == 1:
            return containers[0].get("name", "")
        if not containers:
            raise errors.bad_request(f"a container name must be specified for pod {name}")
        msg = f"a container name must be specified for pod {name}, choose one of: [{_names(containers)}]"
        if spec.get("initContainers"):
            msg += f" or one of the init containers: [{_names(spec.get('initContainers'))}]"
        raise errors.bad_request(msg)
    known = {c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
             for c in spec.get(key) or []}
    if container not in known:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    return container


def _validate_log_options(info: RequestInfo, name: str) -> None:
    """Upstream's ValidatePodLogOptions (422 PodLogOptions)."""
    causes: list[errors.Cause] = []
    ints: dict[str, int] = {}
    for key in ("tailLines", "limitBytes", "sinceSeconds"):
        raw = info.query.get(key)
        if raw is None:
            continue
        try:
            ints[key] = int(raw)
        except ValueError:
            raise errors.bad_request(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
    if ints.get("tailLines", 0) < 0:
        causes.append(errors.field_invalid("tailLines", ints["tailLines"], "must be greater than or equal to 0"))
    if "limitBytes" in ints and ints["limitBytes"] < 1:
        causes.append(errors.field_invalid("limitBytes", ints["limitBytes"], "must be greater than 0"))
    if "sinceSeconds" in ints and ints["sinceSeconds"] < 1:
        causes.append(errors.field_invalid("sinceSeconds", ints["sinceSeconds"], "must be greater than 0"))
    if "sinceSeconds" in ints and info.query.get("sinceTime"):
        causes.append(errors.Cause("FieldValueForbidden",
                                   "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
                                   ""))
    if causes:
        raise errors.invalid("PodLogOptions", "", name, causes)


def _check_log_status(pod: dict[str, Any], container: str, *, previous: bool) -> None:
    """The upstream kubelet's answers for a container that has no log to show, read from the
    container's status as the kubelet last posted it. Without a status entry the kubelet decides."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    entry = next((s for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses")
                  for s in status.get(key) or [] if s.get("name") == container), None)
    if entry is None:
        return
    state = entry.get("state") or {}
    last = (entry.get("lastState") or {}).get("terminated")
    if previous:
        if last is None:
            raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        return
    if state.get("running") is not None or state.get("terminated") is not None or last is not None:
        return
    waiting = state.get("waiting")
    if waiting is not None:
        reason = waiting.get("reason", "")
        if reason == "ErrImagePull":
            reason = "image can't be pulled"
        elif reason == "ImagePullBackOff":
            reason = "trying and failing to pull image"
        raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: {reason}')
    raise errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start - no logs yet')


def _split_node_name(raw: str) -> tuple[str, int | None]:
    """``name``, ``name:port`` or ``scheme:name:port``, as upstream's node ResourceLocation splits it."""
    parts = raw.split(":")
    if len(parts) == 3:
        parts = parts[1:]
    if len(parts) == 2 and parts[1].isdigit():
        return parts[0], int(parts[1])
    return parts[0], None


def _kubelet_error(code: int, body: bytes) -> errors.StatusError:
    """A kubelet's non-200 answer as the Status kubectl shows: its own Status if it sent one, else
    its text as the message (upstream's GenericHttpResponseChecker)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and obj.get("kind") == "Status":
        details = obj.get("details") or {}
        return errors.StatusError(int(obj.get("code") or code), obj.get("reason") or _reason(code),
                                  obj.get("message") or "", name=details.get("name", ""),
                                  kind=details.get("kind", ""),
                                  causes=[errors.Cause(c.get("reason", ""), c.get("message", ""), c.get("field", ""))
                                          for c in details.get("causes") or []])
    text = body.decode("utf-8", "replace").strip()
    return errors.StatusError(code, _reason(code), text or f"the kubelet answered {code}")


def _reason(code: int) -> str:
    return {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
            501: "NotImplemented", 503: "ServiceUnavailable", 504: "Timeout"}.get(code, "InternalError")


def _dial_error(method: str, url: str, e: BaseException) -> errors.StatusError:
    detail = str(e) or type(e).__name__
    return errors.StatusError(500, "InternalError", f'{method} "{url}": {detail}')

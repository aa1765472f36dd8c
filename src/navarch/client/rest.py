"""``Client``: each REST verb written once, async, over a keep-alive connection pool.

Unary requests go through ``transport.Transport`` (lean: its CPU per request is the scheduler's and
kubelet's throughput); watches, which stream for minutes, go through an aiohttp session of their own.

Resources are addressed by registry entry (or a string ``resolve`` understands), never by URL, so a
component cannot drift from the server's routes. Objects are the plain dicts the server sent; errors
are ``ApiError`` carrying the server's Status. Like client-go, a response that carries
``Retry-After`` with 429 or 5xx is retried a bounded number of times; everything else is the
caller's decision (controllers requeue with backoff, reflectors re-list).
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import MappingProxyType
from typing import Any, AsyncGenerator, Mapping
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson

import navarch
from navarch.api.resources import REGISTRY, Registry, ResourceInfo
from navarch.client import tls
from navarch.client.errors import ApiError, is_gone
from navarch.client.kubeconfig import ClientConfig, in_cluster_config, load_kubeconfig
from navarch.client.resolve import ResourceRef, resolve
from navarch.client.transport import Response, Transport
from navarch.client.watch import ERROR, WatchEvent, decode_event, split_lines

log = logging.getLogger(__name__)

PATCH_CONTENT_TYPES = MappingProxyType({
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
})
# Characters kept as they are in a request path (RFC 3986 pchar plus "/"); "%" stays so that an
# already-escaped path is not escaped twice.
_PATH_SAFE = "/:@!$&'()*+,;=%"
# client-go re-reads token files this often, so rotated service-account tokens are picked up.
TOKEN_FILE_REFRESH = 60.0


class Client:
    """An async client for one API server and one identity. Create it inside the event loop's life;
    ``close()`` (or ``async with``) releases its connections."""

    def __init__(self, config: ClientConfig, *, user_agent: str = f"navarch/{navarch.__version__}",
                 timeout: float = 30.0, max_retries: int = 5, max_retry_after: float = 30.0,
                 token_refresh: float = TOKEN_FILE_REFRESH, registry: Registry = REGISTRY,
                 max_connections: int = 16) -> None:
        self.config = config
        self.max_connections = max_connections
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        self.token_refresh = token_refresh
        self.registry = registry
        self._ssl = tls.ssl_context(config)
        self._transport: Transport | None = None
        self._path_prefix = urlsplit(config.server).path.rstrip("/")
        self._watch_session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, context: str | None = None, **kw: Any) -> "Client":
        return cls(load_kubeconfig(path, context), **kw)

    @classmethod
    def in_cluster(cls, **kw: Any) -> "Client":
        return cls(in_cluster_config(), **kw)

    @property
    def namespace(self) -> str:
        """The configured default namespace (kubeconfig context or the pod's own)."""
        return self.config.namespace

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        transport, session = self._transport, self._watch_session
        self._transport = self._watch_session = None
        if transport is not None:
            await transport.close()
        if session is not None:
            await session.close()

    # ---- reads -------------------------------------------------------------------------------

    async def get(self, res: ResourceRef, name: str, namespace: str | None = None, *,
                  subresource: str | None = None) -> dict[str, Any]:
        r = self._res(res)
        return await self._json("GET", self.path(r, namespace, name, subresource))

    async def list(self, res: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None,
                   field_selector: str | None = None, resource_version: str | None = None,
                   resource_version_match: str | None = None, limit: int | None = None,
                   continue_: str | None = None) -> dict[str, Any]:
        """One page of the List, as sent (``metadata.continue`` set when more remains)."""
        r = self._res(res)
        params = _params(labelSelector=label_selector, fieldSelector=field_selector,
                         resourceVersion=resource_version, resourceVersionMatch=resource_version_match,
                         limit=limit, **{"continue": continue_})
        return await self._json("GET", self.path(r, namespace), params=params)

    async def list_all(self, res: ResourceRef, namespace: str | None = None, *, label_selector: str | None = None,
                       field_selector: str | None = None, resource_version: str | None = None,
                       resource_version_match: str | None = None, page_size: int = 500) -> dict[str, Any]:
        """Every page joined into one List at the first page's resourceVersion.

        If the snapshot behind a continue token is compacted away mid-way (410), the list restarts
        unpaginated, as client-go's pager does: a consistent answer matters more than page size.
        """
        sel: dict[str, Any] = dict(label_selector=label_selector, field_selector=field_selector)
        first = await self.list(res, namespace, resource_version=resource_version,
                                resource_version_match=resource_version_match, limit=page_size, **sel)
        items = list(first.get("items") or [])
        token = (first.get("metadata") or {}).get("continue")
        while token:
            try:
                page = await self.list(res, namespace, limit=page_size, continue_=token, **sel)
            except ApiError as e:
                if not is_gone(e):
                    raise
                log.info("continue token for %s expired; listing again without pagination", self._res(res).qualified)
                return await self.list(res, namespace, resource_version=resource_version,
                                       resource_version_match=resource_version_match, **sel)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue")
        meta = dict(first.get("metadata") or {})
        meta.pop("continue", None)
        meta.pop("remainingItemCount", None)
        return {**first, "metadata": meta, "items": items}

    async def watch(self, res: ResourceRef, namespace: str | None = None, *, resource_version: str,
                    timeout_seconds: int | None = None, allow_bookmarks: bool = True,
                    label_selector: str | None = None, field_selector: str | None = None
                    ) -> AsyncGenerator[WatchEvent, None]:
        """Stream events until the server ends the watch; ERROR events raise ``ApiError`` (410 = re-list).

        Use inside ``contextlib.aclosing`` (or exhaust it) so the connection is released promptly.
        """
        r = self._res(res)
        params = _params(watch="true", resourceVersion=resource_version, timeoutSeconds=timeout_seconds,
                         allowWatchBookmarks="true" if allow_bookmarks else None,
                         labelSelector=label_selector, fieldSelector=field_selector)
        # No overall deadline: the server closes the stream. A read deadline past the server's own
        # catches a peer that vanished without closing the connection.
        read = None if timeout_seconds is None else timeout_seconds + max(30.0, self.timeout)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=read)
        session = self._get_watch_session()
        async with session.get(self._url(self.path(r, namespace)), params=params, timeout=timeout,
                               headers=self._headers(), **self._extra()) as resp:
            if resp.status != 200:
                raise await _error(resp)
            async for line in split_lines(resp.content.iter_any()):
                event = decode_event(line)
                if event.type == ERROR:
                    raise ApiError(event.object)
                yield event

    async def get_raw(self, path: str, params: Mapping[str, str] | None = None) -> bytes:
        """Any path as bytes (``/version``, ``/readyz``, pod logs)."""
        return await self._request("GET", path, params=dict(params or {}), accept="*/*")

    # ---- writes ------------------------------------------------------------------------------

    async def create(self, res: ResourceRef, body: Mapping[str, Any], namespace: str | None = None, *,
                     field_manager: str | None = None, dry_run: bool = False) -> dict[str, Any]:
        r = self._res(res)
        ns = namespace or _meta(body).get("namespace")
        return await self._json("POST", self.path(r, ns), body=body,
                                params=_params(fieldManager=field_manager, dryRun="All" if dry_run else None))

    async def update(self, res: ResourceRef, body: Mapping[str, Any], namespace: str | None = None, *,
                     subresource: str | None = None, field_manager: str | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """PUT; carries ``metadata.resourceVersion`` when set, so a stale write fails with Conflict."""
        r = self._res(res)
        meta = _meta(body)
        if not meta.get("name"):
            raise ValueError("update needs metadata.name in the body")
        ns = namespace or meta.get("namespace")
        return await self._json("PUT", self.path(r, ns, meta["name"], subresource), body=body,
                                params=_params(fieldManager=field_manager, dryRun="All" if dry_run else None))

    async def update_status(self, res: ResourceRef, body: Mapping[str, Any], namespace: str | None = None, *,
                            field_manager: str | None = None) -> dict[str, Any]:
        return await self.update(res, body, namespace, subresource="status", field_manager=field_manager)

    async def patch(self, res: ResourceRef, name: str, body: Any, patch_type: str = "merge",
                    namespace: str | None = None, subresource: str | None = None, *,
                    field_manager: str | None = None, force: bool | None = None,
                    dry_run: bool = False) -> dict[str, Any]:
        r = self._res(res)
        content_type = PATCH_CONTENT_TYPES.get(patch_type)
        if content_type is None:
            raise ValueError(f"unknown patch type {patch_type!r}; one of {', '.join(PATCH_CONTENT_TYPES)}")
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        if force is not None and patch_type != "apply":
            raise ValueError("force is only meaningful for server-side apply")
        params = _params(fieldManager=field_manager, force=None if force is None else str(force).lower(),
                         dryRun="All" if dry_run else None)
        return await self._json("PATCH", self.path(r, namespace, name, subresource), body=body,
                                params=params, content_type=content_type)

    async def delete(self, res: ResourceRef, name: str, namespace: str | None = None, *,
                     grace_period_seconds: int | None = None, propagation_policy: str | None = None,
                     preconditions: Mapping[str, str] | None = None, dry_run: bool = False) -> dict[str, Any]:
        """The deleted object (or the object with deletionTimestamp set, or a Status) as the server answers."""
        r = self._res(res)
        body = _delete_options(grace_period_seconds, propagation_policy, preconditions, dry_run)
        return await self._json("DELETE", self.path(r, namespace, name), body=body)

    async def delete_collection(self, res: ResourceRef, namespace: str | None = None, *,
                                label_selector: str | None = None, field_selector: str | None = None,
                                grace_period_seconds: int | None = None,
                                propagation_policy: str | None = None) -> dict[str, Any]:
        r = self._res(res)
        body = _delete_options(grace_period_seconds, propagation_policy, None, False)
        return await self._json("DELETE", self.path(r, namespace), body=body,
                                params=_params(labelSelector=label_selector, fieldSelector=field_selector))

    async def create_subresource(self, res: ResourceRef, name: str, subresource: str, body: Mapping[str, Any],
                                 namespace: str | None = None) -> dict[str, Any]:
        """POST to a subresource: ``pods/binding``, ``pods/eviction``, ``serviceaccounts/token``."""
        r = self._res(res)
        return await self._json("POST", self.path(r, namespace, name, subresource), body=body)

    # ---- plumbing ----------------------------------------------------------------------------

    def path(self, r: ResourceInfo, namespace: str | None, name: str | None = None,
             subresource: str | None = None) -> str:
        """The URL path of a collection, an object or its subresource.

        A namespaced resource without a namespace is the all-namespaces collection; naming one object
        then is an error. Cluster-scoped resources ignore ``namespace``.
        """
        root = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
        if r.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        elif r.namespaced and name is not None:
            raise ValueError(f"{r.qualified} is namespaced: a namespace is needed to address {name!r}")
        path = f"{root}/{r.plural}"
        if name is not None:
            if not name:
                raise ValueError(f"empty name for {r.qualified}")
            path += f"/{name}"
            if subresource:
                path += f"/{subresource}"
        return path

    def _res(self, res: ResourceRef) -> ResourceInfo:
        return resolve(res, self.registry)

    def _get_transport(self) -> Transport:
        """Requests share a capped pool: HTTP/1.1 has no multiplexing, so without a cap a burst of
        concurrent writes (a scheduler binding a backlog, a kubelet starting 100 pods) opens a
        connection per request, and each new TLS handshake costs both sides more CPU than the request.
        Past the cap, requests wait for a connection in turn. Made on first use, inside the loop."""
        if self._transport is None or self._transport.closed:
            self._transport = Transport(self.config.server, self._ssl, server_name=self.config.tls_server_name,
                                        max_connections=self.max_connections)
        return self._transport

    def _get_watch_session(self) -> aiohttp.ClientSession:
        """Watches hold their connection for minutes, one per informer: they get their own uncapped
        pool so they never take a connection from ordinary requests."""
        if self._watch_session is None or self._watch_session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0, keepalive_timeout=60)
            self._watch_session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.user_agent}, raise_for_status=False)
        return self._watch_session

    def _url(self, path: str) -> str:
        return self.config.server + path

    def _extra(self) -> dict[str, Any]:
        return {"server_hostname": self.config.tls_server_name} if self.config.tls_server_name else {}

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _bearer(self) -> str | None:
        if self.config.token:
            return self.config.token
        if not self.config.token_file:
            return None
        now = time.monotonic()
        if self._token is None or now - self._token[1] >= self.token_refresh:
            with open(self.config.token_file) as f:  # a few bytes from tmpfs, once a minute
                self._token = (f.read().strip(), now)
        return self._token[0]

    async def _json(self, method: str, path: str, *, params: dict[str, str] | None = None,
                    body: Any = None, content_type: str = "application/json") -> dict[str, Any]:
        data = await self._request(method, path, params=params, body=body, content_type=content_type)
        return orjson.loads(data) if data else {}

    async def _request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json",
                       accept: str = "application/json") -> bytes:
        payload = None if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
        headers = self._headers(accept)
        headers["User-Agent"] = self.user_agent
        if payload is not None:
            headers["Content-Type"] = content_type
        target = self._path_prefix + quote(path, safe=_PATH_SAFE)
        if params:
            # Go's url.Values.Encode: space as "+", everything outside [A-Za-z0-9_.~-] escaped, so
            # selectors like "tier in (a,b),!x" reach the server exactly as client-go sends them.
            target += "?" + urlencode(params)
        transport = self._get_transport()
        for attempt in range(self.max_retries + 1):
            resp = await transport.request(method, target, headers, payload, self.timeout)
            if resp.status < 400:
                return resp.body
            wait = _retry_after(resp)
            if wait is None or attempt == self.max_retries:
                raise _api_error(resp.status, resp.body)
            wait = min(wait, self.max_retry_after)
            log.info("%s %s: %d, retrying in %.0fs (attempt %d)", method, path, resp.status, wait, attempt + 1)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")


def _retry_after(resp: Response) -> float | None:
    """Seconds to wait before retrying, when the server asked for a retry (client-go checkWait)."""
    if resp.status != 429 and resp.status < 500:
        return None
    value = resp.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(int(value))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def _error(resp: aiohttp.ClientResponse) -> ApiError:
    """The ApiError for a failed watch request (served by aiohttp)."""
    return _api_error(resp.status, await resp.read())


def _api_error(status: int, data: bytes) -> ApiError:
    try:
        decoded = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        decoded = None
    return ApiError.from_response(status, data, decoded)


def _params(**kw: Any) -> dict[str, str]:
    return {k: str(v) for k, v in kw.items() if v is not None and v != ""}


def _meta(body: Mapping[str, Any]) -> dict[str, Any]:
    return dict(body.get("metadata") or {})


def _delete_options(grace: int | None, propagation: str | None, preconditions: Mapping[str, str] | None,
                    dry_run: bool) -> dict[str, Any] | None:
    opts: dict[str, Any] = {}
    if grace is not None:
        opts["gracePeriodSeconds"] = grace
    if propagation:
        opts["propagationPolicy"] = propagation
    if preconditions:
        opts["preconditions"] = dict(preconditions)
    if dry_run:
        opts["dryRun"] = ["All"]
    if not opts:
        return None
    return {"kind": "DeleteOptions", "apiVersion": "v1", **opts}

"""The API server: HTTPS, authentication, routing of Kubernetes REST paths to the verb handlers.

One catch-all route parses ``/api/v1/...`` and ``/apis/<group>/<version>/...`` itself (faster than a
table of hundreds of patterns, and it knows the resource registry), then dispatches by method.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

import navarch
from navarch.api import errors
from navarch.api.resources import REGISTRY, ResourceInfo
from navarch.api.warnings import resource_deprecation
from navarch.apiserver.allocators import ServiceAllocator
from navarch.apiserver.authn import Authenticator, User
from navarch.apiserver.handlers import RequestInfo, ResourceAPI, check_write_options
from navarch.apiserver.kubeletproxy import KubeletClientConfig, KubeletProxy, is_proxied
from navarch.apiserver.watchcache import WatchCache
from navarch.storage import Store

log = logging.getLogger("navarch.apiserver")

MAX_BODY_BYTES = 8 * 1024 * 1024  # larger request bodies are refused with 413

# /cacerts: the cluster CA, for joining agents to check against their token's hash before they
# trust this server (k3s's endpoint; docs/adr/0007-join-ca-discovery.md). It is public data.
_PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/cacerts")


@dataclass(frozen=True)
class APIServerConfig:
    bind_address: str = "127.0.0.1"
    port: int = 6443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    token_auth_file: Path | None = None
    service_cidr: str = "10.96.0.0/12"
    min_request_timeout: int = 1800
    watch_cache_history: float = 300.0
    # The API server's client certificate towards kubelets, and the CA that signed the kubelets'
    # serving certificates (unset: not verified, as upstream without --kubelet-certificate-authority).
    kubelet_client_cert: Path | None = None
    kubelet_client_key: Path | None = None
    kubelet_certificate_authority: Path | None = None
    # Service-account tokens: the key that signs them (TokenRequest), the public keys that verify
    # them (default: the signing key's), the issuers accepted (the first one signs) and the
    # audiences the API accepts (default: the issuer).
    service_account_signing_key_file: Path | None = None
    service_account_key_files: tuple[Path, ...] = ()
    service_account_issuers: tuple[str, ...] = ("https://kubernetes.default.svc.cluster.local",)
    api_audiences: tuple[str, ...] = ()
    service_account_max_token_expiration: int = 0
    service_account_extend_token_expiration: bool = True
    # Admission plugins switched off by name (upstream --disable-admission-plugins).
    disable_admission_plugins: tuple[str, ...] = ()
    # Upstream's --authorization-mode: Node, RBAC, AlwaysAllow, AlwaysDeny, in order.
    authorization_mode: str = "Node,RBAC"
    extra: dict[str, Any] = field(default_factory=dict)


def version_info() -> dict[str, str]:
    major, minor, patch = navarch.KUBE_VERSION
    import platform
    import sys

    return {
        "major": str(major),
        "minor": str(minor),
        "gitVersion": f"v{major}.{minor}.{patch}+navarch.{navarch.__version__}",
        "gitCommit": "navarch-" + navarch.__version__,
        "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{_arch()}",
    }


def _arch() -> str:
    import platform

    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


class APIServer:
    def __init__(self, config: APIServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        prefixes = sorted({REGISTRY.storage_resource(r).storage_prefix() for r in REGISTRY.resources if not r.virtual})
        self.cache = WatchCache(store, prefixes, history_seconds=config.watch_cache_history)
        self.allocator = ServiceAllocator(config.service_cidr)
        self.api = ResourceAPI(store, self.cache, self.allocator, config.min_request_timeout)
        from navarch.apiserver.tokens.authenticator import ServiceAccountTokens

        service_accounts = ServiceAccountTokens.from_files(
            self.cache, signing_key_file=config.service_account_signing_key_file,
            key_files=config.service_account_key_files, issuers=config.service_account_issuers,
            api_audiences=config.api_audiences, max_expiration_seconds=config.service_account_max_token_expiration,
            extend_expiration=config.service_account_extend_token_expiration)
        self.authn = Authenticator(token_file=config.token_auth_file, cache=self.cache,
                                   service_accounts=service_accounts)
        self.api.authenticator = self.authn
        from navarch.apiserver.authz.authorizer import new_authorizer
        from navarch.apiserver.authz.escalation import RBACEscalationCheck
        from navarch.apiserver.authz.gate import RequestGate

        self.authorizer = new_authorizer(config.authorization_mode, self.cache)
        self.gate = RequestGate(self.authorizer)
        self.api.authorizer = self.authorizer
        self.api.admission.append(RBACEscalationCheck(self.authorizer))
        if config.disable_admission_plugins:
            off = set(config.disable_admission_plugins)
            self.api.admission = [p for p in self.api.admission if getattr(p, "NAME", "") not in off]
        self.kubelet_proxy = KubeletProxy(self.api, KubeletClientConfig(
            client_cert=config.kubelet_client_cert, client_key=config.kubelet_client_key,
            certificate_authority=config.kubelet_certificate_authority))
        self.ready = asyncio.Event()
        self.runner: web.ServerRunner | None = None
        self.requests_total = 0
        # Resource requests by (verb, group, resource, subresource), as upstream's
        # apiserver_request_total labels them (without code and scope): shows what each client costs.
        self.requests_by_resource: collections.Counter[tuple[str, str, str, str]] = collections.Counter()
        self._cacerts: bytes | None = None

    # ------------------------------------------------------------- lifecycle
    def build_server(self) -> web.Server:
        """aiohttp's low-level server straight onto ``handle``: every path is ours to route, so an
        Application's router, middleware chain and signals would only add work to each request.
        handler_cancellation: a client that goes away cancels its handler, so an idle watch whose
        client left is unregistered at once instead of at its timeout."""
        return web.Server(self.handle, request_factory=self.request_factory(), handler_cancellation=True,
                          access_log=None)

    def request_factory(self) -> Callable[..., web.BaseRequest]:
        """Requests as aiohttp's server makes them, with our body size limit (call in the loop)."""
        loop = asyncio.get_running_loop()

        def make(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
            return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY_BYTES)
        return make

    def ssl_context(self) -> ssl.SSLContext | None:
        c = self.config
        if not c.tls_cert:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(c.tls_cert), str(c.tls_key))
        if c.client_ca:
            ctx.load_verify_locations(str(c.client_ca))
            ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    async def start(self) -> None:
        await self.store.start()
        await self.cache.start()
        await self._bootstrap()
        self.runner = web.ServerRunner(self.build_server(), handle_signals=False, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.config.bind_address, self.config.port,
                           ssl_context=self.ssl_context(), backlog=1024, reuse_address=True)
        await site.start()
        self._warm = asyncio.create_task(self._warm_documents(), name="openapi-warmup")
        self.ready.set()
        log.info("API server listening on https://%s:%d", self.config.bind_address, self.config.port)

    async def _warm_documents(self) -> None:
        """Build the OpenAPI documents off the loop once, so the first kubectl apply does not wait."""
        from navarch.apiserver import openapi

        try:
            await asyncio.to_thread(lambda: (openapi.openapi_v3_root(), openapi.openapi_v2_protobuf()))
        except Exception:
            log.exception("building the OpenAPI documents failed")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        await self.kubelet_proxy.close()
        await self.cache.stop()
        await self.store.close()

    async def _bootstrap(self) -> None:
        """The namespaces every cluster has from the start."""
        from navarch.apiserver.bootstrap import ensure_defaults

        ip = self.config.bind_address if self.config.bind_address not in ("0.0.0.0", "::", "") else "127.0.0.1"
        await ensure_defaults(self.api, ip, self.config.port)

    # ------------------------------------------------------------- every request
    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.requests_total += 1
        try:
            return await self.dispatch(request)
        except errors.StatusError as e:
            return _status_response(e)
        except web.HTTPException:
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as e:  # a bug: answer 500 as a Status, never a traceback
            log.exception("internal error serving %s %s", request.method, request.path)
            return _status_response(errors.internal(type(e).__name__ + ": " + str(e)[:200]))

    # ------------------------------------------------------------- routing
    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(_PUBLIC_PATHS):
            return self._public(request, path)
        user = self.authn.authenticate(request)
        if user is None:
            raise errors.unauthorized()
        user = self.gate.check(request, user)
        if path.startswith("/openapi/"):
            return self._openapi(request, path)
        if path == "/metrics":
            return web.Response(text=self._metrics(), content_type="text/plain")
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            if not parts:
                return _json({"paths": ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz",
                                        "/openapi/v2", "/openapi/v3", "/version", "/metrics"]})
            raise _not_found()
        if parts[0] == "api":
            if len(parts) == 1:
                return self._discovery(request, "/api")
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                return self._discovery(request, "/apis")
            if len(parts) == 2:
                return self._discovery(request, f"/apis/{parts[1]}")
            group, version, rest = parts[1], parts[2], parts[3:]
        if group not in REGISTRY.groups or version not in REGISTRY.groups[group]:
            raise _not_found()
        if not rest:
            return self._discovery(request, path.rstrip("/"))
        info = self._resolve(request, group, version, rest, user)
        return await self._serve(info)

    def _resolve(self, request: web.Request, group: str, version: str, rest: list[str], user: User) -> RequestInfo:
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and group == "" and REGISTRY.get(group, version, rest[2]) is None \
                and rest[2] in ("status", "finalize"):
            # /api/v1/namespaces/{name}/status: a subresource of the namespace itself
            r = REGISTRY.get(group, version, "namespaces")
            return self._info(request, r, None, rest[1], rest[2], user, extra=rest[3:])
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace = rest[1]
            rest = rest[2:]
        r = REGISTRY.get(group, version, rest[0])
        if r is None:
            raise _not_found()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if namespace is not None and not r.namespaced:
            raise _not_found()
        if sub is not None and r.subresource(sub) is None:
            raise _not_found()
        if r.namespaced and namespace is None and name is not None:
            raise _not_found()
        return self._info(request, r, namespace, name, sub, user, extra=rest[3:])

    def _info(self, request: web.Request, r: ResourceInfo | None, namespace: str | None, name: str | None,
              sub: str | None, user: User, extra: list[str]) -> RequestInfo:
        if r is None:
            raise _not_found()
        if extra and sub != "proxy":
            raise _not_found()
        m = request.method
        if name is None:
            verb = {"GET": "list", "POST": "create", "DELETE": "deletecollection"}.get(m)
            if verb == "list" and request.query.get("watch") in ("true", "1"):
                verb = "watch"
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete", "POST": "create"}.get(m)
        if verb is None or (verb not in r.verbs and sub is None) or (verb == "create" and name and not sub):
            raise errors.method_not_allowed()
        if sub is not None:
            s = r.subresource(sub)
            if s is not None and verb not in s.verbs and not (verb == "create" and "create" in s.verbs):
                raise errors.method_not_allowed()
        info = RequestInfo(verb, r, namespace, name, sub, request.query, request, user)
        deprecated = resource_deprecation(r)
        if deprecated:
            info.warnings.append(deprecated)
        return info

    async def _serve(self, info: RequestInfo) -> web.StreamResponse:
        api = self.api
        v = info.verb
        r = info.resource
        self.requests_by_resource[(v.upper(), r.group, r.plural, info.subresource or "")] += 1
        if info.subresource and is_proxied(info):
            return await self.kubelet_proxy.serve(info)
        check_write_options(info)
        if info.subresource:
            if v == "get":
                return await api.get_subresource(info)
            if v == "update":
                return await api.update(info)
            if v == "patch":
                return await api.patch(info)
            if v == "create":
                return await api.create(info)
            raise errors.method_not_allowed()
        if v == "get":
            return await api.get(info)
        if v in ("list", "watch"):
            return await api.list(info)
        if v == "create":
            return await api.create(info)
        if v == "update":
            return await api.update(info)
        if v == "patch":
            return await api.patch(info)
        if v == "delete":
            return await api.delete(info)
        if v == "deletecollection":
            return await api.delete_collection(info)
        raise errors.method_not_allowed()

    # ------------------------------------------------------------- non-resource endpoints
    def _public(self, request: web.Request, path: str) -> web.Response:
        if path == "/version" or path == "/version/":
            return _json(version_info())
        if path == "/cacerts":
            if self._cacerts is None:
                if self.config.client_ca is None:
                    raise _not_found()
                self._cacerts = self.config.client_ca.read_bytes()  # once, a few hundred bytes
            return web.Response(body=self._cacerts, content_type="text/plain")
        parts = [p for p in path.split("/") if p]
        base = parts[0]
        known = {"ping", "etcd", "log", "informer-sync", "poststarthook"}
        if len(parts) > 1 and parts[1] not in known:
            return web.Response(status=404, text="404 page not found\n", content_type="text/plain")
        if base == "readyz" and not self.ready.is_set():
            return web.Response(status=500, text="[-]informer-sync failed: not ready\nreadyz check failed\n")
        if request.query.get("verbose") is not None:
            return web.Response(text=f"[+]ping ok\n[+]etcd ok\n{base} check passed\n", content_type="text/plain")
        return web.Response(text="ok", content_type="text/plain")

    def _discovery(self, request: web.Request, path: str) -> web.Response:
        from navarch.apiserver import discovery

        doc = discovery.default_discovery().for_path(path, request.headers.get("Accept"))
        if doc is None:
            raise _not_found()
        headers = doc.headers()
        if doc.not_modified(request.headers.get("If-None-Match")):
            return web.Response(status=304, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        resp = web.Response(body=doc.body, headers={k: v for k, v in headers.items() if k != "Content-Type"})
        resp.headers["Content-Type"] = doc.content_type
        return resp

    def _openapi(self, request: web.Request, path: str) -> web.Response:
        from navarch.apiserver import openapi

        accept = request.headers.get("Accept", "")
        if path.rstrip("/") == "/openapi/v2":
            if "protobuf" in accept:
                resp = web.Response(body=openapi.openapi_v2_protobuf())
                resp.headers["Content-Type"] = openapi.PROTOBUF_V2
                return resp
            return web.Response(body=openapi.openapi_v2_json(), content_type="application/json")
        if path.rstrip("/") == "/openapi/v3":
            return web.Response(body=openapi.openapi_v3_root(), content_type="application/json")
        gv_path = path[len("/openapi/v3/"):].strip("/")
        found = openapi.openapi_v3_gv(gv_path)
        if found is None:
            raise _not_found()
        body, digest = found
        want = request.query.get("hash")
        headers = {"Etag": f'"{digest}"'}
        if want and want != digest:
            raise web.HTTPMovedPermanently(location=f"/openapi/v3/{gv_path}?hash={digest}")
        if want:
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 31536000))
        else:
            headers["Cache-Control"] = "no-cache, private"
        return web.Response(body=body, content_type="application/json", headers=headers)

    def _metrics(self) -> str:
        lines = ["# TYPE apiserver_request_total counter", f"apiserver_request_total {self.requests_total}"]
        for (verb, group, resource, sub), n in sorted(self.requests_by_resource.items()):
            lines.append(f'apiserver_request_total{{verb="{verb}",group="{group}",resource="{resource}",'
                         f'subresource="{sub}"}} {n}')
        lines += ["# TYPE navarch_watch_cache_revision gauge", f"navarch_watch_cache_revision {self.cache.revision}"]
        return "\n".join(lines) + "\n"


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _status_response(e: errors.StatusError) -> web.Response:
    resp = web.Response(body=orjson.dumps(e.to_status()), status=e.code, content_type="application/json")
    if e.retry_after:
        resp.headers["Retry-After"] = str(e.retry_after)
    return resp


def _not_found() -> errors.StatusError:
    return errors.StatusError(404, "NotFound", "the server could not find the requested resource")

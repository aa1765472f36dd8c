"""The kubelet's HTTPS server (port 10250): health, the pods it runs, and the streaming endpoints
the API server proxies ``kubectl logs/exec/attach/port-forward`` to.

Paths as upstream's kubelet serves them (``pkg/kubelet/server/server.go``). Containers are found in
the runtime through their labels (``lookup``), never in the kubelet's memory. When a client CA is
given, every path but ``/healthz`` needs a client certificate it signed (the API server's kubelet
client certificate); upstream would authorize through the API, which navarch does not do yet.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import orjson
from aiohttp import web

from navarch.api import errors
from navarch.kubelet.runtimes.interface import ContainerState, Runtime, SandboxState
from navarch.kubelet.server import channels, logs, lookup, remotecommand, spdyexec
from navarch.kubelet.server.options import OptionError, stream_request

log = logging.getLogger("navarch.kubelet.server")

_OPEN_PATHS = ("/healthz",)


class KubeletServer:
    def __init__(self, runtime: Runtime, *, host: str, port: int, cert_file: str, key_file: str,
                 client_ca_file: str | None = None) -> None:
        self.runtime = runtime
        self.host = host
        self._port = port
        self.cert_file = cert_file
        self.key_file = key_file
        self.client_ca_file = client_ca_file
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The port listened on (the actual one once started, when 0 was asked)."""
        if self._runner is not None and self._runner.addresses:
            return int(self._runner.addresses[0][1])
        return self._port

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate])
        r = app.router
        r.add_get("/healthz", self._healthz)
        r.add_get("/pods", self._pods)
        r.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        for kind in ("exec", "attach"):
            handler = self._exec if kind == "exec" else self._attach
            for path in (f"/{kind}/{{namespace}}/{{pod}}/{{container}}",
                         f"/{kind}/{{namespace}}/{{pod}}/{{uid}}/{{container}}"):
                r.add_route("GET", path, handler)
                r.add_route("POST", path, handler)
        # The API server dials /portForward (upstream's spelling); kubelet clients also use lower case.
        for path in ("/portforward/{namespace}/{pod}", "/portForward/{namespace}/{pod}",
                     "/portforward/{namespace}/{pod}/{uid}", "/portForward/{namespace}/{pod}/{uid}"):
            r.add_route("GET", path, self._portforward)
            r.add_route("POST", path, self._portforward)
        return app

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file:
            ctx.load_verify_locations(self.client_ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, ssl_context=self.ssl_context(),
                           reuse_address=True)
        await site.start()
        log.info("kubelet server listening on https://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ middleware
    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except errors.StatusError as e:
            return _status_response(e)
        except (web.HTTPException, asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as e:  # a bug: answer a Status, never a traceback
            log.exception("kubelet server: internal error serving %s %s", request.method, request.path)
            return _status_response(errors.internal(f"{type(e).__name__}: {e}"[:300]))

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.client_ca_file and request.path not in _OPEN_PATHS and request.transport is not None \
                and not request.transport.get_extra_info("peercert"):
            raise errors.unauthorized()
        return await handler(request)

    # ------------------------------------------------------------------ endpoints
    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok", content_type="text/plain")

    async def _pods(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(await self.pod_list()), content_type="application/json")

    async def pod_list(self) -> dict[str, Any]:
        """A PodList of what the runtime runs: identity, IP and container states (the runtime does
        not know the specs; upstream serves the kubelet's full pod objects here)."""
        sandboxes = [s for s in await self.runtime.list_pod_sandbox() if s.state is SandboxState.READY]
        containers = await self.runtime.list_containers()
        items = []
        for s in sorted(sandboxes, key=lambda s: (s.namespace, s.name)):
            mine = [c for c in containers if c.sandbox_id == s.id]
            statuses = []
            for c in mine:
                statuses.append({"name": c.labels.get(lookup.CONTAINER_NAME, c.name), "image": c.image,
                                 "containerID": f"navarch://{c.id}", "restartCount": c.attempt,
                                 "ready": False, "state": _state(c)})
            items.append({"metadata": {"name": s.name, "namespace": s.namespace, "uid": s.uid},
                          "spec": {"containers": [{"name": st["name"], "image": st["image"]} for st in statuses]},
                          "status": {"phase": "Running", "podIP": s.ip,
                                     "podIPs": [{"ip": ip} for ip in (s.ip, *s.additional_ips) if ip],
                                     "containerStatuses": statuses}})
        return {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        return await logs.container_logs(request, self.runtime)

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, exec_=True)

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        return await self._remote_command(request, exec_=False)

    async def _remote_command(self, request: web.Request, *, exec_: bool) -> web.StreamResponse:
        ns, pod, name = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            opts = stream_request(request.query, exec_=exec_)
        except OptionError as e:
            raise errors.bad_request(str(e)) from None
        running = [c for c in await lookup.container_instances(self.runtime, ns, pod, name)
                   if c.state is ContainerState.RUNNING]
        if not running:
            if not await lookup.pod_known(self.runtime, ns, pod):
                raise errors.StatusError(404, "NotFound", "pod does not exist")
            raise errors.StatusError(404, "NotFound", f'container not found ("{name}")')
        container_id = running[0].id

        async def open_session() -> Any:
            if exec_:
                return await self.runtime.exec(container_id, opts.command, stdin=opts.stdin, tty=opts.tty)
            return await self.runtime.attach(container_id, stdin=opts.stdin, tty=opts.tty)

        if request.headers.get("Upgrade", "").strip().lower() != "websocket":
            log.info("%s into %s/%s/%s (SPDY)", "exec" if exec_ else "attach", ns, pod, name)
            return await spdyexec.serve(request, opts, open_session, exec_=exec_)
        offered = remotecommand.offered_protocols(request)
        proto = channels.negotiate(offered) if offered else channels.PROTOCOLS[channels.V1]
        if proto is None:
            raise errors.bad_request(f"none of the offered subprotocols {offered} is supported; "
                                     f"supported: {list(channels.PROTOCOLS)}")
        log.info("%s into %s/%s/%s (%s)", "exec" if exec_ else "attach", ns, pod, name, proto.name)
        return await remotecommand.serve(request, proto, opts, open_session, exec_=exec_)

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        ns, pod = request.match_info["namespace"], request.match_info["pod"]
        sandbox = await lookup.pod_sandbox(self.runtime, ns, pod)
        if sandbox is None or sandbox.state is not SandboxState.READY:
            raise errors.StatusError(404, "NotFound", "pod does not exist")
        try:
            from navarch.kubelet.server import portforward
        except ModuleNotFoundError as e:
            if e.name != "navarch.kubelet.server.portforward":
                raise
            raise errors.StatusError(501, "NotImplemented", "port-forward is not supported by this kubelet") from None
        return await portforward.handle_portforward(request, self.runtime, sandbox.id)


def _state(c: Any) -> dict[str, Any]:
    if c.state is ContainerState.RUNNING:
        return {"running": {"startedAt": _time(c.started_at)}}
    if c.state is ContainerState.EXITED:
        return {"terminated": {"exitCode": c.exit_code, "reason": c.reason or None,
                               "startedAt": _time(c.started_at), "finishedAt": _time(c.finished_at)}}
    return {"waiting": {"reason": "ContainerCreating"}}


def _time(t: Any) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def _status_response(e: errors.StatusError) -> web.Response:
    return web.Response(body=orjson.dumps(e.to_status()), status=e.code, content_type="application/json")

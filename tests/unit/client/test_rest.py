"""The client against a small in-process HTTP server that records requests and answers scripts."""

import asyncio
from contextlib import aclosing
from typing import Any, AsyncIterator

import orjson
import pytest
from aiohttp import web

from navarch.client.errors import ApiError, is_conflict, is_gone, is_not_found
from navarch.client.kubeconfig import ClientConfig
from navarch.client.rest import Client


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.responses: list[web.StreamResponse | Any] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                              "headers": dict(request.headers), "body": orjson.loads(body) if body else None})
        reply = self.responses.pop(0) if self.responses else {"kind": "Ok"}
        if callable(reply):
            return await reply(request)
        if isinstance(reply, web.StreamResponse):
            return reply
        return web.json_response(reply)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def client(server: FakeServer) -> AsyncIterator[Client]:
    async with Client(ClientConfig(server.url, token="tok"), user_agent="test-agent/1", max_retry_after=0) as c:
        yield c


def status(code: int, reason: str, message: str = "m", headers: dict | None = None) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                              "reason": reason, "message": message}, status=code, headers=headers)


async def test_get_and_list_address_resources_and_send_identity(server, client):
    await client.get("pods", "a", "ns1")
    await client.get("apps/v1/deployments", "d", "ns1", subresource="scale")
    await client.get("nodes", "n1")
    await client.list("pods", label_selector="app=x", field_selector="spec.nodeName=n1",
                      resource_version="0", limit=10, continue_="tok2")
    paths = [r["path"] for r in server.requests]
    assert paths == ["/api/v1/namespaces/ns1/pods/a", "/apis/apps/v1/namespaces/ns1/deployments/d/scale",
                     "/api/v1/nodes/n1", "/api/v1/pods"]
    assert server.requests[3]["query"] == {"labelSelector": "app=x", "fieldSelector": "spec.nodeName=n1",
                                           "resourceVersion": "0", "limit": "10", "continue": "tok2"}
    headers = server.requests[0]["headers"]
    assert headers["Authorization"] == "Bearer tok" and headers["User-Agent"] == "test-agent/1"
    assert headers["Accept"] == "application/json"


async def test_namespaced_object_needs_a_namespace(client):
    with pytest.raises(ValueError, match="namespaced"):
        await client.get("pods", "a")


async def test_writes(server, client):
    pod = {"metadata": {"name": "a", "namespace": "ns1", "resourceVersion": "3"}}
    await client.create("pods", pod, field_manager="me")
    await client.update("pods", pod)
    await client.update_status("pods", pod)
    await client.patch("pods", "a", {"metadata": {"labels": {"x": "1"}}}, "strategic", "ns1")
    await client.patch("pods", "a", [{"op": "remove", "path": "/x"}], "json", "ns1")
    await client.patch("pods", "a", {"apiVersion": "v1"}, "apply", "ns1", field_manager="me", force=True)
    await client.delete("pods", "a", "ns1", grace_period_seconds=0, propagation_policy="Foreground",
                        preconditions={"uid": "u"})
    await client.delete_collection("pods", "ns1", label_selector="app=x")
    await client.create_subresource("pods", "a", "binding", {"target": {"name": "n1"}}, "ns1")
    reqs = server.requests
    assert [(r["method"], r["path"]) for r in reqs] == [
        ("POST", "/api/v1/namespaces/ns1/pods"), ("PUT", "/api/v1/namespaces/ns1/pods/a"),
        ("PUT", "/api/v1/namespaces/ns1/pods/a/status"), ("PATCH", "/api/v1/namespaces/ns1/pods/a"),
        ("PATCH", "/api/v1/namespaces/ns1/pods/a"), ("PATCH", "/api/v1/namespaces/ns1/pods/a"),
        ("DELETE", "/api/v1/namespaces/ns1/pods/a"), ("DELETE", "/api/v1/namespaces/ns1/pods"),
        ("POST", "/api/v1/namespaces/ns1/pods/a/binding")]
    assert reqs[0]["query"] == {"fieldManager": "me"}
    assert reqs[1]["body"]["metadata"]["resourceVersion"] == "3"
    assert [r["headers"]["Content-Type"] for r in reqs[3:6]] == [
        "application/strategic-merge-patch+json", "application/json-patch+json", "application/apply-patch+yaml"]
    assert reqs[5]["query"] == {"fieldManager": "me", "force": "true"}
    assert reqs[6]["body"] == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                               "propagationPolicy": "Foreground", "preconditions": {"uid": "u"}}
    assert reqs[7]["query"] == {"labelSelector": "app=x"}


@pytest.mark.parametrize("kw,msg", [
    (dict(patch_type="apply"), "field_manager"),
    (dict(patch_type="xml"), "unknown patch type"),
    (dict(patch_type="merge", force=True), "force"),
], ids=["apply-needs-manager", "bad-type", "force-only-for-apply"])
async def test_patch_argument_errors(client, kw, msg):
    with pytest.raises(ValueError, match=msg):
        await client.patch("pods", "a", {}, namespace="ns", **kw)


async def test_errors_carry_the_status(server, client):
    server.responses = [status(404, "NotFound", 'pods "a" not found'), status(409, "Conflict"),
                        web.Response(status=404, text="404 page not found")]
    with pytest.raises(ApiError) as e:
        await client.get("pods", "a", "ns")
    assert is_not_found(e.value) and e.value.message == 'pods "a" not found'
    with pytest.raises(ApiError) as e:
        await client.update("pods", {"metadata": {"name": "a", "namespace": "ns"}})
    assert is_conflict(e.value)
    with pytest.raises(ApiError) as e:
        await client.get_raw("/nope")
    assert is_not_found(e.value)


async def test_retry_after_is_honoured_a_bounded_number_of_times(server, client):
    server.responses = [status(429, "TooManyRequests", headers={"Retry-After": "0"}),
                        status(503, "ServiceUnavailable", headers={"Retry-After": "0"}), {"kind": "Pod"}]
    assert await client.get("pods", "a", "ns") == {"kind": "Pod"}
    assert len(server.requests) == 3
    server.responses = [status(503, "ServiceUnavailable")]  # no Retry-After: not retried
    with pytest.raises(ApiError):
        await client.get("pods", "a", "ns")
    client.max_retries = 2
    server.responses = [status(429, "TooManyRequests", headers={"Retry-After": "0"}) for _ in range(5)]
    server.requests.clear()
    with pytest.raises(ApiError) as e:
        await client.get("pods", "a", "ns")
    assert e.value.code == 429 and len(server.requests) == 3


async def test_list_all_follows_continue_and_restarts_when_the_token_expires(server, client):
    server.responses = [
        {"metadata": {"resourceVersion": "7", "continue": "c1"}, "items": [{"n": 1}]},
        {"metadata": {"resourceVersion": "7", "continue": "c2"}, "items": [{"n": 2}]},
        {"metadata": {"resourceVersion": "7"}, "items": [{"n": 3}]},
    ]
    result = await client.list_all("pods", "ns", label_selector="a=b", page_size=1)
    assert result["items"] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert result["metadata"] == {"resourceVersion": "7"}
    assert [r["query"].get("continue") for r in server.requests] == [None, "c1", "c2"]
    assert all(r["query"]["labelSelector"] == "a=b" for r in server.requests)
    server.requests.clear()
    server.responses = [{"metadata": {"resourceVersion": "7", "continue": "c1"}, "items": [{"n": 1}]},
                        status(410, "Expired"), {"metadata": {"resourceVersion": "9"}, "items": [{"n": 1}, {"n": 2}]}]
    result = await client.list_all("pods", "ns", page_size=1)
    assert result["items"] == [{"n": 1}, {"n": 2}]
    assert "limit" not in server.requests[2]["query"]


def stream(*lines: bytes, pause: float = 0.0):
    async def reply(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        for line in lines:
            await resp.write(line)
            await asyncio.sleep(pause)
        await resp.write_eof()
        return resp
    return reply


async def test_watch_streams_events_and_raises_on_error_events(server, client):
    big = b"x" * 100_000
    server.responses = [stream(b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n',
                               b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}\n{"type":"MOD',
                               b'IFIED","object":{"data":"' + big + b'"}}\n')]
    async with aclosing(client.watch("configmaps", "ns", resource_version="1", timeout_seconds=5)) as w:
        events = [e async for e in w]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK", "MODIFIED"]
    assert events[1].resource_version == "3" and len(events[2].object["data"]) == 100_000
    q = server.requests[0]["query"]
    assert q == {"watch": "true", "resourceVersion": "1", "timeoutSeconds": "5", "allowWatchBookmarks": "true"}

    server.responses = [stream(b'{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",'
                               b'"message":"too old resource version: 1 (5)"}}\n')]
    with pytest.raises(ApiError) as e:
        async with aclosing(client.watch("configmaps", "ns", resource_version="1")) as w:
            async for _ in w:
                pass
    assert is_gone(e.value) and "too old" in e.value.message

    server.responses = [status(403, "Forbidden")]
    with pytest.raises(ApiError) as e:
        async with aclosing(client.watch("configmaps", None, resource_version="")) as w:
            async for _ in w:
                pass
    assert e.value.code == 403
    assert server.requests[-1]["path"] == "/api/v1/configmaps"


@pytest.mark.parametrize("refresh,second", [(3600.0, "Bearer one"), (0.0, "Bearer two")],
                         ids=["cached-within-interval", "reread-after-interval"])
async def test_token_file_is_reread_after_rotation(server, tmp_path, refresh, second):
    token = tmp_path / "token"
    token.write_text("one\n")
    async with Client(ClientConfig(server.url, token_file=str(token)), token_refresh=refresh) as c:
        await c.get("nodes", "n")
        token.write_text("two")
        await c.get("nodes", "n")
    assert [r["headers"]["Authorization"] for r in server.requests] == ["Bearer one", second]


async def test_selectors_reach_the_server_exactly(server, client):
    """Spaces, commas, parentheses, "=", "!" and "+" survive the query string as client-go sends them."""
    labels = "app=x,tier in (a,b),!canary,env!=prod,k notin (c d)"
    fields = "spec.nodeName=,status.phase!=Running+1"
    await client.list("pods", "ns", label_selector=labels, field_selector=fields, continue_="a/b+c=")
    await client.get_raw("/apis/metrics.k8s.io/v1beta1/pods", {"labelSelector": "a=b&c=d"})
    assert server.requests[0]["query"] == {"labelSelector": labels, "fieldSelector": fields, "continue": "a/b+c="}
    assert server.requests[1]["query"] == {"labelSelector": "a=b&c=d"}


async def test_a_closed_client_reconnects_on_use(server, client):
    for _ in range(3):
        await client.get("nodes", "n")
    await client.close()
    assert (await client.get("nodes", "n")) == {"kind": "Ok"}  # a closed client reconnects on use

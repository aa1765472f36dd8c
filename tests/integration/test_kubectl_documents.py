"""Real kubectl against the discovery and OpenAPI documents alone, served by a throwaway aiohttp app.

No navarch server is involved: this pins the documents' shapes (aggregated discovery for 1.33, v2beta1
for 1.27, the gnostic protobuf that 1.27 parses eagerly, the v3 documents explain and the
fieldValidation check read) independently of the rest of the API server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web

from navarch.apiserver import discovery, openapi
from tests.clients import kubectl_path

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c
        image: nginx
        resources:
          limits: {cpu: 1, memory: 1Gi}
        ports:
        - containerPort: 80
"""


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


async def _serve(requests: list[str]):
    disc = discovery.Discovery()
    docs = openapi.OpenAPI()

    async def handle(request: web.Request) -> web.StreamResponse:
        requests.append(f"{request.method} {request.path_qs}")
        path, accept = request.path, request.headers.get("Accept", "")
        if path == "/openapi/v2":
            if "protobuf" in accept:
                return web.Response(body=docs.v2_protobuf(), headers={"Content-Type": openapi.PROTOBUF_V2})
            return web.Response(body=docs.v2_json(), content_type="application/json")
        if path == "/openapi/v3":
            return web.Response(body=docs.v3_root(), content_type="application/json")
        if path.startswith("/openapi/v3/"):
            found = docs.v3_group_version(path)
            if found:
                return web.Response(body=found[0], content_type="application/json")
        doc = disc.for_path(path, accept)
        if doc is not None:
            return web.Response(body=doc.body, headers=doc.headers())
        if request.method == "POST":
            return _status(409, "AlreadyExists", "stub server: create refused")
        return _status(404, "NotFound", "the server could not find the requested resource")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def _kubectl(version: str, server: str, cache: Path, *args: str) -> tuple[int, str]:
    binary = kubectl_path(version)
    if binary is None:
        pytest.skip(f"kubectl {version} is not installed")
    proc = await asyncio.create_subprocess_exec(
        binary, "--server", server, "--cache-dir", str(cache), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


@pytest.fixture
async def stub():
    requests: list[str] = []
    runner, url = await _serve(requests)
    try:
        yield url, requests
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("version", ["1.33", "1.27"])
async def test_api_resources(stub, tmp_path, version):
    url, _ = stub
    code, out = await _kubectl(version, url, tmp_path, "api-resources")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    assert any(line.split()[:5] == ["deployments", "deploy", "apps/v1", "true", "Deployment"] for line in lines)
    assert any(line.split()[:5] == ["pods", "po", "v1", "true", "Pod"] for line in lines)


@pytest.mark.parametrize("version,args", [
    ("1.27", ()),
    ("1.27", ("--output=plaintext-openapiv2",)),
    ("1.33", ()),
])
async def test_explain(stub, tmp_path, version, args):
    url, requests = stub
    code, out = await _kubectl(version, url, tmp_path, "explain", "deployment.spec.strategy", *args)
    assert code == 0, out
    assert "Deployment" in out and "rollingUpdate" in out and "Recreate" in out
    if version == "1.27":
        assert any(r.startswith("GET /openapi/v2") for r in requests)


@pytest.mark.parametrize("version", ["1.27", "1.33"])
async def test_create_leaves_validation_to_server(stub, tmp_path, version):
    url, requests = stub
    manifest = tmp_path / "d.yaml"
    manifest.write_text(DEPLOYMENT)
    code, out = await _kubectl(version, url, tmp_path / "cache", "create", "-f", str(manifest))
    assert "stub server: create refused" in out, out
    posts = [r for r in requests if r.startswith("POST ")]
    assert posts and "fieldValidation=Strict" in posts[0]

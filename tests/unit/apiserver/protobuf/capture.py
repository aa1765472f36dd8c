"""Record the request bodies real kubectl sends, to refresh the fixtures beside this file.

Not a test: run it by hand when kubectl or the decoder's coverage changes::

    .venv/bin/python tests/unit/apiserver/protobuf/capture.py [--write]

It serves just enough legacy discovery (from navarch's resource registry) on a loopback port for
``kubectl.1.33`` (protobuf bodies) and ``kubectl.1.31`` (JSON bodies for the same commands) to send their
writes, then prints, or with ``--write`` saves, ``fixtures/<name>.pb`` and ``fixtures/<name>.json``. The
JSON capture is the oracle the decoder's output is compared with; the fixtures are our own captures.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from navarch.api import resources

FIXTURES = Path(__file__).parent / "fixtures"

_CREATE = ("create",)
# name -> kubectl arguments; every command writes exactly one protobuf body on kubectl 1.32+.
COMMANDS: dict[str, Sequence[str]] = {
    "namespace": (*_CREATE, "namespace", "ns1"),
    "deployment": (*_CREATE, "deployment", "web", "--image=nginx", "--replicas=3", "--port=80", "-n", "ns1"),
    "deployment_default": (*_CREATE, "deployment", "web", "--image=nginx"),
    "deployment_zero": (*_CREATE, "deployment", "web", "--image=nginx", "--replicas=0"),
    "secret": (*_CREATE, "secret", "generic", "s1", "--from-literal=user=admin", "--from-literal=pw=s3cr=t",
               "--from-literal=empty="),
    "secret_tls_type": (*_CREATE, "secret", "generic", "s2", "--type=kubernetes.io/basic-auth",
                        "--from-literal=username=u", "--from-literal=password=p"),
    "configmap": (*_CREATE, "configmap", "c1", "--from-literal=a=1", "--from-literal=b=two words"),
    "service": (*_CREATE, "service", "clusterip", "svc1", "--tcp=80:8080", "--tcp=443"),
    "service_nodeport": (*_CREATE, "service", "nodeport", "svc2", "--tcp=80:8080", "--node-port=30080"),
    "service_headless": (*_CREATE, "service", "clusterip", "svc3", "--clusterip=None"),
    "job": (*_CREATE, "job", "j1", "--image=busybox", "--", "echo", "hi"),
    "cronjob": (*_CREATE, "cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"),
    "quota": (*_CREATE, "quota", "q1", "--hard=cpu=1,memory=1Gi,pods=10", "--scopes=BestEffort"),
    "role": (*_CREATE, "role", "r1", "--verb=get,list", "--resource=pods,deployments.apps",
             "--resource-name=a"),
    "rolebinding": (*_CREATE, "rolebinding", "rb1", "--role=r1", "--user=alice", "--group=devs",
                    "--serviceaccount=ns1:sa1"),
    "clusterrole": (*_CREATE, "clusterrole", "cr1", "--verb=get", "--non-resource-url=/logs/*"),
    "clusterrole_aggregate": (*_CREATE, "clusterrole", "cr2", "--aggregation-rule=a=b"),
    "clusterrolebinding": (*_CREATE, "clusterrolebinding", "crb1", "--clusterrole=cr1", "--user=bob"),
    "pdb": (*_CREATE, "pdb", "pdb1", "--selector=app=web", "--min-available=50%"),
    "pdb_int": (*_CREATE, "pdb", "pdb2", "--selector=app=web", "--max-unavailable=0"),
    "priorityclass": (*_CREATE, "priorityclass", "high", "--value=1000", "--description=important",
                      "--preemption-policy=Never"),
    "priorityclass_zero": (*_CREATE, "priorityclass", "zero", "--value=0", "--global-default"),
    "ingress": (*_CREATE, "ingress", "ing1", "--class=nginx",
                "--rule=foo.com/bar*=svc1:8080,tls=my-cert", "--rule=/=svc2:http",
                "--annotation=a=b"),
    "serviceaccount": (*_CREATE, "serviceaccount", "sa1"),
    "token": (*_CREATE, "token", "sa1", "--duration=1h", "--audience=api", "--bound-object-kind=Pod",
              "--bound-object-name=p1", "--bound-object-uid=1234"),
    "can_i": ("auth", "can-i", "list", "deployments.apps", "-n", "ns1", "--subresource=scale"),
    "can_i_nonresource": ("auth", "can-i", "get", "/logs"),
    "can_i_list": ("auth", "can-i", "--list", "-n", "ns1"),
    "whoami": ("auth", "whoami"),
    "certificate_approve": ("certificate", "approve", "csr1"),
    "drain": ("drain", "n1", "--disable-eviction", "--force", "--grace-period=5", "--timeout=5s"),
}


def _api_resource(r: resources.ResourceInfo) -> list[dict[str, Any]]:
    out = [{"name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": list(r.verbs), "shortNames": list(r.short_names)}]
    for s in r.subresources:
        out.append({"name": f"{r.plural}/{s.name}", "singularName": "", "namespaced": r.namespaced,
                    "kind": s.kind, "group": s.group, "version": s.version, "verbs": list(s.verbs)})
    return out


_CSR = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "csr1", "resourceVersion": "7", "uid": "u-csr1"},
        "spec": {"request": "LS0tLQ==", "signerName": "example.com/signer", "usages": ["digital signature"],
                 "username": "alice"},
        "status": {}}
_NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "resourceVersion": "3"}, "spec": {}}
_POD = {"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p1", "namespace": "default", "uid": "u-p1", "resourceVersion": "5"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}, "status": {}}


class Recorder:
    """The fake API server: discovery, canned objects, and the list of bodies written to it."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, str, str, bytes]] = []
        self.deleted: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if request.method in ("POST", "PUT", "DELETE"):
            body = await request.read()
            self.bodies.append((request.method, path, request.content_type, body))
        if request.method == "GET":
            return self.get(path)
        if request.method == "PATCH":
            return web.json_response(_NODE)
        if request.method == "DELETE":
            self.deleted.add(path)
            return web.json_response(_POD)
        return web.json_response(self.answer(path), status=201)

    def get(self, path: str) -> web.Response:
        if path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"],
                                      "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = []
            for g in resources.REGISTRY.ordered_groups():
                if not g:
                    continue
                versions = [{"groupVersion": f"{g}/{v}", "version": v} for v in resources.REGISTRY.groups[g]]
                groups.append({"name": g, "versions": versions, "preferredVersion": versions[0]})
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2 or parts[0] == "apis" and len(parts) == 3:
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            items = [a for r in resources.REGISTRY.in_group_version(group, version) for a in _api_resource(r)]
            gv = f"{group}/{version}" if group else version
            return web.json_response({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                                      "resources": items})
        if path.endswith("/certificatesigningrequests/csr1"):
            return web.json_response(_CSR)
        if path == "/api/v1/nodes/n1":
            return web.json_response(_NODE)
        if path == "/api/v1/pods":
            return web.json_response({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [_POD]})
        if path == "/api/v1/namespaces/default/pods/p1" and path in self.deleted:
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                      "reason": "NotFound", "code": 404}, status=404)
        if path == "/api/v1/namespaces/default/pods/p1":
            return web.json_response(_POD)
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                  "reason": "NotFound", "code": 404}, status=404)

    @staticmethod
    def answer(path: str) -> dict[str, Any]:
        """A plausible reply, so kubectl finishes its command (it does not change what it sent)."""
        if path.endswith("/token"):
            return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                    "metadata": {}, "spec": {"audiences": []},
                    "status": {"token": "t", "expirationTimestamp": "2030-01-01T00:00:00Z"}}
        if path.endswith("selfsubjectaccessreviews"):
            return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {}, "status": {"allowed": True}}
        if path.endswith("selfsubjectrulesreviews"):
            return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                    "spec": {}, "status": {"resourceRules": [], "nonResourceRules": [], "incomplete": False}}
        if path.endswith("selfsubjectreviews"):
            return {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                    "status": {"userInfo": {"username": "admin"}}}
        if path.endswith("/approval"):
            return _CSR
        return {"apiVersion": "v1", "kind": "Status", "metadata": {"name": "x"}}


async def capture(kubectl: str, args: Sequence[str]) -> tuple[str, str, str, bytes] | None:
    """The one write body kubectl sends for ``args``, or None if it sent none."""
    recorder = Recorder()
    runner = web.AppRunner(recorder.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, KUBECONFIG="/dev/null", KUBECTL_COMMAND_HEADERS="false")
        proc = await asyncio.create_subprocess_exec(
            kubectl, f"--server=http://127.0.0.1:{port}", f"--cache-dir={cache}", *args,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(30):
                out, err = await proc.communicate()
        finally:
            await runner.cleanup()
    writes = [b for b in recorder.bodies if b[3]]
    if len(writes) != 1:
        sys.stderr.write(f"{kubectl} {' '.join(args)}: {len(writes)} bodies; {err.decode()[-300:]}\n")
    return writes[-1] if writes else None


async def main(write: bool) -> None:
    new, old = shutil.which("kubectl.1.33"), shutil.which("kubectl.1.31")
    if not new or not old:
        raise SystemExit("needs kubectl.1.33 and kubectl.1.31 on PATH")
    FIXTURES.mkdir(exist_ok=True)
    for name, args in COMMANDS.items():
        pb, js = await capture(new, args), await capture(old, args)
        if pb is None or js is None:
            continue
        print(name, pb[0], pb[1], pb[2], len(pb[3]), "|", js[2], js[3][:200])
        if write:
            (FIXTURES / f"{name}.pb").write_bytes(pb[3])
            doc = json.loads(js[3])
            (FIXTURES / f"{name}.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    asyncio.run(main("--write" in sys.argv))

"""The acceptance journeys of the API server issue, with real kubectl 1.33 and 1.27 (and 1.34 when present)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.navarch_process import Kubectl

MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: {ns}
  labels: {{app: web}}
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
  namespace: {ns}
type: Opaque
stringData:
  password: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: {image}
        ports:
        - containerPort: 80
        env:
        - name: MODE
          value: {mode}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 80
"""


def _apply(k: Kubectl, tmp_path: Path, ns: str, image: str = "nginx:1.25", mode: str = "a") -> str:
    f = tmp_path / "app.yaml"
    f.write_text(MANIFEST.format(ns=ns, image=image, mode=mode))
    return k("apply", "-f", str(f))


def test_version_and_discovery(kubectl: Kubectl) -> None:
    out = kubectl.run("version", "-o", "json").stdout
    server = json.loads(out)["serverVersion"]
    assert server["major"] == "1" and int(server["minor"]) >= 33
    res = kubectl("api-resources")
    for line in ("pods", "deployments", "horizontalpodautoscalers", "leases", "endpointslices", "ingresses"):
        assert line in res
    assert "po " in res and "deploy " in res
    versions = kubectl("api-versions").split()
    assert "v1" in versions and "apps/v1" in versions and "batch/v1" in versions
    assert "autoscaling/v2" in versions


def test_create_generators(kubectl: Kubectl, namespace: str) -> None:
    # On 1.33 these bodies are protobuf.
    ns = namespace
    kubectl("create", "deployment", "d1", "--image=busybox", "--replicas=3", "-n", ns)
    kubectl("create", "secret", "generic", "s1", "--from-literal=a=b", "-n", ns)
    kubectl("create", "configmap", "c1", "--from-literal=x=y", "-n", ns)
    kubectl("create", "service", "clusterip", "svc1", "--tcp=80:8080", "-n", ns)
    kubectl("create", "job", "j1", "--image=busybox", "-n", ns)
    kubectl("create", "serviceaccount", "sa1", "-n", ns)
    dep = json.loads(kubectl("get", "deployment", "d1", "-n", ns, "-o", "json"))
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert dep["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    sec = json.loads(kubectl("get", "secret", "s1", "-n", ns, "-o", "json"))
    assert sec["data"] == {"a": "Yg=="} and sec["type"] == "Opaque"
    svc = json.loads(kubectl("get", "svc", "svc1", "-n", ns, "-o", "json"))
    assert svc["spec"]["clusterIP"].startswith("10.")
    assert svc["spec"]["ports"][0]["targetPort"] == 8080


def test_apply_reapply_and_get_outputs(kubectl: Kubectl, tmp_path: Path) -> None:
    ns = f"apply-{kubectl.version.replace('.', '')}-{os.getpid() % 10000}-{int(time.time()) % 100000}"
    out = _apply(kubectl, tmp_path, ns)
    assert "namespace/" in out and "deployment.apps/web created" in out and "service/web created" in out
    out = _apply(kubectl, tmp_path, ns)
    assert "deployment.apps/web unchanged" in out
    out = _apply(kubectl, tmp_path, ns, image="nginx:1.27", mode="b")
    assert "deployment.apps/web configured" in out
    dep = json.loads(kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.27" and c["env"] == [{"name": "MODE", "value": "b"}]
    assert dep["metadata"]["generation"] == 2

    table = kubectl("get", "deploy", "-n", ns)
    assert table.split()[:5] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    wide = kubectl("get", "deploy", "-n", ns, "-o", "wide")
    assert "CONTAINERS" in wide and "nginx:1.27" in wide
    svc = kubectl("get", "svc", "-n", ns)
    assert svc.split()[:6] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "80/TCP" in svc
    yaml_out = kubectl("get", "cm", "app-config", "-n", ns, "-o", "yaml")
    assert "greeting: hello" in yaml_out
    jp = kubectl("get", "cm", "app-config", "-n", ns, "-o", "jsonpath={.data.greeting}")
    assert jp == "hello"
    cc = kubectl("get", "deploy", "-n", ns, "-o", "custom-columns=N:.metadata.name,R:.spec.replicas")
    assert cc.split() == ["N", "R", "web", "2"]
    assert "web" in kubectl("get", "all", "-l", "app=web", "-n", ns)
    assert "app-config" in kubectl("get", "cm", "--field-selector", "metadata.name=app-config", "-n", ns)
    assert ns in kubectl("get", "deploy", "-A")
    kubectl("delete", "namespace", ns, "--wait=false")


def test_get_watch_shows_later_change(kubectl: Kubectl, namespace: str) -> None:
    ns = namespace
    kubectl("create", "configmap", "watched", "--from-literal=a=1", "-n", ns)
    proc = subprocess.Popen(
        [kubectl.path, "--kubeconfig", str(kubectl.kubeconfig), "--cache-dir", str(kubectl.cache_dir),
         "get", "cm", "-n", ns, "-w", "--request-timeout=20s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        kubectl("create", "configmap", "later", "--from-literal=b=2", "-n", ns)
        deadline = time.monotonic() + 15
        seen = ""
        os.set_blocking(proc.stdout.fileno(), False)
        while time.monotonic() < deadline and "later" not in seen:
            chunk = proc.stdout.read() or ""
            seen += chunk
            time.sleep(0.2)
        assert "watched" in seen and "later" in seen, seen
    finally:
        proc.kill()
        proc.wait(5)


def test_describe_edit_label_annotate_patch_scale(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    ns = namespace
    kubectl("create", "deployment", "web", "--image=nginx", "-n", ns)
    d = kubectl("describe", "deployment", "web", "-n", ns)
    assert "Name:" in d and "web" in d and "RollingUpdateStrategy:" in d and "25% max unavailable" in d
    kubectl("label", "deployment", "web", "tier=front", "-n", ns)
    kubectl("annotate", "deployment", "web", "note=hi", "-n", ns)
    dep = json.loads(kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))
    assert dep["metadata"]["labels"]["tier"] == "front"
    assert dep["metadata"]["annotations"]["note"] == "hi"
    kubectl("label", "deployment", "web", "tier-", "-n", ns)
    kubectl("patch", "deployment", "web", "-n", ns, "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}')
    kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"minReadySeconds":5}}')
    kubectl("patch", "deployment", "web", "-n", ns, "--type=json", "-p",
            '[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]')
    out = kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"minReadySeconds":5}}')
    assert "no change" in out
    kubectl("scale", "deployment", "web", "--replicas=4", "-n", ns)
    dep = json.loads(kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))
    assert "tier" not in dep["metadata"]["labels"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert dep["spec"]["minReadySeconds"] == 5 and dep["spec"]["revisionHistoryLimit"] == 3
    assert dep["spec"]["replicas"] == 4
    # edit with an EDITOR script
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 4/replicas: 6/' \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    kubectl("edit", "deployment", "web", "-n", ns, env={"EDITOR": str(editor), "KUBE_EDITOR": str(editor)})
    dep = json.loads(kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))
    assert dep["spec"]["replicas"] == 6


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl("explain", "deployment.spec.strategy")
    assert "rollingUpdate" in out and "DESCRIPTION" in out
    out = kubectl("explain", "pods")
    assert "KIND:" in out and "Pod" in out


def test_dry_run_server_and_delete(kubectl: Kubectl, namespace: str) -> None:
    ns = namespace
    out = kubectl("create", "configmap", "dry", "--from-literal=a=b", "-n", ns, "--dry-run=server", "-o", "name")
    assert out.strip() == "configmap/dry"
    r = kubectl.run("get", "cm", "dry", "-n", ns, check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr
    for i in range(3):
        kubectl("create", "configmap", f"c{i}", "--from-literal=a=b", "-n", ns)
    kubectl("label", "cm", "c1", "c2", "group=x", "-n", ns)
    kubectl("delete", "cm", "c0", "-n", ns)
    kubectl("delete", "cm", "-l", "group=x", "-n", ns)
    names = kubectl("get", "cm", "-n", ns, "-o", "name").split()
    assert not any(n.startswith("configmap/c") for n in names)
    kubectl("create", "deployment", "d", "--image=nginx", "-n", ns)
    kubectl("create", "service", "clusterip", "s", "--tcp=80", "-n", ns)
    kubectl("delete", "all", "--all", "-n", ns)
    r = kubectl.run("get", "all", "-n", ns, check=False)
    assert "No resources found" in r.stderr


def test_error_messages(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    r = kubectl.run("get", "cm", "nope", "-n", namespace, check=False)
    assert r.returncode == 1
    assert 'Error from server (NotFound): configmaps "nope" not found' in r.stderr
    kubectl("create", "configmap", "dup", "-n", namespace)
    r = kubectl.run("create", "configmap", "dup", "-n", namespace, check=False)
    # kubectl's create generators wrap the server's message in their own prefix
    assert 'configmaps "dup" already exists' in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: bad, namespace: {namespace}}}
        spec:
          replicas: -1
          selector: {{matchLabels: {{a: b}}}}
          template:
            metadata: {{labels: {{a: b}}}}
            spec: {{containers: [{{name: c, image: x}}]}}
        """))
    r = kubectl.run("create", "-f", str(bad), check=False)
    assert 'The Deployment "bad" is invalid' in r.stderr and "spec.replicas" in r.stderr

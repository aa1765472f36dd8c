"""Server-side apply and managedFields, driven by real kubectl (1.33, and 1.34 when installed).

Each test pins what kubectl shows against upstream 1.33: creation, removal of dropped fields,
conflicts between managers and ``--force-conflicts``, ``--show-managed-fields``, and the migration
from client-side apply that kubectl performs after a server-side apply (KUBECTL.md 4.4).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.navarch_process import Kubectl, NavarchServer

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture(params=["1.33", "1.34"])
def k(request: pytest.FixtureRequest) -> Kubectl:
    return request.getfixturevalue("kubectl133" if request.param == "1.33" else "kubectl134")


def _get(k: Kubectl, ns: str, *what: str) -> dict:
    return json.loads(k("get", *what, "-n", ns, "-o", "json", "--show-managed-fields"))


def _entries(obj: dict) -> dict[tuple[str, str], dict]:
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields") or []}


def _write(path: Path, ns: str, data: dict[str, str], labels: dict[str, str] | None = None, name: str = "cfg") -> str:
    meta: dict = {"name": name, "namespace": ns}
    if labels:
        meta["labels"] = labels
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}))
    return str(path)


def test_apply_creates_and_records_an_apply_entry(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = _write(tmp_path / "cm.yaml", namespace, {"a": "1"}, {"app": "web"})
    assert "configmap/cfg serverside-applied" in k("apply", "--server-side", "-f", f)
    cm = _get(k, namespace, "cm", "cfg")
    entry = _entries(cm)[("kubectl", "Apply")]
    assert entry["apiVersion"] == "v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]
    assert entry["fieldsV1"] == {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}
    # without --show-managed-fields kubectl hides them
    assert "managedFields" not in json.loads(k("get", "cm", "cfg", "-n", namespace, "-o", "json"))["metadata"]


def test_reapplying_the_same_manifest_writes_nothing(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = _write(tmp_path / "cm.yaml", namespace, {"a": "1"})
    k("apply", "--server-side", "-f", f)
    before = _get(k, namespace, "cm", "cfg")
    assert "serverside-applied" in k("apply", "--server-side", "-f", f)
    after = _get(k, namespace, "cm", "cfg")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["managedFields"] == before["metadata"]["managedFields"]


def test_fields_dropped_from_the_manifest_are_removed(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = tmp_path / "cm.yaml"
    k("apply", "--server-side", "-f", _write(f, namespace, {"a": "1", "b": "2"}, {"x": "1", "z": "2"}))
    k("apply", "--server-side", "-f", _write(f, namespace, {"a": "1"}, {"z": "2"}))
    cm = _get(k, namespace, "cm", "cfg")
    assert cm["data"] == {"a": "1"}
    assert cm["metadata"]["labels"] == {"z": "2"}


def test_a_field_another_manager_also_owns_is_kept(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = tmp_path / "cm.yaml"
    k("apply", "--server-side", "-f", _write(f, namespace, {"a": "1", "b": "2"}))
    # a second applier co-owns b by applying the same value
    k("apply", "--server-side", "--field-manager=other", "-f", _write(tmp_path / "o.yaml", namespace, {"b": "2"}))
    k("apply", "--server-side", "-f", _write(f, namespace, {"a": "1"}))
    assert _get(k, namespace, "cm", "cfg")["data"] == {"a": "1", "b": "2"}


def test_conflict_then_force_conflicts(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    k("apply", "--server-side", "-f", _write(tmp_path / "a.yaml", namespace, {"a": "1"}))
    other = _write(tmp_path / "b.yaml", namespace, {"a": "9"})
    r = k.run("apply", "--server-side", "--field-manager=other", "-f", other, check=False)
    assert r.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl": .data.a' in r.stderr
    assert "Please review the fields above--they currently have other managers" in r.stderr
    assert "--force-conflicts" in r.stderr
    assert _get(k, namespace, "cm", "cfg")["data"] == {"a": "1"}

    assert "serverside-applied" in k("apply", "--server-side", "--field-manager=other", "--force-conflicts",
                                     "-f", other)
    cm = _get(k, namespace, "cm", "cfg")
    assert cm["data"] == {"a": "9"}
    entries = _entries(cm)
    assert entries[("other", "Apply")]["fieldsV1"] == {"f:data": {"f:a": {}}}
    # kubectl lost its only field, so its entry is gone
    assert ("kubectl", "Apply") not in entries


def test_conflict_status_body(server: NavarchServer, k: Kubectl, namespace: str, tmp_path: Path) -> None:
    """The 409 body, read directly: reason Conflict, one FieldManagerConflict cause per field."""
    k("apply", "--server-side", "-f", _write(tmp_path / "a.yaml", namespace, {"a": "1", "b": "2"}))
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
                       "data": {"a": "x", "b": "y"}}).encode()
    status = _raw_patch(server, f"/api/v1/namespaces/{namespace}/configmaps/cfg?fieldManager=other", body)
    assert status["code"] == 409 and status["reason"] == "Conflict"
    assert status["message"].startswith('Apply failed with 2 conflicts: conflicts with "kubectl":\n')
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".data.a"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl"', "field": ".data.b"},
    ]
    missing = _raw_patch(server, f"/api/v1/namespaces/{namespace}/configmaps/cfg", body)
    assert missing["code"] == 422 and "fieldManager: Required value" in missing["message"]


def _raw_patch(server: NavarchServer, path: str, body: bytes) -> dict:
    cfg = yaml.safe_load(Path(server.kubeconfig).read_text())
    cluster = cfg["clusters"][0]["cluster"]
    user = cfg["users"][0]["user"]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    headers = {"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"}
    if user.get("token"):
        headers["Authorization"] = f"Bearer {user['token']}"
    elif user.get("client-certificate-data"):
        import base64
        import tempfile

        d = Path(tempfile.mkdtemp())
        (d / "c.pem").write_bytes(base64.b64decode(user["client-certificate-data"]))
        (d / "k.pem").write_bytes(base64.b64decode(user["client-key-data"]))
        ctx.load_cert_chain(str(d / "c.pem"), str(d / "k.pem"))
    req = urllib.request.Request(cluster["server"] + path, data=body, method="PATCH", headers=headers)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def test_updates_are_recorded_per_manager(k: Kubectl, namespace: str) -> None:
    k("create", "configmap", "cfg", "--from-literal=a=1", "-n", namespace)
    k("label", "cm", "cfg", "team=x", "-n", namespace)
    cm = _get(k, namespace, "cm", "cfg")
    entries = _entries(cm)
    assert entries[("kubectl-create", "Update")]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert entries[("kubectl-label", "Update")]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}
    # a patch that changes nothing leaves the object, timestamps included, as it was
    out = k("patch", "cm", "cfg", "-n", namespace, "-p", '{"data":{"a":"1"}}')
    assert "patched (no change)" in out
    assert _get(k, namespace, "cm", "cfg")["metadata"] == cm["metadata"]
    # a change moves the field to the patching manager
    k("patch", "cm", "cfg", "-n", namespace, "-p", '{"data":{"a":"2"}}')
    entries = _entries(_get(k, namespace, "cm", "cfg"))
    assert entries[("kubectl-patch", "Update")]["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert entries[("kubectl-create", "Update")]["fieldsV1"] == {"f:data": {}}


def test_show_managed_fields_in_yaml(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    k("create", "configmap", "cfg", "--from-literal=a=1", "-n", namespace)
    k("apply", "--server-side", "--field-manager=tool", "-f",
      _write(tmp_path / "cm.yaml", namespace, {"b": "2"}))
    out = k("get", "cm", "cfg", "-n", namespace, "-o", "yaml", "--show-managed-fields")
    doc = yaml.safe_load(out)
    ops = [(e["manager"], e["operation"]) for e in doc["metadata"]["managedFields"]]
    assert ops == [("tool", "Apply"), ("kubectl-create", "Update")]
    assert "f:b: {}" in out and "operation: Apply" in out and "operation: Update" in out


def test_deployment_containers_are_keyed_by_name(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    def manifest(containers: list[dict]) -> str:
        f = tmp_path / "deploy.yaml"
        f.write_text(yaml.safe_dump({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}}))
        return str(f)

    k("apply", "--server-side", "-f", manifest([
        {"name": "a", "image": "nginx:1", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "busybox"}]))
    d = _get(k, namespace, "deploy", "web")
    fields = _entries(d)[("kubectl", "Apply")]["fieldsV1"]
    containers = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert set(containers) == {'k:{"name":"a"}', 'k:{"name":"b"}'}
    assert 'k:{"containerPort":80,"protocol":"TCP"}' in containers['k:{"name":"a"}']["f:ports"]
    # defaults the server filled in are nobody's, and stay
    assert d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"

    # dropping container b removes it; changing a's image keeps a's other fields
    k("apply", "--server-side", "-f", manifest([{"name": "a", "image": "nginx:2", "ports": [{"containerPort": 80}]}]))
    d = _get(k, namespace, "deploy", "web")
    cs = d["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in cs] == ["a"] and cs[0]["image"] == "nginx:2"
    assert cs[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert d["metadata"]["generation"] == 2


def test_client_side_then_server_side_apply_migrates(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    """kubectl's migration (KUBECTL.md 4.4): after the first server-side apply it hands the last-applied
    annotation to ``kubectl-last-applied``, moves client-side apply's fields to ``kubectl`` with a JSON
    patch of managedFields and re-applies, so fields dropped from the manifest go away."""
    f = tmp_path / "cm.yaml"
    assert "created" in k("apply", "-f", _write(f, namespace, {"a": "1", "b": "2"}, {"x": "1"}))
    csa = _get(k, namespace, "cm", "cfg")
    assert ("kubectl-client-side-apply", "Update") in _entries(csa)

    r = k.run("apply", "--server-side", "-f", _write(f, namespace, {"a": "1"}))
    assert "serverside-applied" in r.stdout
    assert "Warning" not in r.stderr and "failed" not in r.stderr, r.stderr
    cm = _get(k, namespace, "cm", "cfg")
    assert cm["data"] == {"a": "1"}
    assert "x" not in (cm["metadata"].get("labels") or {})
    entries = _entries(cm)
    assert ("kubectl-client-side-apply", "Update") not in entries
    assert ("kubectl", "Apply") in entries and ("kubectl-last-applied", "Apply") in entries
    # the server keeps the annotation current for kubectl, so going back to client-side apply works
    assert json.loads(cm["metadata"]["annotations"][LAST_APPLIED])["data"] == {"a": "1"}
    assert "configured" in k("apply", "-f", _write(f, namespace, {"a": "3"}))
    assert _get(k, namespace, "cm", "cfg")["data"] == {"a": "3"}


def test_server_side_apply_changes_a_client_side_applied_value_without_conflict(
        k: Kubectl, namespace: str, tmp_path: Path) -> None:
    """Upstream lets manager ``kubectl`` take over values client-side apply set (the last-applied
    annotation still matches the live object), so switching to --server-side never conflicts."""
    f = tmp_path / "cm.yaml"
    k("apply", "-f", _write(f, namespace, {"a": "1"}))
    r = k.run("apply", "--server-side", "-f", _write(f, namespace, {"a": "2"}), check=False)
    assert r.returncode == 0, r.stderr
    assert _get(k, namespace, "cm", "cfg")["data"] == {"a": "2"}


def test_server_dry_run_apply_changes_nothing(k: Kubectl, namespace: str, tmp_path: Path) -> None:
    f = tmp_path / "cm.yaml"
    k("apply", "--server-side", "-f", _write(f, namespace, {"a": "1"}))
    before = _get(k, namespace, "cm", "cfg")
    out = k("apply", "--server-side", "--dry-run=server", "-f", _write(f, namespace, {"a": "2"}))
    assert "serverside-applied (server dry run)" in out
    assert _get(k, namespace, "cm", "cfg") == before
    r = k.run("diff", "--server-side", "-f", str(f), check=False)
    assert r.returncode == 1 and "+  a: \"2\"" in r.stdout

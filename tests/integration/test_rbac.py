"""RBAC journeys with real kubectl: a certificate user ``jane`` bound to ``view`` in ``dev`` reads
there and is refused elsewhere and for writes with upstream's messages; ``auth can-i`` (also
``--list``), ``auth whoami``, impersonation and escalation prevention; 401 without credentials."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import kubectl_path
from tests.navarch_process import Kubectl, NavarchServer, running_server

pytestmark = pytest.mark.skipif(kubectl_path("1.33") is None, reason="kubectl 1.33 is not installed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[NavarchServer]:
    # with the controller manager, for the clusterrole-aggregation controller
    with running_server("rbac", "--disable-scheduler", api_only=False) as srv:
        yield srv


@pytest.fixture(scope="module")
def admin(cluster: NavarchServer) -> Kubectl:
    k = Kubectl("1.33", cluster.kubeconfig)
    k("create", "namespace", "dev")
    k("create", "namespace", "prod")
    k("create", "rolebinding", "jane-view", "--clusterrole=view", "--user=jane", "-n", "dev")
    return k


@pytest.fixture(scope="module")
def jane(cluster: NavarchServer, admin: Kubectl) -> Kubectl:
    from navarch.server.pki import CertPaths, issue_client_cert, write_kubeconfig

    tls = cluster.data_dir / "tls"
    out = CertPaths(cluster.data_dir.parent / "jane.crt", cluster.data_dir.parent / "jane.key")
    issue_client_cert(CertPaths(tls / "ca.crt", tls / "ca.key"), "jane", [], out)
    kubeconfig = cluster.data_dir.parent / "jane.kubeconfig"
    write_kubeconfig(kubeconfig, cluster.url, tls / "ca.crt", out, user="jane")
    return Kubectl("1.33", kubeconfig)


def _forbidden(k: Kubectl, *args: str) -> str:
    res = k.run(*args, check=False)
    assert res.returncode != 0, res.stdout
    return res.stderr.strip()


def test_view_in_dev_lists_pods(jane: Kubectl) -> None:
    res = jane.run("get", "pods", "-n", "dev")
    assert "No resources found in dev namespace." in res.stderr


def test_refused_elsewhere_and_for_writes_with_upstreams_message(jane: Kubectl) -> None:
    assert _forbidden(jane, "get", "pods", "-n", "prod") == (
        'Error from server (Forbidden): pods is forbidden: User "jane" cannot list resource "pods" '
        'in API group "" in the namespace "prod"')
    assert _forbidden(jane, "create", "configmap", "x", "-n", "dev") == (
        'error: failed to create configmap: configmaps is forbidden: User "jane" cannot create resource '
        '"configmaps" in API group "" in the namespace "dev"')
    assert _forbidden(jane, "delete", "pod", "p", "-n", "dev") == (
        'Error from server (Forbidden): pods "p" is forbidden: User "jane" cannot delete resource "pods" '
        'in API group "" in the namespace "dev"')
    assert _forbidden(jane, "get", "nodes") == (
        'Error from server (Forbidden): nodes is forbidden: User "jane" cannot list resource "nodes" '
        'in API group "" at the cluster scope')
    assert _forbidden(jane, "get", "secrets", "-n", "dev").endswith(
        'secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "dev"')
    assert _forbidden(jane, "get", "--raw", "/metrics") == (
        'Error from server (Forbidden): forbidden: User "jane" cannot get path "/metrics"')


def test_can_i(admin: Kubectl, jane: Kubectl) -> None:
    no = admin.run("auth", "can-i", "create", "pods", "--as", "jane", "-n", "dev", check=False)
    assert (no.returncode, no.stdout.strip()) == (1, "no")
    assert admin("auth", "can-i", "list", "pods", "--as", "jane", "-n", "dev").strip() == "yes"
    assert jane("auth", "can-i", "get", "deployments.apps", "-n", "dev").strip() == "yes"
    assert jane.run("auth", "can-i", "get", "pods", "-n", "prod", check=False).stdout.strip() == "no"
    assert admin("auth", "can-i", "*", "*").strip() == "yes"


def test_can_i_list(admin: Kubectl) -> None:
    out = admin("auth", "can-i", "--list", "--as", "jane", "-n", "dev")
    rows = {" ".join(line.split()) for line in out.splitlines()}
    assert "Resources Non-Resource URLs Resource Names Verbs" in rows
    for row in (
        "selfsubjectreviews.authentication.k8s.io [] [] [create]",
        "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]",
        "selfsubjectrulesreviews.authorization.k8s.io [] [] [create]",
        "pods [] [] [get list watch]",
        "pods/log [] [] [get list watch]",
        "configmaps [] [] [get list watch]",
        "deployments.apps [] [] [get list watch]",
        "jobs.batch [] [] [get list watch]",
        "[/api/*] [] [get]",
        "[/healthz] [] [get]",
        "[/version] [] [get]",
    ):
        assert row in rows, (row, out)
    assert not any(r.startswith("secrets ") for r in rows)
    elsewhere = admin("auth", "can-i", "--list", "--as", "jane", "-n", "prod")
    assert "pods " not in elsewhere


def test_whoami(admin: Kubectl, jane: Kubectl) -> None:
    rows = [" ".join(line.split()) for line in jane("auth", "whoami").splitlines()]
    assert rows == ["ATTRIBUTE VALUE", "Username jane", "Groups [system:authenticated]"]
    rows = [" ".join(line.split()) for line in admin("auth", "whoami", "--as", "jane").splitlines()]
    assert "Username jane" in rows


def test_impersonation_needs_permission(jane: Kubectl) -> None:
    assert _forbidden(jane, "get", "pods", "-n", "dev", "--as", "bob") == (
        'Error from server (Forbidden): users "bob" is forbidden: User "jane" cannot impersonate resource '
        '"users" in API group "" at the cluster scope')


def test_escalation_is_refused(admin: Kubectl, jane: Kubectl, tmp_path: Path) -> None:
    admin("create", "namespace", "esc")
    admin("create", "rolebinding", "jane-admin", "--clusterrole=admin", "--user=jane", "-n", "esc")
    # Rules she holds (admin in esc) may be granted; others may not.
    jane("create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "esc")
    err = _forbidden(jane, "create", "role", "node-reader", "--verb=get", "--resource=nodes", "-n", "esc")
    assert err == (
        'Error from server (Forbidden): roles.rbac.authorization.k8s.io "node-reader" is forbidden: user "jane" '
        '(groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}')
    err = _forbidden(jane, "patch", "role", "pod-reader", "-n", "esc", "--type=json", "-p",
                     '[{"op": "add", "path": "/rules/-", "value": {"apiGroups": [""], "resources": ["nodes"], '
                     '"verbs": ["list"]}}]')
    assert 'roles.rbac.authorization.k8s.io "pod-reader" is forbidden: user "jane"' in err
    jane("create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob", "-n", "esc")
    err = _forbidden(jane, "create", "rolebinding", "bob-admin", "--clusterrole=cluster-admin", "--user=bob",
                     "-n", "esc")
    assert 'rolebindings.rbac.authorization.k8s.io "bob-admin" is forbidden: user "jane" ' in err
    assert "is attempting to grant RBAC permissions not currently held" in err


def test_aggregation_extends_view(admin: Kubectl, tmp_path: Path) -> None:
    role = tmp_path / "podtemplates.yaml"
    role.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: podtemplate-viewer\n"
        "  labels:\n    rbac.authorization.k8s.io/aggregate-to-view: \"true\"\n"
        "rules:\n- apiGroups: [\"\"]\n  resources: [podtemplates]\n  verbs: [get, list]\n")
    admin("apply", "-f", str(role))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        res = admin.run("auth", "can-i", "list", "podtemplates", "--as", "jane", "-n", "dev", check=False)
        if res.stdout.strip() == "yes":
            break
        time.sleep(0.3)
    assert res.stdout.strip() == "yes", res.stderr
    assert "podtemplates" in admin("get", "clusterrole", "edit", "-o", "jsonpath={.rules[*].resources}")


def test_no_credentials_is_401_except_health_and_version(cluster: NavarchServer) -> None:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for path in ("/version", "/healthz", "/readyz", "/livez"):
        with urllib.request.urlopen(cluster.url + path, context=ctx, timeout=5) as r:
            assert r.status == 200
    for path in ("/api/v1/namespaces/dev/pods", "/api", "/openapi/v2", "/metrics"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(cluster.url + path, context=ctx, timeout=5)
        assert e.value.code == 401
    req = urllib.request.Request(cluster.url + "/api/v1/pods", headers={"Authorization": "Bearer nope"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, context=ctx, timeout=5)
    assert e.value.code == 401


def test_a_user_certificate_from_an_approved_csr(cluster: NavarchServer, admin: Kubectl, tmp_path: Path) -> None:
    """The user's way in: a CSR for ``kubernetes.io/kube-apiserver-client``, ``kubectl certificate
    approve``, the controller manager's signer issues it, and the certificate authenticates as CN/O."""
    import base64

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from navarch.server.pki import CertPaths, write_kubeconfig

    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "maria"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev-team"),
    ])).sign(key, hashes.SHA256())
    pem = req.public_bytes(serialization.Encoding.PEM)
    manifest = tmp_path / "csr.yaml"
    manifest.write_text(
        "apiVersion: certificates.k8s.io/v1\nkind: CertificateSigningRequest\nmetadata: {name: maria}\n"
        f"spec: {{request: {base64.b64encode(pem).decode()}, signerName: kubernetes.io/kube-apiserver-client, "
        "expirationSeconds: 3600, usages: [client auth]}\n")
    admin("create", "-f", str(manifest))
    assert "approved" in admin("certificate", "approve", "maria")
    deadline = time.monotonic() + 30
    cert = ""
    while time.monotonic() < deadline and not cert:
        cert = admin("get", "csr", "maria", "-o", "jsonpath={.status.certificate}").strip()
        time.sleep(0.2)
    assert cert, admin("get", "csr", "maria", "-o", "yaml")
    paths = CertPaths(tmp_path / "maria.crt", tmp_path / "maria.key")
    paths.cert.write_bytes(base64.b64decode(cert))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    kubeconfig = tmp_path / "maria.kubeconfig"
    write_kubeconfig(kubeconfig, cluster.url, cluster.data_dir / "tls" / "ca.crt", paths, user="maria")
    maria = Kubectl("1.33", kubeconfig)
    rows = [" ".join(line.split()) for line in maria("auth", "whoami").splitlines()]
    assert rows == ["ATTRIBUTE VALUE", "Username maria", "Groups [dev-team system:authenticated]"]
    res = maria.run("get", "pods", "-n", "dev", check=False)
    assert res.returncode != 0 and 'User "maria" cannot list resource "pods"' in res.stderr

"""Component credentials: one client certificate per identity, re-issued when the identity changes."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from navarch.server.components import NODES_GROUP, component_kubeconfig, node_user
from navarch.server.pki import ensure_pki


def subject(path: Path) -> str:
    return x509.load_pem_x509_certificate(path.read_bytes()).subject.rfc4514_string()


def test_certificates_are_reused_until_the_identity_changes(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    kc = component_kubeconfig(tmp_path, pki, "https://127.0.0.1:1", node_user("a"), [NODES_GROUP], name="kubelet")
    cert = tmp_path / "tls" / "kubelet.crt"
    first = cert.read_bytes()
    assert kc == tmp_path / "components" / "kubelet.kubeconfig"
    assert subject(cert) == "CN=system:node:a,O=system:nodes"
    component_kubeconfig(tmp_path, pki, "https://127.0.0.1:1", node_user("a"), [NODES_GROUP], name="kubelet")
    assert cert.read_bytes() == first
    component_kubeconfig(tmp_path, pki, "https://127.0.0.1:1", node_user("b"), [NODES_GROUP], name="kubelet")
    assert subject(cert) == "CN=system:node:b,O=system:nodes"


def test_default_file_name_is_the_users_last_segment(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    component_kubeconfig(tmp_path, pki, "https://127.0.0.1:1", "system:kube-scheduler", [])
    assert subject(tmp_path / "tls" / "kube-scheduler.crt") == "CN=system:kube-scheduler"

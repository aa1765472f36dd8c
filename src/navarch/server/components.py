"""Credentials for the components ``navarch server`` starts: one client certificate and kubeconfig
each, with upstream's user names (``system:kube-scheduler``, ``system:kube-controller-manager``,
``system:node:<name>`` in group ``system:nodes`` for the local kubelet)."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from navarch.server.pki import CertPaths, ClusterPKI, issue_client_cert, write_kubeconfig

NODES_GROUP = "system:nodes"


def node_user(node_name: str) -> str:
    """The identity upstream's Node authorizer expects of a kubelet."""
    return f"system:node:{node_name}"


def component_kubeconfig(data_dir: Path, pki: ClusterPKI, server_url: str, user: str,
                         groups: list[str], *, name: str | None = None) -> Path:
    """``name`` names the files (default: the user's last segment); a certificate on disk for another
    identity (the host was renamed) is issued afresh."""
    short = name or user.split(":")[-1]
    tls = data_dir / "tls"
    cert = CertPaths(tls / f"{short}.crt", tls / f"{short}.key")
    if not cert.cert.exists() or not _issued_to(cert.cert, user, groups):
        issue_client_cert(pki.ca, user, groups, cert)
    path = data_dir / "components" / f"{short}.kubeconfig"
    write_kubeconfig(path, server_url, pki.ca.cert, cert, user=user)
    return path


def _issued_to(path: Path, user: str, groups: list[str]) -> bool:
    try:
        subject = x509.load_pem_x509_certificate(path.read_bytes()).subject
    except (OSError, ValueError):
        return False
    cns = [a.value for a in subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = sorted(str(a.value) for a in subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
    return cns == [user] and orgs == sorted(groups)

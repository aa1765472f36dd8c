"""Credentials for the components ``navarch server`` starts: one client certificate and kubeconfig
each, with upstream's user names (``system:kube-scheduler``, ``system:kube-controller-manager``)."""

from __future__ import annotations

from pathlib import Path

from navarch.server.pki import CertPaths, ClusterPKI, issue_client_cert, write_kubeconfig


def component_kubeconfig(data_dir: Path, pki: ClusterPKI, server_url: str, user: str,
                         groups: list[str]) -> Path:
    short = user.split(":")[-1]
    tls = data_dir / "tls"
    cert = CertPaths(tls / f"{short}.crt", tls / f"{short}.key")
    if not cert.cert.exists():
        issue_client_cert(pki.ca, user, groups, cert)
    path = data_dir / "components" / f"{short}.kubeconfig"
    write_kubeconfig(path, server_url, pki.ca.cert, cert, user=user)
    return path

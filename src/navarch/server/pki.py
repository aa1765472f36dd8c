"""The cluster's PKI: a CA, the API server's serving certificate and the admin's client certificate.

Generated once, on first start, under ``DIR/tls``; later starts reuse them so kubeconfigs stay valid.
Client certificates follow upstream's convention: CN is the user name, O entries are the groups.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=3650)


@dataclass(frozen=True)
class CertPaths:
    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPKI:
    ca: CertPaths
    serving: CertPaths
    admin: CertPaths
    # The API server's client certificate towards kubelets (logs, exec, port-forward, nodes/proxy),
    # named and grouped as kubeadm's apiserver-kubelet-client.
    kubelet_client: CertPaths


def write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _load(paths: CertPaths) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
    key = serialization.load_pem_private_key(paths.key.read_bytes(), None)
    return cert, key  # type: ignore[return-value]


def issue_client_cert(ca: CertPaths, user: str, groups: list[str], out: CertPaths,
                      validity: dt.timedelta = _VALIDITY) -> None:
    ca_cert, ca_key = _load(ca)
    key = _new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, user))
    cert = _builder(x509.Name(attrs), ca_cert.subject, key, validity).add_extension(
        x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True,
    ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
    ).sign(ca_key, hashes.SHA256())
    write_private(out.key, _key_bytes(key))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             validity: dt.timedelta) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + validity))


def ensure_pki(data_dir: Path, *, extra_sans: list[str] = (), service_ip: str = "10.96.0.1") -> ClusterPKI:
    """Create the CA and certificates under ``data_dir/tls`` unless they exist."""
    tls = data_dir / "tls"
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    pki = ClusterPKI(
        ca=CertPaths(tls / "ca.crt", tls / "ca.key"),
        serving=CertPaths(tls / "serving.crt", tls / "serving.key"),
        admin=CertPaths(tls / "admin.crt", tls / "admin.key"),
        kubelet_client=CertPaths(tls / "apiserver-kubelet-client.crt", tls / "apiserver-kubelet-client.key"),
    )
    if not pki.ca.cert.exists():
        key = _new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "navarch-ca")])
        cert = (_builder(name, name, key, _VALIDITY)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False,
                                             content_commitment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256()))
        write_private(pki.ca.key, _key_bytes(key))
        pki.ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    dns = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           "kubernetes.default.svc.cluster.local", socket.gethostname()]
    ips = ["127.0.0.1", "::1", service_ip]
    for san in extra_sans:
        try:
            ips.append(str(ipaddress.ip_address(san)))
        except ValueError:
            dns.append(san)
    # A serving certificate missing a name clients now dial (a new --tls-san, or the address pods
    # reach the API at) is issued again: clients verify the name, so an old one would fail them.
    if not pki.serving.cert.exists() or not _covers_names(pki.serving.cert, dns, ips):
        ca_cert, ca_key = _load(pki.ca)
        key = _new_key()
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dict.fromkeys(dns)]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in dict.fromkeys(ips)]
        cert = (_builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]),
                         ca_cert.subject, key, _VALIDITY)
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_private(pki.serving.key, _key_bytes(key))
        pki.serving.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if not pki.admin.cert.exists():
        issue_client_cert(pki.ca, "system:admin", ["system:masters"], pki.admin)
    if not pki.kubelet_client.cert.exists():
        issue_client_cert(pki.ca, "kube-apiserver-kubelet-client", ["system:masters"], pki.kubelet_client)
    return pki


def ensure_service_account_key(data_dir: Path) -> Path:
    """The key that signs service-account tokens, ``DIR/tls/service-account.key`` (kubeadm's sa.key),
    created once: the API server signs with it and verifies with its public half, so tokens stay
    valid across restarts. An EC P-256 key (ES256): signing is cheap and tokens are short."""
    tls = data_dir / "tls"
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = tls / "service-account.key"
    if not path.exists():
        write_private(path, _key_bytes(_new_key()))
    return path


def _covers_names(path: Path, dns: list[str], ips: list[str]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    have_dns = set(san.get_values_for_type(x509.DNSName))
    have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
    return set(dns) <= have_dns and {str(ipaddress.ip_address(i)) for i in ips} <= have_ips


def write_kubeconfig(path: Path, server: str, ca: Path, client: CertPaths, *, user: str = "admin",
                     cluster: str = "navarch") -> None:
    """A kubeconfig with the certificates embedded, so it can be copied anywhere (mode 0600)."""
    import base64

    import yaml

    def b64(p: Path) -> str:
        return base64.b64encode(p.read_bytes()).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": b64(client.cert),
                                          "client-key-data": b64(client.key)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, yaml.safe_dump(doc, sort_keys=False).encode())

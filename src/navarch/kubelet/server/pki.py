"""The kubelet's serving certificate when none is configured: self-signed, as upstream's kubelet makes
``kubelet.crt``/``kubelet.key`` in its cert directory (CN ``<node>@<unix time>``). The API server
does not verify it unless given ``--kubelet-certificate-authority`` (upstream's default too).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = dt.timedelta(days=365)


def ensure_serving_cert(dir: Path, node_name: str, ips: Sequence[str]) -> tuple[Path, Path]:
    """(cert, key) paths under ``dir``, created on first call and reused afterwards."""
    dir = Path(dir)
    cert_path, key_path = dir / "kubelet.crt", dir / "kubelet.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name}@{int(time.time())}")])
    dns = list(dict.fromkeys([node_name, "localhost"]))
    addrs = list(dict.fromkeys([*ips, "127.0.0.1"]))
    sans: list[x509.GeneralName] = []
    for d in dns:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(d)))
        except ValueError:
            sans.append(x509.DNSName(d))
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addrs]
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName(list(dict.fromkeys(sans))), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    tmp = key_path.with_suffix(".key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path

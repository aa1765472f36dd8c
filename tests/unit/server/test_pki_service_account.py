"""The service-account signing key and the serving certificate's names."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from navarch.server.pki import ensure_pki, ensure_service_account_key


def test_signing_key_is_created_once_and_private(tmp_path: Path) -> None:
    path = ensure_service_account_key(tmp_path)
    assert path == tmp_path / "tls" / "service-account.key"
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_bytes()
    assert ensure_service_account_key(tmp_path).read_bytes() == first


def sans(path: Path) -> set[str]:
    san = x509.load_pem_x509_certificate(path.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)) | {str(i) for i in san.get_values_for_type(x509.IPAddress)}


def test_serving_certificate_is_reissued_when_a_name_is_missing(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    assert {"127.0.0.1", "10.96.0.1", "kubernetes.default.svc"} <= sans(pki.serving.cert)
    before = pki.serving.cert.read_bytes()
    assert ensure_pki(tmp_path).serving.cert.read_bytes() == before  # nothing new: kept
    ensure_pki(tmp_path, extra_sans=["192.0.2.7", "api.example"])
    assert {"192.0.2.7", "api.example", "127.0.0.1"} <= sans(pki.serving.cert)
    assert str(ipaddress.ip_address("192.0.2.7")) in sans(pki.serving.cert)

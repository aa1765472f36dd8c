from pathlib import Path

from navarch.kubelet.server.pki import ensure_serving_cert


def test_serving_cert_is_reused_and_names_the_node(tmp_path: Path) -> None:
    from cryptography import x509

    cert, key = ensure_serving_cert(tmp_path, "node1", ["10.0.0.5"])
    first = cert.read_bytes()
    assert ensure_serving_cert(tmp_path, "node1", ["10.0.0.5"]) == (cert, key)
    assert cert.read_bytes() == first
    parsed = x509.load_pem_x509_certificate(first)
    sans = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node1" in sans.get_values_for_type(x509.DNSName)
    assert {str(i) for i in sans.get_values_for_type(x509.IPAddress)} >= {"10.0.0.5", "127.0.0.1"}
    assert (key.stat().st_mode & 0o777) == 0o600

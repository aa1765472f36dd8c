"""Join and bootstrap token formats, the CA hash and the Secret behind a token."""

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from navarch.api import bootstraptoken as bt

HASH = "a" * 64


def make_ca_pem() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def test_generated_tokens_have_upstreams_shape_and_round_trip():
    token = bt.generate_bootstrap_token()
    assert len(token.id) == 6 and len(token.secret) == 16
    assert bt.parse_bootstrap_token(str(token)) == token
    assert token.secret_name == f"bootstrap-token-{token.id}"
    join = bt.JoinToken(HASH, token)
    assert str(join) == f"K10{HASH}::{token.id}.{token.secret}"
    assert bt.parse_join_token(str(join) + "\n") == join


def test_bare_bootstrap_token_parses_without_hash():
    assert bt.parse_join_token("abcdef.0123456789abcdef") == bt.JoinToken("", bt.BootstrapToken("abcdef", "0123456789abcdef"))


@pytest.mark.parametrize("text", [
    "abcde.0123456789abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef", "abcdef0123456789abcdef",
    f"K10{'a' * 63}::abcdef.0123456789abcdef", f"K10{'g' * 64}::abcdef.0123456789abcdef",
    "K10::abcdef.0123456789abcdef", f"K10{HASH}::nope",
], ids=["short-id", "short-secret", "upper", "no-dot", "short-hash", "non-hex", "empty-hash", "bad-creds"])
def test_malformed_tokens_are_rejected(text):
    with pytest.raises(bt.TokenFormatError):
        bt.parse_join_token(text)


def test_ca_hash_is_sha256_of_the_first_certificates_der():
    pem, der = make_ca_pem()
    other, _ = make_ca_pem()
    assert bt.ca_hash(pem) == hashlib.sha256(der).hexdigest()
    assert bt.ca_hash(pem + other) == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("text,seconds", [("24h", 86400), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400)])
def test_ttl_parses_go_durations(text, seconds):
    assert bt.parse_ttl(text) == dt.timedelta(seconds=seconds)


def test_ttl_zero_means_forever_and_garbage_is_refused():
    assert bt.parse_ttl("0") is None
    for bad in ("24", "h", "1d", "-1h", "1h x"):
        with pytest.raises(ValueError):
            bt.parse_ttl(bad)


def test_token_secret_carries_base64_data_and_expiry():
    token = bt.BootstrapToken("abcdef", "0123456789abcdef")
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    secret = bt.token_secret(token, ttl=dt.timedelta(hours=24), now=now, description="d")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    data = bt.secret_data(secret)
    assert data["token-id"] == "abcdef" and data["token-secret"] == "0123456789abcdef"
    assert data["expiration"] == "2025-01-02T00:00:00Z"
    assert data["usage-bootstrap-authentication"] == "true"
    assert data["auth-extra-groups"] == "system:bootstrappers:navarch:default-node-token"
    assert base64.b64decode(secret["data"]["description"]) == b"d"
    assert "expiration" not in bt.secret_data(bt.token_secret(token))

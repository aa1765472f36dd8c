"""The agent's side of the join: checking the CA, the request it sends, reusing a certificate."""


import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from navarch.agent import bootstrap as b
from navarch.api import bootstraptoken as bt
from navarch.controllers.certificates import csr as c
from navarch.controllers.certificates.approver import RECOGNIZERS
from navarch.controllers.certificates.signer import SigningCA, sign


def make_ca():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return SigningCA(cert, key), cert.public_bytes(serialization.Encoding.PEM)


def test_matching_ca_is_accepted_and_a_mismatch_names_both_hashes():
    _, pem = make_ca()
    b.verify_ca(pem, bt.ca_hash(pem), "https://s")
    with pytest.raises(b.JoinError) as e:
        b.verify_ca(pem, "0" * 64, "https://s")
    assert "0" * 64 in str(e.value) and bt.ca_hash(pem) in str(e.value)


async def test_a_token_without_hash_is_refused():
    with pytest.raises(b.JoinError, match="no CA hash"):
        await b.discover_ca("https://127.0.0.1:1", bt.parse_join_token("abcdef.0123456789abcdef"))


def test_the_agents_request_is_one_the_approver_recognizes_as_nodeclient(tmp_path):
    key = b.load_or_create_key(tmp_path / "k.key")
    assert b.load_or_create_key(tmp_path / "k.key").private_numbers() == key.private_numbers()
    name = b.csr_name(key, "n1")
    assert name == b.csr_name(key, "n1") and name != b.csr_name(key, "n2") and name.startswith("node-csr-")
    obj = b.csr_object(name, b.certificate_request(key, "n1"))
    obj["spec"]["username"] = "system:bootstrap:abcdef"
    req = c.parse_request(obj)
    assert [r.subresource for r in RECOGNIZERS if r.recognize(obj, req)] == ["nodeclient"]


def test_a_saved_certificate_is_reused_only_for_this_node_key_and_ca(tmp_path):
    ca, ca_pem = make_ca()
    _, other_pem = make_ca()
    key = b.load_or_create_key(tmp_path / "k.key")
    req = x509.load_pem_x509_csr(b.certificate_request(key, "n1"))
    now = dt.datetime.now(dt.UTC)
    cert_path = tmp_path / "c.crt"
    cert_path.write_bytes(sign(ca, req, ["digital signature", "client auth"], dt.timedelta(days=30), now)
                          .public_bytes(serialization.Encoding.PEM))
    assert b.usable_certificate(cert_path, key, ca_pem, "n1")
    assert not b.usable_certificate(cert_path, key, ca_pem, "n2")
    assert not b.usable_certificate(cert_path, key, other_pem, "n1")
    assert not b.usable_certificate(cert_path, ec.generate_private_key(ec.SECP256R1()), ca_pem, "n1")
    assert not b.usable_certificate(cert_path, key, ca_pem, "n1", now=now + dt.timedelta(days=29, hours=12))
    assert not b.usable_certificate(tmp_path / "missing.crt", key, ca_pem, "n1")


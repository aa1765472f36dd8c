"""The CSR approving, signing and cleaning controllers: which requests they accept, what they write."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from navarch.api.resources import REGISTRY
from navarch.controllers.base import ControllerContext
from navarch.controllers.certificates import cleaner, signer
from navarch.controllers.certificates import csr as c
from navarch.controllers.certificates.approver import (
    CSRApprovingController,
    NotApproved,
)
from navarch.controllers.certificates.signer import CSRSigningController
from navarch.machinery.clock import FakeClock
from navarch.machinery.factory import SharedInformerFactory

NOW = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
CLIENT_USAGES = ["digital signature", "client auth"]
SERVING_USAGES = ["digital signature", "key encipherment", "server auth"]


def request_pem(cn="system:node:n1", orgs=("system:nodes",), dns=(), ips=(), emails=()) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    b = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    names += [x509.RFC822Name(e) for e in emails]
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def make_csr(name="csr-1", signer_name=c.KUBE_APISERVER_CLIENT_KUBELET, usages=CLIENT_USAGES,
             username="system:bootstrap:abcdef", groups=("system:bootstrappers", "system:authenticated"),
             conditions=(), certificate=None, expiration_seconds=None, **req: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"request": base64.b64encode(request_pem(**req)).decode(), "signerName": signer_name,
                            "usages": list(usages), "username": username, "groups": list(groups)}
    if expiration_seconds is not None:
        spec["expirationSeconds"] = expiration_seconds
    status: dict[str, Any] = {"conditions": [dict(cond) for cond in conditions]}
    if certificate:
        status["certificate"] = certificate
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name, "uid": "uid-" + name, "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": spec, "status": status}


APPROVED = ({"type": "Approved", "status": "True", "reason": "AutoApproved"},)


class FakeClient:
    registry = REGISTRY

    def __init__(self, allowed: bool = True) -> None:
        self.allowed = allowed
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    async def create(self, res: Any, body: dict[str, Any], namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("create", res, body))
        return {**body, "status": {"allowed": self.allowed}}

    async def update(self, res: Any, body: dict[str, Any], namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("update/" + (kw.get("subresource") or ""), res, body))
        return body

    async def update_status(self, res: Any, body: dict[str, Any], namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("update/status", res, body))
        return body

    async def delete(self, res: Any, name: str, namespace: str | None = None, **kw: Any) -> dict[str, Any]:
        self.calls.append(("delete", res, {"name": name, **kw}))
        return {}

    def verbs(self) -> list[str]:
        return [v for v, _, _ in self.calls]


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[str, str, x509.Certificate]:
    d = tmp_path_factory.mktemp("ca")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "navarch-ca")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (d / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / "ca.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return str(d / "ca.crt"), str(d / "ca.key"), cert


def context(client: FakeClient, **options: Any) -> ControllerContext:
    clock = FakeClock(NOW)
    factory = SharedInformerFactory(client, clock=clock)  # type: ignore[arg-type]
    return ControllerContext(client=client, factory=factory, recorder=None, clock=clock,  # type: ignore[arg-type]
                             options=options)


def fill(ctx: ControllerContext, *objs: dict[str, Any]) -> None:
    for o in objs:
        ctx.factory.informer(c.CSRS).indexer.add(o)


# ---- approver ------------------------------------------------------------------------------------

async def test_bootstrap_token_request_is_approved_after_a_nodeclient_review():
    client = FakeClient()
    ctx = context(client)
    ctrl = CSRApprovingController(ctx)
    fill(ctx, make_csr())
    await ctrl.sync("csr-1")
    [(_, _, review), (verb, _, body)] = client.calls
    assert review["spec"]["user"] == "system:bootstrap:abcdef"
    assert review["spec"]["groups"] == ["system:bootstrappers", "system:authenticated"]
    assert review["spec"]["resourceAttributes"] == {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                                    "verb": "create", "subresource": "nodeclient"}
    assert verb == "update/approval"
    [cond] = body["status"]["conditions"]
    assert cond["type"] == "Approved" and cond["reason"] == "AutoApproved" and cond["status"] == "True"
    assert cond["message"] == "Auto approving kubelet client certificate after SubjectAccessReview."


async def test_a_node_renewing_its_own_certificate_is_reviewed_as_selfnodeclient():
    client = FakeClient()
    ctx = context(client)
    ctrl = CSRApprovingController(ctx)
    fill(ctx, make_csr(username="system:node:n1", groups=("system:nodes", "system:authenticated")))
    await ctrl.sync("csr-1")
    assert client.calls[0][2]["spec"]["resourceAttributes"]["subresource"] == "selfnodeclient"
    assert "self kubelet" in client.calls[1][2]["status"]["conditions"][0]["message"]


async def test_a_refused_review_leaves_the_request_pending_and_retries():
    client = FakeClient(allowed=False)
    ctx = context(client)
    ctrl = CSRApprovingController(ctx)
    fill(ctx, make_csr())
    with pytest.raises(NotApproved):
        await ctrl.sync("csr-1")
    assert client.verbs() == ["create"]


@pytest.mark.parametrize("csr", [
    make_csr(signer_name=c.KUBE_APISERVER_CLIENT),
    make_csr(cn="jane"),
    make_csr(orgs=("system:nodes", "system:masters")),
    make_csr(orgs=()),
    make_csr(dns=("n1.example",)),
    make_csr(ips=("10.0.0.1",)),
    make_csr(usages=["digital signature", "client auth", "server auth"]),
    make_csr(usages=["client auth"]),
    make_csr(conditions=APPROVED),
    make_csr(conditions=({"type": "Denied", "status": "True"},)),
    make_csr(certificate="Zm9v"),
], ids=["other-signer", "cn-not-a-node", "extra-org", "no-org", "dns-san", "ip-san", "server-usage",
        "missing-digital-signature", "already-approved", "denied", "issued"])
async def test_not_auto_approved(csr):
    client = FakeClient()
    ctx = context(client)
    ctrl = CSRApprovingController(ctx)
    fill(ctx, csr)
    await ctrl.sync("csr-1")
    assert client.calls == []


# ---- signer --------------------------------------------------------------------------------------

def signed(client: FakeClient) -> x509.Certificate:
    [(verb, _, body)] = client.calls
    assert verb == "update/status"
    return x509.load_pem_x509_certificate(base64.b64decode(body["status"]["certificate"]))


async def test_approved_kubelet_client_request_is_signed_by_the_ca(ca):
    client = FakeClient()
    ctx = context(client, **{"cluster-signing-cert-file": ca[0], "cluster-signing-key-file": ca[1]})
    ctrl = CSRSigningController(ctx)
    fill(ctx, make_csr(conditions=APPROVED))
    await ctrl.sync("csr-1")
    cert = signed(client)
    cert.verify_directly_issued_by(ca[2])
    assert cert.subject.rfc4514_string() == "CN=system:node:n1,O=system:nodes"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == \
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_encipherment and not ku.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_before_utc == NOW - signer.BACKDATE
    assert cert.not_valid_after_utc == NOW + signer.DEFAULT_DURATION


async def test_serving_request_keeps_its_sans_and_expiration_seconds_shortens_the_lifetime(ca):
    client = FakeClient()
    ctx = context(client, **{"cluster-signing-cert-file": ca[0], "cluster-signing-key-file": ca[1],
                             "cluster-signing-duration": 7200.0})
    ctrl = CSRSigningController(ctx)
    fill(ctx, make_csr(signer_name=c.KUBELET_SERVING, usages=SERVING_USAGES, dns=("n1",), ips=("127.0.0.1",),
                       conditions=APPROVED, expiration_seconds=60))
    await ctrl.sync("csr-1")
    cert = signed(client)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert cert.not_valid_after_utc == NOW + dt.timedelta(seconds=signer.MIN_EXPIRATION_SECONDS)


async def test_user_client_certificate_is_signed_once_approved(ca):
    client = FakeClient()
    ctx = context(client, **{"cluster-signing-cert-file": ca[0], "cluster-signing-key-file": ca[1]})
    ctrl = CSRSigningController(ctx)
    fill(ctx, make_csr(signer_name=c.KUBE_APISERVER_CLIENT, cn="jane", orgs=("dev",),
                       usages=["client auth"], conditions=APPROVED))
    await ctrl.sync("csr-1")
    assert signed(client).subject.rfc4514_string() == "CN=jane,O=dev"


@pytest.mark.parametrize("csr,message", [
    (make_csr(cn="jane", conditions=APPROVED), "subject common name does not begin with system:node:"),
    (make_csr(signer_name=c.KUBE_APISERVER_CLIENT, usages=["server auth"], conditions=APPROVED),
     "invalid usage for client certificate: server auth"),
    (make_csr(signer_name=c.KUBELET_SERVING, usages=SERVING_USAGES, conditions=APPROVED),
     "DNS or IP subjectAltName is required"),
], ids=["kubelet-client-not-a-node", "client-with-server-usage", "serving-without-san"])
async def test_invalid_approved_request_fails_with_signer_validation_failure(ca, csr, message):
    client = FakeClient()
    ctx = context(client, **{"cluster-signing-cert-file": ca[0], "cluster-signing-key-file": ca[1]})
    ctrl = CSRSigningController(ctx)
    fill(ctx, csr)
    await ctrl.sync("csr-1")
    [(verb, _, body)] = client.calls
    assert verb == "update/status" and "certificate" not in body["status"]
    failed = body["status"]["conditions"][-1]
    assert (failed["type"], failed["reason"], failed["message"]) == ("Failed", "SignerValidationFailure", message)


@pytest.mark.parametrize("csr", [
    make_csr(),
    make_csr(conditions=APPROVED + ({"type": "Failed", "status": "True"},)),
    make_csr(conditions=APPROVED, certificate="Zm9v"),
    make_csr(conditions=APPROVED, signer_name="example.com/other"),
], ids=["pending", "failed", "issued", "foreign-signer"])
async def test_not_signed(ca, csr):
    client = FakeClient()
    ctx = context(client, **{"cluster-signing-cert-file": ca[0], "cluster-signing-key-file": ca[1]})
    ctrl = CSRSigningController(ctx)
    fill(ctx, csr)
    await ctrl.sync("csr-1")
    assert client.calls == []


async def test_without_a_ca_the_signer_does_nothing():
    client = FakeClient()
    ctrl = CSRSigningController(context(client))
    await ctrl.sync("csr-1")
    assert client.calls == []


# ---- cleaner -------------------------------------------------------------------------------------

def test_cleaner_ages():
    created = dt.datetime(2025, 1, 1, 11, tzinfo=dt.UTC)
    assert cleaner.due(make_csr()) == created + cleaner.PENDING
    assert cleaner.due(make_csr(conditions=APPROVED)) == created + cleaner.DECIDED


async def test_cleaner_deletes_a_decided_request_after_an_hour():
    client = FakeClient()
    ctx = context(client)
    ctrl = cleaner.CSRCleanerController(ctx)
    fill(ctx, make_csr(conditions=APPROVED))
    await ctrl.sync("csr-1")
    [(verb, _, body)] = client.calls
    assert verb == "delete" and body["name"] == "csr-1" and body["preconditions"] == {"uid": "uid-csr-1"}

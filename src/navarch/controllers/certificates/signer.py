"""The CSR signing controller (upstream's ``csrsigning``, ``pkg/controller/certificates/signer``).

It signs Approved requests of the built-in signers ``kubernetes.io/kube-apiserver-client``,
``kubernetes.io/kube-apiserver-client-kubelet`` and ``kubernetes.io/kubelet-serving`` with the cluster
CA (``--cluster-signing-cert-file`` / ``--cluster-signing-key-file``), and writes the PEM certificate
to ``status.certificate`` through the status subresource. As upstream: a request the signer does not
accept gets a ``Failed`` condition (reason ``SignerValidationFailure``) instead of a certificate; the
certificate is backdated five minutes (clock skew) and lives ``--cluster-signing-duration`` or
``spec.expirationSeconds`` (at least ten minutes), whichever is shorter, never past the CA's own end.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from navarch.api import jsoncopy
from navarch.controllers.base import ControllerContext, QueueController
from navarch.controllers.certificates import csr as c

DEFAULT_DURATION = dt.timedelta(days=365)
MIN_EXPIRATION_SECONDS = 600
BACKDATE = dt.timedelta(minutes=5)
SIGNERS = (c.KUBE_APISERVER_CLIENT, c.KUBE_APISERVER_CLIENT_KUBELET, c.KUBELET_SERVING)

_KEY_USAGES = {"signing": "digital_signature", "digital signature": "digital_signature",
               "content commitment": "content_commitment", "key encipherment": "key_encipherment",
               "key agreement": "key_agreement", "data encipherment": "data_encipherment",
               "cert sign": "key_cert_sign", "crl sign": "crl_sign", "encipher only": "encipher_only",
               "decipher only": "decipher_only"}
_EXT_KEY_USAGES = {"any": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, "server auth": ExtendedKeyUsageOID.SERVER_AUTH,
                   "client auth": ExtendedKeyUsageOID.CLIENT_AUTH, "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
                   "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
                   "s/mime": ExtendedKeyUsageOID.EMAIL_PROTECTION, "timestamping": ExtendedKeyUsageOID.TIME_STAMPING,
                   "ocsp signing": ExtendedKeyUsageOID.OCSP_SIGNING}


@dataclass(frozen=True)
class SigningCA:
    cert: x509.Certificate
    key: Any  # a private key cryptography can sign with

    @classmethod
    def load(cls, cert_file: str | Path, key_file: str | Path) -> SigningCA:
        cert = x509.load_pem_x509_certificates(Path(cert_file).read_bytes())[0]
        key = serialization.load_pem_private_key(Path(key_file).read_bytes(), None)
        return cls(cert, key)


def validate(obj: Mapping[str, Any], req: x509.CertificateSigningRequest) -> None:
    """Upstream's per-signer admission of what may be signed; raises ``InvalidRequest``."""
    signer = c.spec(obj).get("signerName")
    usage = c.usages(obj)
    if not req.is_signature_valid:
        raise c.InvalidRequest("the certificate request's signature is not valid")
    if signer == c.KUBE_APISERVER_CLIENT_KUBELET:
        c.validate_kubelet_client(req, usage)
    elif signer == c.KUBELET_SERVING:
        c.validate_kubelet_serving(req, usage)
    elif signer == c.KUBE_APISERVER_CLIENT:
        c.validate_apiserver_client(usage)


def lifetime(obj: Mapping[str, Any], duration: dt.timedelta) -> dt.timedelta:
    seconds = c.spec(obj).get("expirationSeconds")
    if seconds is None:
        return duration
    return min(duration, dt.timedelta(seconds=max(int(seconds), MIN_EXPIRATION_SECONDS)))


def sign(ca: SigningCA, req: x509.CertificateSigningRequest, usage: list[str], ttl: dt.timedelta,
         now: dt.datetime) -> x509.Certificate:
    """A certificate for the request's subject, public key and SANs, with the usages asked for."""
    flags = {v: False for v in _KEY_USAGES.values()}
    for u in usage:
        if u in _KEY_USAGES:
            flags[_KEY_USAGES[u]] = True
    if not flags["key_agreement"]:
        flags["encipher_only"] = flags["decipher_only"] = False
    ext = [_EXT_KEY_USAGES[u] for u in dict.fromkeys(usage) if u in _EXT_KEY_USAGES]
    not_after = min(now + ttl, ca.cert.not_valid_after_utc)
    builder = (x509.CertificateBuilder().subject_name(req.subject).issuer_name(ca.cert.subject)
               .public_key(req.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - BACKDATE).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(_authority_key_id(ca.cert), critical=False))
    if any(flags.values()):
        # As Go's x509.CreateCertificate: no key usage asked, no extension. An empty one would forbid
        # every use, and OpenSSL (our API server's TLS) then refuses the certificate for client auth.
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    if ext:
        builder = builder.add_extension(x509.ExtendedKeyUsage(ext), critical=False)
    try:
        sans = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(sans, critical=False)
    except x509.ExtensionNotFound:
        pass
    return builder.sign(ca.key, hashes.SHA256())


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """The CA's own subject key id when it has one (chains are matched by it), else derived from its key."""
    try:
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key())  # type: ignore[arg-type]


def failed(obj: Mapping[str, Any], message: str) -> dict[str, Any]:
    out = jsoncopy.deep_copy(dict(obj))
    out.setdefault("status", {}).setdefault("conditions", []).append(
        {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": message})
    return out


def issued(obj: Mapping[str, Any], cert: x509.Certificate) -> dict[str, Any]:
    out = jsoncopy.deep_copy(dict(obj))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    out.setdefault("status", {})["certificate"] = base64.b64encode(pem).decode()
    return out


class CSRSigningController(QueueController):
    name: ClassVar[str] = "csrsigning"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        cert_file = ctx.options.get("cluster-signing-cert-file")
        key_file = ctx.options.get("cluster-signing-key-file")
        self.duration = dt.timedelta(seconds=float(ctx.options.get("cluster-signing-duration")
                                                   or DEFAULT_DURATION.total_seconds()))
        self.ca = SigningCA.load(cert_file, key_file) if cert_file and key_file else None
        if self.ca is None:
            # As upstream, no CA means no signer (requests stay approved but unsigned).
            self.log.warning("no --cluster-signing-cert-file/--cluster-signing-key-file: not signing CSRs")
            return
        self.csrs = self.factory.lister(c.CSRS)
        self.factory.informer(c.CSRS).add_event_handler(self.enqueue, lambda old, new: self.enqueue(new))

    async def sync(self, key: str) -> None:
        if self.ca is None:
            return
        obj = self.csrs.get(None, key)
        if obj is None or not c.is_approved(obj) or c.is_denied(obj) or c.is_failed(obj) or c.is_issued(obj):
            return
        if c.spec(obj).get("signerName") not in SIGNERS:
            return
        try:
            req = c.parse_request(obj)
            validate(obj, req)
        except c.InvalidRequest as e:
            self.log.info("csr %s not signed: %s", key, e)
            await self.client.update_status(c.CSRS, failed(obj, str(e)))
            return
        cert = sign(self.ca, req, c.usages(obj), lifetime(obj, self.duration), self.clock.now())
        await self.client.update_status(c.CSRS, issued(obj, cert))
        self.log.info("signed csr %s for %s (%s)", key, c.subject_cn(req), c.spec(obj).get("signerName"))

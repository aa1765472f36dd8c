"""TLS bootstrap of a joining node (upstream's kubelet ``--bootstrap-kubeconfig`` flow, with k3s's
CA discovery; docs/adr/0007-join-ca-discovery.md).

1. Fetch the cluster CA from the server's unauthenticated ``/cacerts`` without verifying TLS (we do
   not know the CA yet), and compare its sha256 with the hash in the token: only a server holding
   the token's CA gets any further, and from here on every connection verifies against that CA.
2. With the bootstrap token as bearer credential, create a CertificateSigningRequest for
   ``CN=system:node:<name>, O=system:nodes`` (signer ``kubernetes.io/kube-apiserver-client-kubelet``)
   from a key generated and kept locally; the controller manager approves and signs it.
3. Wait for ``status.certificate``, then write a kubeconfig with that certificate.

A certificate already on disk that the CA issued for this node and that is not near its end is
reused, so a restarted agent creates no new request.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from navarch.api import bootstraptoken as bt
from navarch.client.errors import ApiError, is_already_exists
from navarch.client.kubeconfig import ClientConfig
from navarch.client.rest import Client

log = logging.getLogger("navarch.agent")

CSRS = "certificates.k8s.io/v1/certificatesigningrequests"
SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
NODES_GROUP = "system:nodes"
CACERTS_PATH = "/cacerts"
# A certificate this close to its end is requested afresh at start (upstream rotates at ~70-90%).
RENEW_BEFORE = dt.timedelta(days=1)


class JoinError(Exception):
    """The join cannot succeed; the message is for the user, the agent exits non-zero."""


@dataclass(frozen=True)
class AgentPaths:
    """Everything the agent keeps, under ``DIR/agent``."""

    root: Path

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def client_key(self) -> Path:
        return self.pki / "kubelet-client.key"

    @property
    def client_cert(self) -> Path:
        return self.pki / "kubelet-client.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubelet.kubeconfig"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"


def node_user(node_name: str) -> str:
    return f"system:node:{node_name}"


# ---- step 1: the CA ---------------------------------------------------------------------------------

async def fetch_ca(server: str, timeout: float = 10.0) -> bytes:
    """The PEM the server offers at ``/cacerts``, read without verifying its TLS certificate: the
    caller must check it against the token's hash before trusting it."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session, \
            session.get(server.rstrip("/") + CACERTS_PATH, ssl=ctx) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise JoinError(f"the server at {server} did not offer its CA at {CACERTS_PATH} "
                            f"(HTTP {resp.status}); is it a navarch server?")
        return body


def verify_ca(ca_pem: bytes, expected_hash: str, server: str) -> None:
    try:
        actual = bt.ca_hash(ca_pem)
    except (ValueError, IndexError):
        raise JoinError(f"the server at {server} sent a CA that is not a PEM certificate") from None
    if actual != expected_hash:
        raise JoinError(f"the CA of the server at {server} does not match the join token: the token expects "
                        f"CA hash {expected_hash}, the server presented {actual}. Refusing to trust it "
                        f"(wrong server, or a token of another cluster).")


async def discover_ca(server: str, token: bt.JoinToken, retry_for: float = 60.0) -> bytes:
    """Fetch and check the CA, retrying while the server cannot be reached (it may be starting)."""
    if not token.ca_hash:
        raise JoinError("the token has no CA hash (K10<sha256>::<id>.<secret>); without it the server "
                        "cannot be verified. Use the token from the server's DIR/token or `navarch token create`.")
    deadline = asyncio.get_running_loop().time() + retry_for
    while True:
        try:
            ca = await fetch_ca(server)
            break
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            if asyncio.get_running_loop().time() >= deadline:
                raise JoinError(f"cannot reach the server at {server}: {e}") from None
            log.info("waiting for the server at %s: %s", server, e)
            await asyncio.sleep(1.0)
    verify_ca(ca, token.ca_hash, server)
    return ca


# ---- step 2 and 3: the node client certificate ------------------------------------------------------

def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def load_or_create_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The node's key: kept across attempts, so a request interrupted mid-way is found again by name."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key
    except (OSError, ValueError):
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return key


def certificate_request(key: ec.EllipticCurvePrivateKey, node_name: str) -> bytes:
    """PEM ``CERTIFICATE REQUEST`` for the node's client identity."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP),
                         x509.NameAttribute(NameOID.COMMON_NAME, node_user(node_name))])
    req = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.PEM)


def csr_name(key: ec.EllipticCurvePrivateKey, node_name: str) -> str:
    """Derived from the key and the name (as upstream's ``node-csr-<digest>``): the same attempt
    always finds its own request."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = base64.urlsafe_b64encode(hashlib.sha256(der + node_name.encode()).digest()).decode().rstrip("=")
    return "node-csr-" + digest.replace("_", "x").replace("-", "y")[:40].lower()


def csr_object(name: str, request_pem: bytes) -> dict:
    return {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {"request": base64.b64encode(request_pem).decode(), "signerName": SIGNER,
                     "usages": ["digital signature", "client auth"]}}


def usable_certificate(cert_path: Path, key: ec.EllipticCurvePrivateKey, ca_pem: bytes, node_name: str,
                       now: dt.datetime | None = None) -> bool:
    """The saved certificate is for this node and key, issued by this CA, and not near its end."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        ca = x509.load_pem_x509_certificates(ca_pem)[0]
        cert.verify_directly_issued_by(ca)
    except (OSError, ValueError, TypeError, IndexError, InvalidSignature) as e:
        log.debug("saved certificate not usable (unreadable, or not issued by the cluster CA): %s", e)
        return False
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    same_key = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo) == \
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = now or dt.datetime.now(dt.UTC)
    return cns == [node_user(node_name)] and same_key and now + RENEW_BEFORE < cert.not_valid_after_utc


def _explain(e: ApiError, server: str) -> JoinError:
    if e.code == 401:
        return JoinError(f"the server at {server} refused the join token (401 Unauthorized): its id or secret "
                         f"is wrong, or it has expired or been deleted. Get a valid token from the server's "
                         f"DIR/token or `navarch token create`.")
    if e.code == 403:
        return JoinError(f"the join token may not request node certificates (403 Forbidden): {e.message}")
    return JoinError(f"the server refused the certificate request ({e.code} {e.reason}): {e.message}")


async def request_certificate(server: str, ca_pem: bytes, token: bt.JoinToken, key: ec.EllipticCurvePrivateKey,
                              node_name: str, timeout: float = 300.0, poll: float = 0.5) -> bytes:
    """Create (or find) the node's CSR with the bootstrap token and wait for its certificate."""
    config = ClientConfig(server=server.rstrip("/"), ca_data=ca_pem, token=str(token.bootstrap))
    name = csr_name(key, node_name)
    async with Client(config, user_agent=f"navarch-agent/{node_name}") as client:
        try:
            await client.create(CSRS, csr_object(name, certificate_request(key, node_name)))
            log.info("requested a client certificate for node %s (csr %s)", node_name, name)
        except ApiError as e:
            if not is_already_exists(e):
                raise _explain(e, server) from None
            log.info("waiting for the existing certificate request %s", name)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                obj = await client.get(CSRS, name)
            except ApiError as e:
                raise _explain(e, server) from None
            status = obj.get("status") or {}
            for cond in status.get("conditions") or []:
                if cond.get("type") in ("Denied", "Failed") and cond.get("status", "True") == "True":
                    raise JoinError(f"the certificate request {name} was {cond['type'].lower()}: "
                                    f"{cond.get('reason', '')} {cond.get('message', '')}".rstrip())
            if status.get("certificate"):
                return base64.b64decode(status["certificate"])
            if asyncio.get_running_loop().time() >= deadline:
                raise JoinError(f"the certificate request {name} was not signed within {timeout:.0f}s: is the "
                                f"controller manager running with the csrapproving and csrsigning controllers?")
            await asyncio.sleep(poll)


async def ensure_node_credentials(server: str, token: bt.JoinToken, node_name: str, paths: AgentPaths) -> Path:
    """Join (or re-join) and return the kubeconfig the kubelet runs with."""
    from navarch.server.pki import CertPaths, write_kubeconfig

    ca = await discover_ca(server, token)
    log.info("the server's CA matches the token (sha256 %s)", token.ca_hash)
    paths.pki.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths.ca.write_bytes(ca)
    key = load_or_create_key(paths.client_key)
    if usable_certificate(paths.client_cert, key, ca, node_name):
        log.info("reusing the client certificate of node %s", node_name)
    else:
        cert = await request_certificate(server, ca, token, key, node_name)
        _write_private(paths.client_cert, cert)
        log.info("got a client certificate for node %s", node_name)
    write_kubeconfig(paths.kubeconfig, server.rstrip("/"), paths.ca,
                     CertPaths(paths.client_cert, paths.client_key), user=node_user(node_name))
    return paths.kubeconfig

"""Bootstrap and join tokens, as data: their formats, the CA hash, the Secret behind a token.

A join token is what an agent needs to find and trust the cluster, in one string:

``K10<sha256 hex of the cluster CA certificate, DER>::<id>.<secret>`` (k3s's "secure" token format):
the hash lets the agent check the CA it is offered before it trusts anything, and ``<id>.<secret>``
is an upstream bootstrap token, a Secret ``kube-system/bootstrap-token-<id>`` of type
``bootstrap.kubernetes.io/token`` that the API server's bootstrap-token authenticator accepts as user
``system:bootstrap:<id>`` in group ``system:bootstrappers``.

Pure data, no I/O: the API server's authenticator, the server (``server/join.py``), the agent and
the CLI all read tokens through here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

TOKEN_PREFIX = "K10"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
NAMESPACE = "kube-system"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
DEFAULT_EXTRA_GROUP = "system:bootstrappers:navarch:default-node-token"
# What upstream's token id and secret look like (kubeadm's "[a-z0-9]{6}.[a-z0-9]{16}").
_ID_RE = re.compile(r"^[a-z0-9]{6}$")
_SECRET_RE = re.compile(r"^[a-z0-9]{16}$")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")


class TokenFormatError(ValueError):
    """The string is not a join token (nor a bare bootstrap token)."""


@dataclass(frozen=True)
class BootstrapToken:
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{self.id}.{self.secret}"

    @property
    def secret_name(self) -> str:
        return SECRET_PREFIX + self.id


@dataclass(frozen=True)
class JoinToken:
    """``ca_hash`` is "" for a bare ``<id>.<secret>``: the agent then cannot check the CA."""

    ca_hash: str
    bootstrap: BootstrapToken

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}{self.ca_hash}::{self.bootstrap}" if self.ca_hash else str(self.bootstrap)


def generate_bootstrap_token() -> BootstrapToken:
    pick = lambda n: "".join(secrets.choice(_ALPHABET) for _ in range(n))
    return BootstrapToken(pick(6), pick(16))


def parse_bootstrap_token(text: str) -> BootstrapToken:
    tid, dot, sec = text.strip().partition(".")
    if not dot or not _ID_RE.match(tid) or not _SECRET_RE.match(sec):
        raise TokenFormatError("a bootstrap token looks like <id>.<secret>: 6 and 16 characters of [a-z0-9]")
    return BootstrapToken(tid, sec)


def parse_join_token(text: str) -> JoinToken:
    """``K10<hash>::<id>.<secret>``, or a bare ``<id>.<secret>``."""
    text = text.strip()
    if text.startswith(TOKEN_PREFIX) and "::" in text:
        head, _, rest = text.partition("::")
        digest = head[len(TOKEN_PREFIX):].lower()
        if not _HASH_RE.match(digest):
            raise TokenFormatError("the CA hash of a K10 token is 64 hex digits (sha256 of the CA certificate)")
        return JoinToken(digest, parse_bootstrap_token(rest))
    if "::" in text:
        raise TokenFormatError("a join token looks like K10<sha256 hex>::<id>.<secret>")
    return JoinToken("", parse_bootstrap_token(text))


def ca_hash(ca_pem: bytes) -> str:
    """sha256 (hex) of the DER of the first certificate in ``ca_pem``: the cluster CA."""
    cert = x509.load_pem_x509_certificates(ca_pem)[0]
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def parse_ttl(text: str) -> dt.timedelta | None:
    """A Go duration ("24h", "1h30m", "90s"); "0" means never expires (None), as kubeadm's --ttl."""
    text = text.strip()
    if text in ("0", "0s", ""):
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(text) or total <= 0:
        raise ValueError(f"invalid duration {text!r}: use units h, m, s (e.g. 24h, 1h30m)")
    return dt.timedelta(seconds=total)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_secret(token: BootstrapToken, *, ttl: dt.timedelta | None = None, description: str = "",
                 extra_groups: tuple[str, ...] = (DEFAULT_EXTRA_GROUP,),
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """The Secret behind a bootstrap token, as kubeadm writes it (authentication and signing usages)."""
    data = {"token-id": token.id, "token-secret": token.secret, "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true"}
    if extra_groups:
        data["auth-extra-groups"] = ",".join(extra_groups)
    if description:
        data["description"] = description
    if ttl is not None:
        data["expiration"] = _rfc3339((now or dt.datetime.now(dt.UTC)) + ttl)
    return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE,
            "metadata": {"name": token.secret_name, "namespace": NAMESPACE},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's data, decoded (values that are not base64 text are left out)."""
    out: dict[str, str] = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v, validate=True).decode()
        except (ValueError, TypeError):
            continue
    return out

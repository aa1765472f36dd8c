"""Signing and verifying service-account JWTs with the keys of ``--service-account-signing-key-file``
and ``--service-account-key-file``, as upstream's pkg/serviceaccount/jwt.go does.

The algorithm follows the key (EC P-256: ES256, P-384: ES384, P-521: ES512, RSA: RS256); the header's
``kid`` is upstream's key id (unpadded base64url of the SHA-256 of the public key's DER), so a verifier
with several keys picks the right one without trying them all.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# Upstream's JWT validation (go-jose DefaultLeeway) tolerates one minute of clock skew.
LEEWAY_SECONDS = 60


class InvalidToken(Exception):
    """A token that is ours (right issuer) but not valid; the message is what TokenReview reports."""


def algorithm_for(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "RS256"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        algs = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        if key.curve.name in algs:
            return algs[key.curve.name]
    raise ValueError(f"unsupported service-account key type {type(key).__name__}")


def key_id(key: PublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def load_private_key(path: Path) -> PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise ValueError(f"{path}: not an RSA or ECDSA private key")
    algorithm_for(key)
    return key


def load_public_keys(path: Path) -> list[PublicKey]:
    """Every key in a PEM file: public keys, private keys (their public half) and certificates, as
    upstream's keyutil.PublicKeysFromFile reads ``--service-account-key-file``."""
    data = path.read_bytes()
    out: list[PublicKey] = []
    for block in _pem_blocks(data):
        kind = block.split(b"\n", 1)[0]
        if b"CERTIFICATE" in kind:
            pub: Any = x509.load_pem_x509_certificate(block).public_key()
        elif b"PRIVATE KEY" in kind:
            pub = serialization.load_pem_private_key(block, None).public_key()
        elif b"PUBLIC KEY" in kind:
            pub = serialization.load_pem_public_key(block)
        else:
            continue
        if isinstance(pub, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            out.append(pub)
    if not out:
        raise ValueError(f"{path}: no RSA or ECDSA public key found")
    return out


def _pem_blocks(data: bytes) -> Iterable[bytes]:
    start = 0
    while True:
        begin = data.find(b"-----BEGIN ", start)
        if begin < 0:
            return
        end_marker = data.find(b"-----END ", begin)
        if end_marker < 0:
            return
        end = data.find(b"-----", end_marker + 9)
        if end < 0:
            return
        yield data[begin:end + 5] + b"\n"
        start = end + 5


@dataclass(frozen=True)
class Signer:
    """Signs claims with one private key (every pod's token is a signature: the key's id and
    algorithm are worked out once, not per token)."""

    key: PrivateKey
    algorithm: str = field(init=False)
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "algorithm", algorithm_for(self.key))
        object.__setattr__(self, "kid", key_id(self.key.public_key()))

    def sign(self, claims: Mapping[str, Any]) -> str:
        return pyjwt.encode(dict(claims), self.key, algorithm=self.algorithm, headers={"kid": self.kid})


class Verifier:
    """Checks a token's signature against the accepted keys and its issuer against the accepted
    issuers. Times and audiences are the caller's: a cached token must be re-checked against them."""

    def __init__(self, keys: Sequence[PublicKey], issuers: Sequence[str]) -> None:
        self.keys = {key_id(k): k for k in keys}
        self.issuers = frozenset(issuers)

    def is_ours(self, token: str) -> bool:
        """Whether the token names one of our issuers (without verifying anything): tokens of
        other issuers are left to other authenticators, as upstream's hasCorrectIssuer does."""
        try:
            payload = pyjwt.decode(token, options={"verify_signature": False})
        except pyjwt.PyJWTError:
            return False
        return payload.get("iss") in self.issuers

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims; ``InvalidToken`` when no key verifies the signature."""
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError as e:
            raise InvalidToken(f"malformed token: {e}") from None
        alg = header.get("alg")
        kid = header.get("kid")
        candidates = [self.keys[kid]] if kid in self.keys else list(self.keys.values())
        for key in candidates:
            try:
                want = algorithm_for(key)
            except ValueError:
                continue
            if alg != want:
                continue
            try:
                claims = pyjwt.decode(token, key, algorithms=[want],
                                      options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                               "verify_iat": False, "verify_iss": False})
            except pyjwt.InvalidSignatureError:
                continue
            except pyjwt.PyJWTError as e:
                raise InvalidToken(f"malformed token: {e}") from None
            if claims.get("iss") not in self.issuers:
                raise InvalidToken("token has an unknown issuer")
            return claims
        raise InvalidToken("invalid signature")

"""What a service-account token asserts: upstream's bound-token claims (pkg/serviceaccount/claims.go).

Public claims ``iss``, ``sub`` (``system:serviceaccount:<ns>:<name>``), ``aud``, ``iat``, ``nbf``,
``exp``, ``jti``; private claims under ``kubernetes.io``: the namespace, the service account (name,
uid), the object the token is bound to (pod, secret or node), the pod's node, and ``warnafter`` for
the extended tokens the kubelet mounts (see ``tokenrequest``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from navarch.apiserver.tokens.jwt import InvalidToken

Obj = Mapping[str, Any]

PRIVATE = "kubernetes.io"
USERNAME_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"
# The extra keys of a service account's user (k8s.io/apiserver/pkg/authentication/serviceaccount).
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


def group_names(namespace: str) -> list[str]:
    return [ALL_SERVICE_ACCOUNTS_GROUP, f"{ALL_SERVICE_ACCOUNTS_GROUP}:{namespace}"]


def credential_id(jti: str) -> str:
    return f"JTI={jti}"


def _ref(obj: Obj) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    out = {"name": meta.get("name") or ""}
    if meta.get("uid"):
        out["uid"] = meta["uid"]
    return out


def make_claims(service_account: Obj, *, issuer: str, audiences: Sequence[str], now: int,
                expiration_seconds: int, warn_after_seconds: int = 0, pod: Obj | None = None,
                secret: Obj | None = None, node: Obj | None = None, jti: str | None = None) -> dict[str, Any]:
    """The claims of a token for ``service_account`` issued at ``now`` (Unix seconds). A pod-bound
    token may name the pod's node too; a token is bound to at most one of pod, secret, node."""
    if secret is not None and (pod is not None or node is not None):
        raise ValueError("a token can only be bound to one object type")
    meta = service_account.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    private: dict[str, Any] = {"namespace": namespace, "serviceaccount": _ref(service_account)}
    if pod is not None:
        private["pod"] = _ref(pod)
        if node is not None:
            private["node"] = _ref(node)
    elif secret is not None:
        private["secret"] = _ref(secret)
    elif node is not None:
        private["node"] = _ref(node)
    if warn_after_seconds:
        private["warnafter"] = now + warn_after_seconds
    return {
        "aud": list(audiences),
        "exp": now + expiration_seconds,
        "iat": now,
        "iss": issuer,
        "jti": jti or str(uuid.uuid4()),
        PRIVATE: private,
        "nbf": now,
        "sub": username(namespace, meta.get("name") or ""),
    }


@dataclass(frozen=True, slots=True)
class BoundClaims:
    """The verified claims an authenticator needs, read once per token."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    expiry: int
    not_before: int
    issued_at: int
    jti: str = ""
    pod: tuple[str, str] | None = None  # (name, uid)
    secret: tuple[str, str] | None = None
    node: tuple[str, str] | None = None
    warn_after: int = 0

    @classmethod
    def parse(cls, claims: Mapping[str, Any]) -> BoundClaims:
        """``InvalidToken`` for claims that are not a bound service-account token's (legacy
        secret-based tokens carry none of ``kubernetes.io``; navarch never issued those)."""
        private = claims.get(PRIVATE)
        if not isinstance(private, Mapping):
            raise InvalidToken("token lacks the kubernetes.io claims of a bound service account token")
        sa = private.get("serviceaccount") or {}
        namespace = private.get("namespace") or ""
        if not namespace or not sa.get("name") or not sa.get("uid"):
            raise InvalidToken("token does not name a service account")
        if claims.get("sub") != username(namespace, sa["name"]):
            raise InvalidToken("token subject does not match its service account")
        aud = claims.get("aud")
        audiences = (aud,) if isinstance(aud, str) else tuple(str(a) for a in aud or ())
        try:
            expiry = int(claims["exp"])
            not_before = int(claims.get("nbf") or 0)
            issued_at = int(claims.get("iat") or 0)
            warn_after = int(private.get("warnafter") or 0)
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("token has no valid expiry") from None

        def ref(key: str) -> tuple[str, str] | None:
            r = private.get(key)
            if not isinstance(r, Mapping) or not r.get("name"):
                return None
            return (str(r["name"]), str(r.get("uid") or ""))

        return cls(namespace=namespace, name=str(sa["name"]), uid=str(sa["uid"]), audiences=audiences,
                   expiry=expiry, not_before=not_before, issued_at=issued_at, jti=str(claims.get("jti") or ""),
                   pod=ref("pod"), secret=ref("secret"), node=ref("node"), warn_after=warn_after)

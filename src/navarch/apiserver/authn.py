"""Authentication: who is asking. x509 client certificates (CN = user, O = groups) and static tokens.

Bootstrap tokens, service-account tokens and the TokenReview API come with the security issue; the
request pipeline already asks this one object, so adding them changes nothing else.
"""

from __future__ import annotations

import csv
import hmac
import ssl
from pathlib import Path
from typing import Any, TypedDict

from aiohttp import web


class User(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class Authenticator:
    def __init__(self, token_file: Path | None = None) -> None:
        self.tokens: dict[str, User] = {}
        if token_file:
            self.tokens = load_token_file(token_file)

    def authenticate(self, request: web.Request) -> User | None:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            for known, user in self.tokens.items():
                if hmac.compare_digest(known, token):
                    return user
            return None
        transport = request.transport
        if transport is None:
            return None
        cert = transport.get_extra_info("peercert")
        if cert:
            return _user_from_cert(cert)
        return None


def _user_from_cert(cert: dict[str, Any]) -> User | None:
    cn = None
    groups: list[str] = []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                groups.append(value)
    if not cn:
        return None
    return User(username=cn, groups=groups + ["system:authenticated"])


def load_token_file(path: Path) -> dict[str, User]:
    """Upstream's --token-auth-file: ``token,user,uid,"group1,group2"`` per line."""
    out: dict[str, User] = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 3 or row[0].startswith("#"):
                continue
            groups = [g for g in (row[3].split(",") if len(row) > 3 else []) if g]
            out[row[0]] = User(username=row[1], uid=row[2], groups=groups + ["system:authenticated"])
    return out


del ssl

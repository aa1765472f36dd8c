"""Authentication: who is asking. x509 client certificates (CN = user, O = groups) and bearer tokens.

Bearer tokens go through ``token_authenticators`` in order, as upstream's token union: static
tokens (``--token-auth-file``), bootstrap tokens, then service-account JWTs; the first that knows a
token decides. A token authenticator is any object with ``authenticate_token(token) -> User | None``;
it runs on the event loop for every request carrying a token, so it must not block or do I/O (read
the watch cache instead). A bearer token no authenticator accepts is a 401, never a fallback to the
client certificate, as upstream.

Users are plain dicts shared between requests: read them, never change them.
"""

from __future__ import annotations

import csv
import hmac
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from aiohttp import web

if TYPE_CHECKING:
    from navarch.apiserver.tokens.authenticator import ServiceAccountTokens, TokenResult
    from navarch.apiserver.watchcache import WatchCache


class User(TypedDict, total=False):
    username: str
    uid: str
    groups: list[str]
    extra: dict[str, list[str]]


class TokenAuthenticator(Protocol):
    def authenticate_token(self, token: str) -> User | None: ...


class StaticTokens:
    """Upstream's --token-auth-file."""

    def __init__(self, tokens: dict[str, User]) -> None:
        self.tokens = tokens

    def authenticate_token(self, token: str) -> User | None:
        for known, user in self.tokens.items():
            if hmac.compare_digest(known, token):
                return user
        return None


class Authenticator:
    def __init__(self, token_file: Path | None = None, *, cache: WatchCache | None = None,
                 service_accounts: ServiceAccountTokens | None = None) -> None:
        self.cache = cache
        self.service_accounts = service_accounts
        self.token_authenticators: list[TokenAuthenticator] = []
        if token_file:
            self.token_authenticators.append(StaticTokens(load_token_file(token_file)))
        if cache is not None:  # bootstrap tokens (joining agents), before service accounts
            from navarch.apiserver import authn_bootstrap

            self.token_authenticators.append(authn_bootstrap.from_cache(cache))
        if service_accounts is not None:
            self.token_authenticators.append(service_accounts)

    @property
    def api_audiences(self) -> tuple[str, ...]:
        return self.service_accounts.api_audiences if self.service_accounts is not None else ()

    def authenticate(self, request: web.Request) -> User | None:
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return self.authenticate_token(auth[7:].strip())
        transport = request.transport
        if transport is None:
            return None
        cert = transport.get_extra_info("peercert")
        if cert:
            return _user_from_cert(cert)
        return None

    def authenticate_token(self, token: str) -> User | None:
        if not token:
            return None
        for authenticator in self.token_authenticators:
            user = authenticator.authenticate_token(token)
            if user is not None:
                return user
        return None

    def review_token(self, token: str, audiences: Sequence[str] = ()) -> TokenResult | None:
        """TokenReview's question: who is this token, for these audiences (default: the API's)?
        Raises ``InvalidToken`` with the reason when a service-account token is not valid."""
        from navarch.apiserver.tokens.authenticator import TokenResult

        if self.service_accounts is not None:
            found = self.service_accounts.review(token, audiences)
            if found is not None:
                return found
        # The other authenticators know no audiences; as upstream's audience-agnostic wrapper, they
        # answer only for the API's own audiences.
        api = self.api_audiences
        wanted = tuple(audiences) or api
        accepted = tuple(a for a in wanted if a in api) if api else wanted
        if api and not accepted:
            return None
        for authenticator in self.token_authenticators:
            if authenticator is self.service_accounts:
                continue
            user = authenticator.authenticate_token(token)
            if user is not None:
                return TokenResult(user, accepted)
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

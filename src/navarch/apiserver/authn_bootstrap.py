"""Bootstrap-token authentication: ``<id>.<secret>`` bearer tokens backed by Secrets
``kube-system/bootstrap-token-<id>``, as upstream's ``plugin/pkg/auth/authenticator/token/bootstrap``.

The Secret is read from the watch cache (a dict lookup, no store round trip), so a token costs the
same as a static one. As upstream, every failure is "not this authenticator's token" (None): the
client sees the same 401 whether the id, the secret, the expiry or the usage is wrong, so nothing
about existing tokens leaks.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from navarch.api import bootstraptoken as bt
from navarch.api.resources import REGISTRY

if TYPE_CHECKING:  # authn.py imports this module
    from navarch.apiserver.authn import User

log = logging.getLogger("navarch.apiserver.authn")

_TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
# Upstream's rule for auth-extra-groups: each must live under system:bootstrappers:.
_EXTRA_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")

SecretLookup = Callable[[str, str], "dict[str, Any] | None"]


def cache_lookup(cache: Any) -> SecretLookup:
    """Secrets by (namespace, name) from the API server's watch cache (read-only objects)."""
    secrets = REGISTRY.get("", "v1", "secrets")
    assert secrets is not None
    resource_cache = cache.cache_for(secrets.storage_prefix())

    def lookup(namespace: str, name: str) -> dict[str, Any] | None:
        entry = resource_cache.items.get(secrets.storage_key(namespace, name))
        return entry.obj if entry is not None else None

    return lookup


class BootstrapTokenAuthenticator:
    def __init__(self, lookup: SecretLookup, now: Callable[[], dt.datetime] | None = None) -> None:
        self._lookup = lookup
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def authenticate_token(self, token: str) -> User | None:
        m = _TOKEN_RE.match(token)
        if m is None:
            return None
        token_id, token_secret = m.group(1), m.group(2)
        secret = self._lookup(bt.NAMESPACE, bt.SECRET_PREFIX + token_id)
        if secret is None:
            return None
        if (secret.get("metadata") or {}).get("deletionTimestamp"):
            return None
        if secret.get("type") != bt.SECRET_TYPE:
            return None
        data = bt.secret_data(secret)
        if not hmac.compare_digest(data.get("token-secret", "").encode(), token_secret.encode()):
            log.debug("bootstrap token %s: wrong secret", token_id)
            return None
        if data.get("token-id") != token_id:
            return None
        if _expired(data.get("expiration"), self._now()):
            log.debug("bootstrap token %s has expired", token_id)
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        groups = [bt.BOOTSTRAPPERS_GROUP]
        for g in (data.get("auth-extra-groups") or "").split(","):
            g = g.strip()
            if not g:
                continue
            if not _EXTRA_GROUP_RE.match(g):
                log.debug("bootstrap token %s: invalid auth-extra-groups %r", token_id, g)
                return None
            if g not in groups:
                groups.append(g)
        groups.append("system:authenticated")
        return {"username": f"system:bootstrap:{token_id}", "groups": groups}


def _expired(value: str | None, now: dt.datetime) -> bool:
    """No expiration: never expires; an unreadable one counts as expired (upstream fails closed)."""
    if not value:
        return False
    try:
        at = dt.datetime.fromisoformat(value)  # 3.11 reads "Z"
    except ValueError:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return now >= at


def from_cache(cache: Any) -> BootstrapTokenAuthenticator:
    """The authenticator the API server runs: Secrets from its watch cache."""
    return BootstrapTokenAuthenticator(cache_lookup(cache))

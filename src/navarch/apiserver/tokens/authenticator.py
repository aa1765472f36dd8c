"""Service-account token authentication, as upstream's JWT token authenticator with its validator.

A token is ours when its ``iss`` is one of ``--service-account-issuer``. Then: the signature must
verify with one of the keys, the time must be within [nbf, exp] (one minute of leeway), one of its
audiences must be among the wanted ones (the API's, or a TokenReview's), and the objects it names
must still exist with the same uid: the service account always, and the pod, secret or node it is
bound to. Deleting a pod thus invalidates its tokens at once.

Cost: a token's signature and claims are verified once and remembered (LRU, until expiry); every
request re-checks the time and the bound objects with dict lookups in the watch cache, so a repeated
token costs microseconds and never a store round trip.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from navarch.api.resources import REGISTRY
from navarch.apiserver.tokens import claims as tc
from navarch.apiserver.tokens.jwt import LEEWAY_SECONDS, InvalidToken, Signer, Verifier

if TYPE_CHECKING:
    from navarch.apiserver.authn import User
    from navarch.apiserver.watchcache import WatchCache

log = logging.getLogger("navarch.apiserver.authn")

DEFAULT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True, slots=True)
class TokenResult:
    user: User
    audiences: tuple[str, ...]


@dataclass(slots=True)
class _Verified:
    claims: tc.BoundClaims
    user: User
    api_audiences: tuple[str, ...]  # the token's audiences that the API accepts (empty: not for us)
    sa_key: str
    bound_key: str  # the storage key of the pod, secret or node the token is bound to ("" if none)


class ServiceAccountTokens:
    """Issues (with a signing key) and authenticates service-account tokens for one API server."""

    def __init__(self, *, verifier: Verifier, cache: WatchCache, issuer: str = DEFAULT_ISSUER,
                 api_audiences: Sequence[str] = (), signer: Signer | None = None,
                 max_expiration_seconds: int = 0, extend_expiration: bool = True,
                 clock: Callable[[], float] = time.time, cache_size: int = 10_000) -> None:
        self.verifier = verifier
        self.signer = signer
        self.issuer = issuer
        # Upstream: with no --api-audiences, the API's audience is the issuer.
        self.api_audiences: tuple[str, ...] = tuple(api_audiences) or (issuer,)
        self.max_expiration_seconds = max_expiration_seconds
        self.extend_expiration = extend_expiration
        self.clock = clock
        self._verified: collections.OrderedDict[str, _Verified] = collections.OrderedDict()
        self._cache_size = cache_size
        self._resources = {kind: REGISTRY.get("", "v1", plural)
                           for kind, plural in (("ServiceAccount", "serviceaccounts"), ("Pod", "pods"),
                                                ("Secret", "secrets"), ("Node", "nodes"))}
        # The resource caches, not their ``items`` dicts: a (re)load replaces those.
        self._caches = {kind: cache.cache_for(REGISTRY.storage_resource(r).storage_prefix())
                        for kind, r in self._resources.items() if r is not None}

    @classmethod
    def from_files(cls, cache: WatchCache, *, signing_key_file: Path | None, key_files: Sequence[Path] = (),
                   issuers: Sequence[str] = (DEFAULT_ISSUER,), api_audiences: Sequence[str] = (),
                   max_expiration_seconds: int = 0, extend_expiration: bool = True) -> ServiceAccountTokens | None:
        """From the API server's flags; None when there is no key at all (service-account tokens
        are then neither issued nor accepted). Without ``key_files`` the signing key verifies too."""
        from navarch.apiserver.tokens import jwt as tj

        if signing_key_file is None and not key_files:
            return None
        signer = Signer(tj.load_private_key(signing_key_file)) if signing_key_file else None
        keys = [k for f in key_files for k in tj.load_public_keys(f)]
        if not keys and signer is not None:
            keys = [signer.key.public_key()]
        issuers = tuple(issuers) or (DEFAULT_ISSUER,)
        return cls(verifier=Verifier(keys, issuers), cache=cache, issuer=issuers[0], api_audiences=api_audiences,
                   signer=signer, max_expiration_seconds=max_expiration_seconds,
                   extend_expiration=extend_expiration)

    # ---- authentication ------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> User | None:
        """The user of a token presented to this API server (its own audiences); None when the
        token is not ours or not valid. The returned dict is shared: read it, never change it."""
        v = self._verified.get(token)
        if v is not None:
            self._verified.move_to_end(token)
        else:
            if not self.verifier.is_ours(token):
                return None
            try:
                v = self._verify(token)
            except InvalidToken as e:
                log.debug("service account token rejected: %s", e)
                return None
        if not v.api_audiences:
            return None
        try:
            self._check_current(v)
        except InvalidToken as e:
            log.debug("service account token rejected: %s", e)
            return None
        return v.user

    def review(self, token: str, audiences: Sequence[str] | None = None) -> TokenResult | None:
        """For TokenReview: the user and the accepted audiences (the intersection of the token's
        and ``audiences``, default the API's); None when the token is not ours, ``InvalidToken``
        (upstream's message) when it is ours but not valid."""
        v = self._verified.get(token)
        if v is None:
            if not self.verifier.is_ours(token):
                return None
            v = self._verify(token)
        wanted = tuple(audiences) if audiences else self.api_audiences
        accepted = _intersect(v.claims.audiences, wanted)
        if not accepted:
            raise InvalidToken(f"token audiences {_go_list(v.claims.audiences)} is invalid for the target "
                               f"audiences {_go_list(wanted)}")
        self._check_current(v)
        return TokenResult(v.user, accepted)

    def _verify(self, token: str) -> _Verified:
        c = tc.BoundClaims.parse(self.verifier.verify(token))
        if not c.audiences:  # upstream: a token naming no audience is meant for the API itself
            c = dataclasses.replace(c, audiences=self.api_audiences)
        v = _Verified(claims=c, user=_user(c), api_audiences=_intersect(c.audiences, self.api_audiences),
                      sa_key=self._key("ServiceAccount", c.namespace, c.name), bound_key=self._bound_key(c))
        self._verified[token] = v
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return v

    def _key(self, kind: str, namespace: str | None, name: str) -> str:
        r = self._resources[kind]
        assert r is not None
        return r.storage_key(namespace if r.namespaced else None, name)

    def _bound_key(self, c: tc.BoundClaims) -> str:
        if c.pod is not None:
            return self._key("Pod", c.namespace, c.pod[0])
        if c.secret is not None:
            return self._key("Secret", c.namespace, c.secret[0])
        if c.node is not None:
            return self._key("Node", None, c.node[0])
        return ""

    def _check_current(self, v: _Verified) -> None:
        """What can change after verification: the time, and the objects the token names."""
        c = v.claims
        now = self.clock()
        if now > c.expiry + LEEWAY_SECONDS:
            raise InvalidToken("service account token has expired")
        if c.not_before and now + LEEWAY_SECONDS < c.not_before:
            raise InvalidToken("service account token is not valid yet")
        if c.issued_at and now + LEEWAY_SECONDS < c.issued_at:
            raise InvalidToken("service account token is issued in the future")
        _check_object(self._caches["ServiceAccount"].items, v.sa_key, "serviceaccounts", c.name, c.uid,
                      "service account", now)
        if c.pod is not None:
            _check_object(self._caches["Pod"].items, v.bound_key, "pods", c.pod[0], c.pod[1], "pod", now)
        elif c.secret is not None:
            _check_object(self._caches["Secret"].items, v.bound_key, "secrets", c.secret[0], c.secret[1], "secret", now)
        elif c.node is not None:
            _check_object(self._caches["Node"].items, v.bound_key, "nodes", c.node[0], c.node[1], "node", now)


def _check_object(items: dict[str, Any], key: str, resource: str, name: str, uid: str, what: str,
                  now: float) -> None:
    entry = items.get(key)
    if entry is None:
        raise InvalidToken(f'{resource} "{name}" not found')
    meta = entry.obj.get("metadata") or {}
    # As upstream: an object whose deletion is over a minute past is gone for tokens already.
    deleted = meta.get("deletionTimestamp")
    if deleted and _before(deleted, now - LEEWAY_SECONDS):
        raise InvalidToken("token has been invalidated")
    if meta.get("uid") != uid:
        raise InvalidToken(f"{what} UID ({meta.get('uid')}) does not match claim ({uid})")


def _before(timestamp: str, when: float) -> bool:
    try:
        at = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return True
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.timestamp() < when


def _user(c: tc.BoundClaims) -> User:
    extra: dict[str, list[str]] = {}
    if c.pod is not None:
        extra[tc.POD_NAME_KEY] = [c.pod[0]]
        extra[tc.POD_UID_KEY] = [c.pod[1]]
    if c.node is not None:
        extra[tc.NODE_NAME_KEY] = [c.node[0]]
        if c.node[1]:
            extra[tc.NODE_UID_KEY] = [c.node[1]]
    if c.jti:
        extra[tc.CREDENTIAL_ID_KEY] = [tc.credential_id(c.jti)]
    user: User = {"username": tc.username(c.namespace, c.name), "uid": c.uid,
                  "groups": [*tc.group_names(c.namespace), "system:authenticated"]}
    if extra:
        user["extra"] = extra
    return user


def _intersect(have: Sequence[str], want: Sequence[str]) -> tuple[str, ...]:
    wanted = set(want)
    return tuple(a for a in have if a in wanted)


def _go_list(items: Sequence[str]) -> str:
    """Go's ``%q`` of a []string: ``["a" "b"]``."""
    return "[" + " ".join(f'"{i}"' for i in items) + "]"

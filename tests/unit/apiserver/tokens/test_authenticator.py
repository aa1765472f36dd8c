"""Service-account tokens: signing and verifying, claims, expiry, audiences and bound objects."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from navarch.api.resources import REGISTRY
from navarch.apiserver.tokens import claims as tc
from navarch.apiserver.tokens.authenticator import DEFAULT_ISSUER, ServiceAccountTokens
from navarch.apiserver.tokens.jwt import InvalidToken, Signer, Verifier
from navarch.apiserver.watchcache import Entry

NOW = 1_800_000_000


class FakeCache:
    """The watch cache's shape: resource caches whose ``items`` map storage keys to entries."""

    def __init__(self) -> None:
        self.caches: dict[str, Any] = {}

    def cache_for(self, prefix: str) -> Any:
        return self.caches.setdefault(prefix, SimpleNamespace(items={}))

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        r = REGISTRY.get("", "v1", plural)
        meta = obj["metadata"]
        key = r.storage_key(meta.get("namespace") if r.namespaced else None, meta["name"])
        self.cache_for(REGISTRY.storage_resource(r).storage_prefix()).items[key] = Entry(key, obj, b"", 1)
        return obj

    def remove(self, plural: str, namespace: str | None, name: str) -> None:
        r = REGISTRY.get("", "v1", plural)
        self.cache_for(REGISTRY.storage_resource(r).storage_prefix()).items.pop(r.storage_key(namespace, name))


def obj(name: str, uid: str, namespace: str | None = "dev", **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "uid": uid, **extra}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


@pytest.fixture
def world() -> SimpleNamespace:
    cache = FakeCache()
    key = ec.generate_private_key(ec.SECP256R1())
    clock = SimpleNamespace(now=float(NOW))
    tokens = ServiceAccountTokens(verifier=Verifier([key.public_key()], [DEFAULT_ISSUER]), cache=cache,  # type: ignore[arg-type]
                                  signer=Signer(key), clock=lambda: clock.now)
    sa = cache.put("serviceaccounts", obj("bot", "sa-1"))
    pod = cache.put("pods", obj("web", "pod-1"))
    return SimpleNamespace(cache=cache, tokens=tokens, sa=sa, pod=pod, clock=clock, key=key)


def issue(w: SimpleNamespace, *, audiences: tuple[str, ...] = (DEFAULT_ISSUER,), seconds: int = 3600,
          **bound: Any) -> str:
    return w.tokens.signer.sign(tc.make_claims(w.sa, issuer=DEFAULT_ISSUER, audiences=audiences, now=NOW,
                                               expiration_seconds=seconds, **bound))


def test_claims_are_upstreams_bound_token_claims(world: SimpleNamespace) -> None:
    node = obj("n1", "node-1", namespace=None)
    c = tc.make_claims(world.sa, issuer=DEFAULT_ISSUER, audiences=["a"], now=NOW, expiration_seconds=600,
                       warn_after_seconds=3607, pod=world.pod, node=node, jti="j1")
    assert c == {"aud": ["a"], "exp": NOW + 600, "iat": NOW, "nbf": NOW, "iss": DEFAULT_ISSUER, "jti": "j1",
                 "sub": "system:serviceaccount:dev:bot",
                 "kubernetes.io": {"namespace": "dev", "serviceaccount": {"name": "bot", "uid": "sa-1"},
                                   "pod": {"name": "web", "uid": "pod-1"}, "node": {"name": "n1", "uid": "node-1"},
                                   "warnafter": NOW + 3607}}
    with pytest.raises(ValueError):
        tc.make_claims(world.sa, issuer=DEFAULT_ISSUER, audiences=["a"], now=NOW, expiration_seconds=600,
                       pod=world.pod, secret=obj("s", "s-1"))


def test_signed_token_verifies_and_names_the_service_account(world: SimpleNamespace) -> None:
    user = world.tokens.authenticate_token(issue(world, pod=world.pod))
    assert user["username"] == "system:serviceaccount:dev:bot"
    assert user["uid"] == "sa-1"
    assert user["groups"] == ["system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"]
    assert user["extra"][tc.POD_NAME_KEY] == ["web"] and user["extra"][tc.POD_UID_KEY] == ["pod-1"]
    assert user["extra"][tc.CREDENTIAL_ID_KEY][0].startswith("JTI=")


def test_other_keys_and_issuers_and_garbage_are_refused(world: SimpleNamespace) -> None:
    stranger = Signer(ec.generate_private_key(ec.SECP256R1()))
    forged = stranger.sign(tc.make_claims(world.sa, issuer=DEFAULT_ISSUER, audiences=[DEFAULT_ISSUER], now=NOW,
                                          expiration_seconds=3600))
    assert world.tokens.authenticate_token(forged) is None
    with pytest.raises(InvalidToken, match="invalid signature"):
        world.tokens.review(forged)
    other_issuer = world.tokens.signer.sign(tc.make_claims(world.sa, issuer="https://elsewhere", audiences=["x"],
                                                           now=NOW, expiration_seconds=3600))
    assert world.tokens.review(other_issuer) is None  # not ours: left to other authenticators
    assert world.tokens.authenticate_token("abcdef.0123456789abcdef") is None
    assert world.tokens.authenticate_token("not.a.jwt") is None


@pytest.mark.parametrize("offset, ok", [(3600 + 59, True), (3600 + 61, False), (-59, True), (-61, False)],
                         ids=["before-expiry-leeway", "expired", "nbf-leeway", "not-yet-valid"])
def test_time_window_with_one_minute_of_leeway(world: SimpleNamespace, offset: int, ok: bool) -> None:
    token = issue(world)
    world.clock.now = NOW + offset
    assert (world.tokens.authenticate_token(token) is not None) is ok


def test_expiry_applies_to_a_cached_token(world: SimpleNamespace) -> None:
    token = issue(world, seconds=600)
    assert world.tokens.authenticate_token(token) is not None
    world.clock.now = NOW + 3600
    assert world.tokens.authenticate_token(token) is None
    with pytest.raises(InvalidToken, match="expired"):
        world.tokens.review(token)


def test_audiences_must_meet_the_apis_or_the_reviews(world: SimpleNamespace) -> None:
    foreign = issue(world, audiences=("vault",))
    assert world.tokens.authenticate_token(foreign) is None
    result = world.tokens.review(foreign, ["vault", "other"])
    assert result is not None and result.audiences == ("vault",)
    with pytest.raises(InvalidToken, match=r'token audiences \["vault"\] is invalid'):
        world.tokens.review(foreign)


def test_deleting_or_replacing_the_bound_pod_invalidates_the_token(world: SimpleNamespace) -> None:
    token = issue(world, pod=world.pod)
    assert world.tokens.authenticate_token(token) is not None
    world.cache.remove("pods", "dev", "web")
    assert world.tokens.authenticate_token(token) is None
    world.cache.put("pods", obj("web", "pod-2"))  # same name, new pod
    assert world.tokens.authenticate_token(token) is None
    with pytest.raises(InvalidToken, match=r"pod UID \(pod-2\) does not match claim \(pod-1\)"):
        world.tokens.review(token)


def test_pod_being_deleted_keeps_its_token_for_a_minute_past_the_deletion(world: SimpleNamespace) -> None:
    token = issue(world, pod=world.pod)
    world.cache.put("pods", obj("web", "pod-1", deletionTimestamp="2027-01-15T08:00:00Z"))  # NOW = 08:00:00Z
    world.clock.now = NOW + 30
    assert world.tokens.authenticate_token(token) is not None
    world.clock.now = NOW + 61
    assert world.tokens.authenticate_token(token) is None


def test_recreated_service_account_invalidates_its_tokens(world: SimpleNamespace) -> None:
    token = issue(world)
    world.cache.put("serviceaccounts", obj("bot", "sa-2"))
    assert world.tokens.authenticate_token(token) is None
    world.cache.remove("serviceaccounts", "dev", "bot")
    with pytest.raises(InvalidToken, match='serviceaccounts "bot" not found'):
        world.tokens.review(token)


@pytest.mark.parametrize("plural, kw", [("secrets", "secret"), ("nodes", "node")], ids=["secret", "node"])
def test_secret_and_node_bound_tokens(world: SimpleNamespace, plural: str, kw: str) -> None:
    bound = world.cache.put(plural, obj("b", "b-1", namespace="dev" if plural == "secrets" else None))
    token = issue(world, **{kw: bound})
    assert world.tokens.authenticate_token(token) is not None
    world.cache.remove(plural, "dev" if plural == "secrets" else None, "b")
    assert world.tokens.authenticate_token(token) is None


def test_a_repeated_token_is_verified_once(world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    token = issue(world)
    assert world.tokens.authenticate_token(token) is not None
    monkeypatch.setattr(world.tokens.verifier, "verify", lambda t: pytest.fail("verified again"))
    first = world.tokens.authenticate_token(token)
    assert first is world.tokens.authenticate_token(token)


def test_rsa_keys_sign_rs256() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = Signer(key).sign({"iss": "i", "sub": "s"})
    assert Verifier([key.public_key()], ["i"]).verify(token)["sub"] == "s"
    assert Signer(key).algorithm == "RS256"

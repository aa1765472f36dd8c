"""The kubelet's token manager: cache, refresh at 80% of the life or after 24 h, keep on failure."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from navarch.kubelet.token import CachedToken, TokenError, TokenManager

NOW = 1_800_000_000.0


class Client:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def create_subresource(self, res: str, name: str, sub: str, body: dict, namespace: str | None = None) -> dict:
        if self.fail:
            raise RuntimeError("API down")
        self.calls += 1
        seconds = body["spec"]["expirationSeconds"]
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock.now + seconds))
        return {**body, "status": {"token": f"t{self.calls}", "expirationTimestamp": expires}}


clock = SimpleNamespace(now=NOW)
POD: dict[str, Any] = {"metadata": {"name": "p", "namespace": "dev", "uid": "u1"}, "spec": {"serviceAccountName": "bot"}}


@pytest.fixture
def manager() -> tuple[TokenManager, Client]:
    clock.now = NOW
    client = Client()
    return TokenManager(client, clock=lambda: clock.now, jitter=lambda: 0.0), client


@pytest.mark.parametrize("age, refresh", [(0.79 * 3600, False), (0.81 * 3600, True)], ids=["young", "aged"])
async def test_refresh_after_80_percent(manager: tuple[TokenManager, Client], age: float, refresh: bool) -> None:
    m, _ = manager
    assert await m.pod_token(POD) == "t1"
    clock.now = NOW + age
    assert await m.pod_token(POD) == ("t2" if refresh else "t1")


def test_refresh_after_24_hours_whatever_the_life(manager: tuple[TokenManager, Client]) -> None:
    m, _ = manager
    long = CachedToken("x", expiration=NOW + 10 * 86400, expiration_seconds=10 * 86400, pod_uid="u1")
    clock.now = NOW + 86400 - 1
    assert not m.requires_refresh(long)
    clock.now = NOW + 86400 + 1
    assert m.requires_refresh(long)


async def test_failed_refresh_keeps_a_valid_token_and_fails_an_expired_one(manager: tuple[TokenManager, Client]) -> None:
    m, client = manager
    with pytest.raises(TokenError):
        client.fail = True
        await m.pod_token(POD)
    client.fail = False
    assert await m.pod_token(POD, expiration_seconds=600) == "t1"
    client.fail = True
    clock.now = NOW + 550
    assert await m.pod_token(POD, expiration_seconds=600) == "t1"
    clock.now = NOW + 601
    with pytest.raises(TokenError, match="expired and refresh failed"):
        await m.pod_token(POD, expiration_seconds=600)


async def test_tokens_are_per_audience_and_forgotten_with_the_pod(manager: tuple[TokenManager, Client]) -> None:
    m, _ = manager
    assert await m.pod_token(POD) == "t1"
    assert await m.pod_token(POD, audiences=["vault"]) == "t2"
    assert await m.pod_token(POD) == "t1"
    m.forget_pod("u1")
    assert await m.pod_token(POD) == "t3"

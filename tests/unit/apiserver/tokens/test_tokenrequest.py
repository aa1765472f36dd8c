"""TokenRequest: defaults, validation, bound objects and the kubelet's extended tokens."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from navarch.api import errors
from navarch.apiserver.tokens.authenticator import DEFAULT_ISSUER, ServiceAccountTokens
from navarch.apiserver.tokens.jwt import Signer, Verifier
from navarch.apiserver.tokens.tokenrequest import create_token
from tests.unit.apiserver.tokens.test_authenticator import FakeCache


class FakeAPI:
    def __init__(self, objects: dict[tuple[str, str | None, str], dict[str, Any]]) -> None:
        self.objects = objects
        key = ec.generate_private_key(ec.SECP256R1())
        tokens = ServiceAccountTokens(verifier=Verifier([key.public_key()], [DEFAULT_ISSUER]), cache=FakeCache(),  # type: ignore[arg-type]
                                      signer=Signer(key))
        self.authenticator = SimpleNamespace(service_accounts=tokens)

    async def _get_current(self, r: Any, ns: str | None, name: str) -> Any:
        found = self.objects.get((r.plural, ns if r.namespaced else None, name))
        if found is None:
            raise errors.not_found(r.plural, r.group, name)
        return SimpleNamespace(obj=found)

    async def _lookup(self, plural: str, ns: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((plural, ns, name))


def info(name: str = "bot") -> Any:
    return SimpleNamespace(namespace="dev", name=name, warnings=[])


def world() -> FakeAPI:
    return FakeAPI({
        ("serviceaccounts", "dev", "bot"): {"metadata": {"name": "bot", "namespace": "dev", "uid": "sa-1"}},
        ("pods", "dev", "web"): {"metadata": {"name": "web", "namespace": "dev", "uid": "pod-1"},
                                 "spec": {"serviceAccountName": "bot", "nodeName": "n1"}},
        ("nodes", None, "n1"): {"metadata": {"name": "n1", "uid": "node-1"}},
    })


def claims(out: dict[str, Any]) -> dict[str, Any]:
    return pyjwt.decode(out["status"]["token"], options={"verify_signature": False})


async def test_defaults_audiences_and_an_hour() -> None:
    out = await create_token(world(), info(), {"spec": {}})
    assert out["metadata"]["name"] == "bot" and out["metadata"]["namespace"] == "dev"
    assert out["spec"] == {"audiences": [DEFAULT_ISSUER], "expirationSeconds": 3600}
    c = claims(out)
    assert c["exp"] - c["iat"] == 3600 and c["sub"] == "system:serviceaccount:dev:bot"


@pytest.mark.parametrize("seconds, message", [(599, "may not specify a duration less than 10 minutes"),
                                              (2 ** 32 + 1, "may not specify a duration larger than 2^32 seconds")],
                         ids=["short", "long"])
async def test_expiration_bounds(seconds: int, message: str) -> None:
    with pytest.raises(errors.StatusError) as e:
        await create_token(world(), info(), {"spec": {"expirationSeconds": seconds}})
    assert e.value.code == 422
    assert e.value.message == (f'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: '
                               f"Invalid value: {seconds}: {message}")


async def test_pod_bound_kubelet_token_is_extended_with_warnafter() -> None:
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "pod-1"}
    out = await create_token(world(), info(), {"spec": {"expirationSeconds": 3607, "boundObjectRef": ref}})
    c = claims(out)
    assert c["kubernetes.io"]["pod"] == {"name": "web", "uid": "pod-1"}
    assert c["kubernetes.io"]["node"] == {"name": "n1", "uid": "node-1"}
    assert c["exp"] - c["iat"] == 365 * 24 * 3600 and c["kubernetes.io"]["warnafter"] == c["iat"] + 3607
    # The status keeps the asked expiry, so the kubelet refreshes on time.
    assert out["spec"]["expirationSeconds"] == 3607


async def test_bound_object_must_exist_match_and_run_as_the_account() -> None:
    api = world()
    with pytest.raises(errors.StatusError, match='pods "gone" not found'):
        await create_token(api, info(), {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "gone"}}})
    with pytest.raises(errors.StatusError) as e:
        await create_token(api, info(), {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web",
                                                                     "uid": "old"}}})
    assert e.value.code == 409
    api.objects[("serviceaccounts", "dev", "other")] = {"metadata": {"name": "other", "namespace": "dev", "uid": "x"}}
    with pytest.raises(errors.StatusError, match="different serviceaccount name"):
        await create_token(api, info("other"), {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod",
                                                                            "name": "web"}}})
    with pytest.raises(errors.StatusError, match="cannot bind token to object of type apps/v1, Kind=Deployment"):
        await create_token(api, info(), {"spec": {"boundObjectRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                                     "name": "d"}}})


async def test_missing_account_is_not_found_and_max_expiration_shortens() -> None:
    api = world()
    with pytest.raises(errors.StatusError, match='serviceaccounts "nobody" not found'):
        await create_token(api, info("nobody"), {"spec": {}})
    api.authenticator.service_accounts.max_expiration_seconds = 1200
    i = info()
    out = await create_token(api, i, {"spec": {"expirationSeconds": 7200}})
    assert out["spec"]["expirationSeconds"] == 1200
    assert i.warnings == ["requested expiration of 7200 seconds shortened to 1200 seconds"]

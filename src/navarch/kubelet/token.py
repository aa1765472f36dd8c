"""The kubelet's service-account token manager (upstream pkg/kubelet/token): tokens for projected
``serviceAccountToken`` volume sources, requested through TokenRequest bound to their pod, and
cached until they need refreshing.

A token is refreshed once 80% of its requested life has passed (with up to 10 s of jitter) or once
it is 24 h old, whichever comes first; the projected volume is re-projected on the pod workers'
periodic resync, so the file on disk follows. If a refresh fails while the old token is still valid,
the old one is kept (and the error logged), as upstream.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_TTL_SECONDS = 24 * 3600.0
MAX_JITTER_SECONDS = 10.0


@dataclass(frozen=True)
class CachedToken:
    token: str
    expiration: float  # Unix seconds, from status.expirationTimestamp
    expiration_seconds: int  # as requested (spec.expirationSeconds of the answer)
    pod_uid: str


class TokenManager:
    def __init__(self, client: Any, *, clock: Callable[[], float] | None = None,
                 jitter: Callable[[], float] | None = None) -> None:
        import time

        self.client = client
        self.clock = clock or time.time
        self.jitter = jitter or (lambda: random.uniform(0.0, MAX_JITTER_SECONDS))
        self._cache: dict[tuple[Any, ...], CachedToken] = {}

    async def pod_token(self, pod: Mapping[str, Any], *, audiences: Sequence[str] = (),
                        expiration_seconds: int = 3600) -> str:
        """A token for the pod's service account, bound to the pod."""
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        namespace = meta.get("namespace") or "default"
        account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        uid = meta.get("uid") or ""
        key = (namespace, account, tuple(audiences), expiration_seconds, uid)
        cached = self._cache.get(key)
        if cached is not None and not self.requires_refresh(cached):
            return cached.token
        body: dict[str, Any] = {
            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds,
                     "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name") or "",
                                        "uid": uid}},
        }
        if audiences:
            body["spec"]["audiences"] = list(audiences)
        try:
            answer = await self.client.create_subresource("serviceaccounts", account, "token", body, namespace)
            fresh = _cached(answer, expiration_seconds, uid)
        except Exception as e:
            if cached is None:
                raise TokenError(f"failed to fetch token: {e}") from e
            if self.clock() >= cached.expiration:
                raise TokenError(f"token {namespace}/{account} expired and refresh failed: {e}") from e
            log.error("couldn't update token of %s/%s (pod %s): %s", namespace, account, uid, e)
            return cached.token
        self._cache[key] = fresh
        return fresh.token

    def requires_refresh(self, t: CachedToken) -> bool:
        now = self.clock()
        issued = t.expiration - t.expiration_seconds
        jitter = self.jitter()
        if now > issued + MAX_TTL_SECONDS - jitter:
            return True
        return now > t.expiration - t.expiration_seconds * 20 // 100 - jitter

    def forget_pod(self, pod_uid: str) -> None:
        """The pod is gone: its tokens are of no further use."""
        self._cache = {k: v for k, v in self._cache.items() if v.pod_uid != pod_uid}


class TokenError(Exception):
    pass


def _cached(answer: Mapping[str, Any], requested: int, uid: str) -> CachedToken:
    status = answer.get("status") or {}
    token = status.get("token")
    if not token:
        raise ValueError("the TokenRequest answer has no token")
    spec_seconds = (answer.get("spec") or {}).get("expirationSeconds") or requested
    when = status.get("expirationTimestamp") or ""
    try:
        at = dt.datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"the TokenRequest answer has no valid expirationTimestamp ({when!r})") from None
    return CachedToken(token=token, expiration=at, expiration_seconds=int(spec_seconds), pod_uid=uid)

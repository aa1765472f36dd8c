"""``POST .../serviceaccounts/<name>/token``: the TokenRequest API (upstream's TokenREST).

The token is for the named service account, for ``spec.audiences`` (default: the API's), valid for
``spec.expirationSeconds`` (default 3600, at least 600, at most ``--service-account-max-token-expiration``
when set), optionally bound to a Pod, Secret or Node that must exist (and match ``uid`` when given).
A pod-bound token asking exactly 3607 s for the API's audiences is the kubelet's mounted token: as
upstream (``--service-account-extend-token-expiration``), it is valid a year, with ``warnafter`` at the
hour, while the status still says one hour so the kubelet refreshes it on time.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from navarch.api import errors
from navarch.api.resources import REGISTRY
from navarch.apiserver.tokens import claims as tc

if TYPE_CHECKING:
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI
    from navarch.apiserver.tokens.authenticator import ServiceAccountTokens

GROUP = "authentication.k8s.io"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 2 ** 32
WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS = 60 * 60 + 7
EXPIRATION_EXTENSION_SECONDS = 24 * 365 * 60 * 60


def _rfc3339(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def validate(req: dict[str, Any]) -> list[errors.Cause]:
    """upstream ValidateTokenRequest."""
    exp = (req.get("spec") or {}).get("expirationSeconds")
    causes = []
    if not isinstance(exp, int) or isinstance(exp, bool):
        return [errors.field_invalid("spec.expirationSeconds", exp, "must be an integer")]
    if exp < MIN_EXPIRATION_SECONDS:
        causes.append(errors.field_invalid("spec.expirationSeconds", exp,
                                           "may not specify a duration less than 10 minutes"))
    if exp > MAX_EXPIRATION_SECONDS:
        causes.append(errors.field_invalid("spec.expirationSeconds", exp,
                                           "may not specify a duration larger than 2^32 seconds"))
    return causes


async def create_token(api: ResourceAPI, info: RequestInfo, req: dict[str, Any]) -> dict[str, Any]:
    tokens: ServiceAccountTokens | None = getattr(api.authenticator, "service_accounts", None)
    if tokens is None or tokens.signer is None:
        raise errors.StatusError(
            501, "NotImplemented", "serviceaccounts/token is not enabled: the API server has no "
                                   "--service-account-signing-key-file")
    namespace = info.namespace or ""
    name = info.name or ""
    meta = req.get("metadata") if isinstance(req.get("metadata"), dict) else {}
    if meta.get("name") and meta["name"] != name:
        raise errors.invalid("TokenRequest", GROUP, name, [errors.field_invalid(
            "metadata.name", meta["name"], "must match the service account name if specified")])
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise errors.invalid("TokenRequest", GROUP, name, [errors.field_invalid(
            "metadata.namespace", meta["namespace"], "must match the service account namespace if specified")])
    sa = (await api._get_current(_resource("serviceaccounts"), namespace, name)).obj

    spec = dict(req.get("spec") or {})
    if not spec.get("audiences"):
        spec["audiences"] = list(tokens.api_audiences)
    spec.setdefault("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
    now = int(time.time())
    out: dict[str, Any] = {
        "kind": "TokenRequest", "apiVersion": f"{GROUP}/v1",
        "metadata": {"name": sa["metadata"]["name"], "namespace": sa["metadata"]["namespace"],
                     "creationTimestamp": _rfc3339(now)},
        "spec": spec,
    }
    causes = validate(out)
    if causes:
        raise errors.invalid("TokenRequest", GROUP, "", causes)

    pod = secret = node = None
    ref = spec.get("boundObjectRef")
    if ref:
        kind = ref.get("kind") or ""
        api_version = ref.get("apiVersion") or ""
        ref_name = ref.get("name") or ""
        group = api_version.rpartition("/")[0] if "/" in api_version else ""
        if group == "" and kind == "Pod":
            pod = (await api._get_current(_resource("pods"), namespace, ref_name)).obj
            if (pod.get("spec") or {}).get("serviceAccountName") != name:
                raise errors.bad_request(f'cannot bind token for serviceaccount "{name}" to pod running with '
                                         "different serviceaccount name.")
            uid = pod["metadata"].get("uid")
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                node = await api._lookup("nodes", None, node_name) or {"metadata": {"name": node_name}}
        elif group == "" and kind == "Node":
            node = (await api._get_current(_resource("nodes"), None, ref_name)).obj
            uid = node["metadata"].get("uid")
        elif group == "" and kind == "Secret":
            secret = (await api._get_current(_resource("secrets"), namespace, ref_name)).obj
            uid = secret["metadata"].get("uid")
        else:
            raise errors.bad_request(f"cannot bind token to object of type {_gvk_string(api_version, kind)}")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.conflict(kind, group, ref_name, f"the UID in the bound object reference ({ref['uid']}) "
                                  "does not match the UID in record. The object might have been deleted and "
                                  "then recreated")

    if tokens.max_expiration_seconds > 0 and spec["expirationSeconds"] > tokens.max_expiration_seconds:
        info.warnings.append(f"requested expiration of {spec['expirationSeconds']} seconds shortened to "
                             f"{tokens.max_expiration_seconds} seconds")
        spec["expirationSeconds"] = tokens.max_expiration_seconds
    exp = spec["expirationSeconds"]
    warn_after = 0
    if (tokens.extend_expiration and pod is not None and exp == WARN_ONLY_BOUND_TOKEN_EXPIRATION_SECONDS
            and set(spec["audiences"]) <= set(tokens.api_audiences)):
        warn_after, exp = exp, EXPIRATION_EXTENSION_SECONDS
    claims = tc.make_claims(sa, issuer=tokens.issuer, audiences=spec["audiences"], now=now, expiration_seconds=exp,
                            warn_after_seconds=warn_after, pod=pod, secret=secret, node=node)
    out["status"] = {"token": tokens.signer.sign(claims),
                     "expirationTimestamp": _rfc3339(now + spec["expirationSeconds"])}
    return out


def _resource(plural: str) -> Any:
    r = REGISTRY.get("", "v1", plural)
    assert r is not None
    return r


def _gvk_string(api_version: str, kind: str) -> str:
    """Go's schema.GroupVersionKind.String(): ``group/version, Kind=kind``."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"

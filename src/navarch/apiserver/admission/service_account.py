"""ServiceAccount: every pod runs as a service account that exists, and gets its API credentials.

As upstream's plugin (plugin/pkg/admission/serviceaccount): on pod CREATE, ``serviceAccountName``
defaults to ``default``; the account must exist (403 otherwise; ``default`` is looked up again for
about a second, since the service account controller creates it right after the namespace); unless
the pod or else the account sets ``automountServiceAccountToken: false``, a projected volume
``kube-api-access-<5 random>`` (a bound token, the cluster CA from ``kube-root-ca.crt``, the
namespace) is mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount in every init and
regular container that has nothing mounted there yet; the account's imagePullSecrets are copied to
a pod that names none. Mirror pods may reference neither service accounts nor secrets nor tokens.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from navarch.api import errors
from navarch.apiserver.admission import Attributes

NAME = "ServiceAccount"
# (group, plural) of the only resources this plugin acts on; the chain skips it for the rest.
RESOURCES = frozenset({("", "pods")})
DEFAULT_SERVICE_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
# The token the kubelet mounts asks for 1h7s: the API server recognises it and extends it (tokenrequest).
TOKEN_EXPIRATION_SECONDS = 3607
# Upstream retries the default account this many times, 100-200 ms apart.
DEFAULT_ACCOUNT_ATTEMPTS = 10
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def _applies(a: Attributes) -> bool:
    r = a.resource
    return (a.operation == "CREATE" and r.plural == "pods" and not r.group and not a.subresource
            and isinstance(a.obj, dict))


def _is_mirror(pod: dict[str, Any]) -> bool:
    return MIRROR_POD_ANNOTATION in ((pod.get("metadata") or {}).get("annotations") or {})


def _forbidden(a: Attributes, reason: str) -> errors.StatusError:
    return errors.forbidden(f'pods "{a.name}" is forbidden: {reason}', "pods", "", a.name)


async def _service_account(a: Attributes, name: str) -> dict[str, Any]:
    attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(random.uniform(0.1, 0.2))
        sa = await a.lookup("serviceaccounts", a.namespace, name)
        if sa is not None:
            return sa
    raise _forbidden(a, f'error looking up service account {a.namespace}/{name}: serviceaccount "{name}" not found')


async def admit(a: Attributes) -> None:
    if not _applies(a):
        return
    pod = a.obj
    assert pod is not None
    if _is_mirror(pod):
        return
    spec = pod.setdefault("spec", {})
    if not spec.get("serviceAccountName"):
        spec["serviceAccountName"] = DEFAULT_SERVICE_ACCOUNT
    # The deprecated alias follows, as defaulting would have set it.
    spec["serviceAccount"] = spec["serviceAccountName"]
    sa = await _service_account(a, spec["serviceAccountName"])
    if _should_automount(sa, spec):
        mount_token(spec)
    if not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
        spec["imagePullSecrets"] = [{"name": s.get("name", "")} for s in sa["imagePullSecrets"]]


async def validate(a: Attributes) -> None:
    if not _applies(a):
        return
    pod = a.obj
    assert pod is not None
    spec = pod.get("spec") or {}
    if _is_mirror(pod):
        if spec.get("serviceAccountName"):
            raise _forbidden(a, "a mirror pod may not reference service accounts")
        if _references_secrets(spec):
            raise _forbidden(a, "a mirror pod may not reference secrets")
        for v in spec.get("volumes") or []:
            if any(s.get("serviceAccountToken") is not None for s in (v.get("projected") or {}).get("sources") or []):
                raise _forbidden(a, "a mirror pod may not use ServiceAccountToken volume projections")
        return
    if not spec.get("serviceAccountName"):
        raise _forbidden(a, f"no service account specified for pod {a.namespace}/{a.name}")
    await _service_account(a, spec["serviceAccountName"])


def _should_automount(sa: dict[str, Any], spec: dict[str, Any]) -> bool:
    """The pod's preference wins, then the account's; mounting is the default."""
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


def token_volume_source() -> dict[str, Any]:
    """The projected source, with the defaults already applied (admission runs after defaulting)."""
    return {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
    }


def mount_token(spec: dict[str, Any]) -> None:
    """Add the token volume (or reuse one named ``kube-api-access-*``) and mount it in each container
    that has nothing at the mount path."""
    volumes = spec.get("volumes") or []
    name = next((v.get("name") for v in volumes if str(v.get("name") or "").startswith(VOLUME_PREFIX)), None)
    has_volume = name is not None
    if name is None:
        name = VOLUME_PREFIX + "".join(random.choice(_SUFFIX_CHARS) for _ in range(5))
    needed = False
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            mounts = c.get("volumeMounts") or []
            if any(m.get("mountPath") == MOUNT_PATH for m in mounts):
                continue
            c["volumeMounts"] = [*mounts, {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}]
            needed = True
    if needed and not has_volume:
        spec["volumes"] = [*volumes, {"name": name, "projected": token_volume_source()}]


def _references_secrets(spec: dict[str, Any]) -> bool:
    """upstream VisitPodSecretNames over all containers, in short."""
    if spec.get("imagePullSecrets"):
        return True
    for v in spec.get("volumes") or []:
        if v.get("secret") is not None:
            return True
        for s in (v.get("projected") or {}).get("sources") or []:
            if s.get("secret") is not None:
                return True
        for key in ("azureFile", "cephfs", "cinder", "flexVolume", "rbd", "scaleIO", "iscsi", "storageos", "csi"):
            src = v.get(key)
            if isinstance(src, dict) and (src.get("secretRef") or src.get("secretName")
                                          or src.get("nodePublishSecretRef")):
                return True
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            for ef in c.get("envFrom") or []:
                if ef.get("secretRef") is not None:
                    return True
            for e in c.get("env") or []:
                if ((e.get("valueFrom") or {}).get("secretKeyRef")) is not None:
                    return True
    return False

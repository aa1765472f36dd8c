"""Objects every cluster has from its first start: the four system namespaces."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from navarch.api.resources import REGISTRY
from navarch.storage import KeyExists

if TYPE_CHECKING:
    from navarch.apiserver.handlers import ResourceAPI

log = logging.getLogger("navarch.apiserver")

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


async def ensure_defaults(api: "ResourceAPI") -> None:
    from navarch.apiserver.handlers import now_rfc3339
    import uuid

    ns = REGISTRY.get("", "v1", "namespaces")
    for name in SYSTEM_NAMESPACES:
        key = ns.storage_key(None, name)
        if await api.store.get(key) is not None:
            continue
        obj = {"kind": "Namespace", "apiVersion": "v1",
               "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now_rfc3339(),
                            "labels": {"kubernetes.io/metadata.name": name}},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        try:
            await api.store.create(key, orjson.dumps(obj))
            log.info("created namespace %s", name)
        except KeyExists:
            pass

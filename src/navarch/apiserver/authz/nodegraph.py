"""The node authorizer's graph: which secrets, configmaps, claims and service accounts each node's
pods use, as upstream's ``plugin/pkg/auth/authorizer/node/graph.go`` records them.

Upstream keeps a general graph (pod -> node, secret -> pod, pvc -> pod, pv -> pvc, ...); every
question a node asks here is "does a pod bound to me reference this object", so one reverse index
(object -> nodes, with a count of referencing pods) answers it in O(1). Persistent volumes are
answered through their claim (pv.spec.claimRef must be a claim the node may read and that claim
must be bound to the volume).

The graph follows the watch cache's pods: a watcher queues their changes, and the queue is drained
before each question, so an answer always reflects every pod change the cache applied before it.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from navarch.api.resources import REGISTRY

if TYPE_CHECKING:
    from navarch.apiserver.watchcache import (
        CacheEvent,
        ResourceCache,
        WatchCache,
        Watcher,
    )

Ref = tuple[str, str, str]  # (resource plural, namespace, name)

# Volume sources whose secret is named by ``secretRef.name`` (upstream's podutil.VisitPodSecretNames).
_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "rbd", "iscsi", "scaleIO", "storageos")


def pod_refs(pod: dict[str, Any]) -> set[Ref]:
    """The objects a pod uses: what its node needs to read to run it."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    ns = str(meta.get("namespace") or "")
    out: set[Ref] = set()

    def add(kind: str, name: Any) -> None:
        if name:
            out.add((kind, ns, str(name)))

    sa = spec.get("serviceAccountName") or spec.get("serviceAccount")
    add("serviceaccounts", sa)
    for s in spec.get("imagePullSecrets") or ():
        add("secrets", (s or {}).get("name"))
    for c in _containers(spec):
        for env in c.get("env") or ():
            source = (env or {}).get("valueFrom") or {}
            add("secrets", (source.get("secretKeyRef") or {}).get("name"))
            add("configmaps", (source.get("configMapKeyRef") or {}).get("name"))
        for env_from in c.get("envFrom") or ():
            add("secrets", ((env_from or {}).get("secretRef") or {}).get("name"))
            add("configmaps", ((env_from or {}).get("configMapRef") or {}).get("name"))
    for v in spec.get("volumes") or ():
        v = v or {}
        add("secrets", (v.get("secret") or {}).get("secretName"))
        add("configmaps", (v.get("configMap") or {}).get("name"))
        for source in (v.get("projected") or {}).get("sources") or ():
            add("secrets", ((source or {}).get("secret") or {}).get("name"))
            add("configmaps", ((source or {}).get("configMap") or {}).get("name"))
        add("persistentvolumeclaims", (v.get("persistentVolumeClaim") or {}).get("claimName"))
        if v.get("ephemeral") is not None and meta.get("name"):
            # A generic ephemeral volume's claim is named <pod>-<volume>.
            add("persistentvolumeclaims", f"{meta['name']}-{v.get('name')}")
        add("secrets", (v.get("azureFile") or {}).get("secretName"))
        add("secrets", ((v.get("csi") or {}).get("nodePublishSecretRef") or {}).get("name"))
        for kind in _SECRET_REF_VOLUMES:
            add("secrets", (((v.get(kind) or {}).get("secretRef")) or {}).get("name"))
    return out


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or ():
            if isinstance(c, dict):
                yield c


class NodeGraph:
    """Pods bound to nodes and, reversed, the nodes each referenced object is needed by."""

    def __init__(self) -> None:
        self._pods: dict[str, tuple[str, str, str, frozenset[Ref]]] = {}  # key -> (node, ns, name, refs)
        self._needed_by: dict[Ref, collections.Counter[str]] = {}

    def set_pod(self, key: str, pod: dict[str, Any] | None) -> None:
        """Record a pod's current state (None: deleted). Pods not yet bound to a node are not in the
        graph, as upstream."""
        old = self._pods.pop(key, None)
        if old is not None:
            node, ns, name, refs = old
            for ref in (*refs, ("pods", ns, name)):
                self._unlink(ref, node)
        if pod is None:
            return
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if not node:
            return
        meta = pod.get("metadata") or {}
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        refs = frozenset(pod_refs(pod))
        self._pods[key] = (node, ns, name, refs)
        for ref in (*refs, ("pods", ns, name)):
            self._needed_by.setdefault(ref, collections.Counter())[node] += 1

    def _unlink(self, ref: Ref, node: str) -> None:
        nodes = self._needed_by.get(ref)
        if nodes is None:
            return
        nodes[node] -= 1
        if nodes[node] <= 0:
            del nodes[node]
        if not nodes:
            del self._needed_by[ref]

    def clear(self) -> None:
        self._pods.clear()
        self._needed_by.clear()

    def related(self, node: str, kind: str, namespace: str, name: str) -> bool:
        nodes = self._needed_by.get((kind, namespace, name))
        return bool(nodes) and node in nodes  # type: ignore[operator]


class WatchCacheGraphFeed:
    """Keeps a ``NodeGraph`` in step with the watch cache's pods (and reads claims and volumes)."""

    def __init__(self, cache: WatchCache, graph: NodeGraph | None = None) -> None:
        self.graph = graph or NodeGraph()
        self._pods = _resource_cache(cache, "", "pods")
        self._claims = _resource_cache(cache, "", "persistentvolumeclaims")
        self._volumes = _resource_cache(cache, "", "persistentvolumes")
        self._watcher: Watcher | None = None

    def _resync(self) -> None:
        """Subscribe afresh and load every pod: the cache applies changes synchronously, so nothing
        falls between the load and the subscription."""
        from navarch.apiserver.watchcache import Watcher

        if self._watcher is not None:
            self._pods.unsubscribe(self._watcher)
        self._watcher = Watcher(self._pods.prefix, None, queue=asyncio.Queue(maxsize=100_000))
        self._pods.subscribe(self._watcher)
        self.graph.clear()
        for key, entry in self._pods.items.items():
            self.graph.set_pod(key, entry.obj)

    def refresh(self) -> None:
        """Apply every pod change queued since the last question."""
        w = self._watcher
        if w is None or w.overflowed:
            self._resync()
            return
        q = w.queue
        while not q.empty():
            ev: CacheEvent | None = q.get_nowait()
            if ev is None:  # the cache ended this watcher (reload, or it fell behind)
                self._resync()
                return
            self.graph.set_pod(ev.entry.key, None if ev.type == "DELETED" else ev.entry.obj)

    def related(self, node: str, kind: str, namespace: str, name: str) -> bool:
        self.refresh()
        if kind == "persistentvolumes":
            return self._volume_related(node, name)
        return self.graph.related(node, kind, namespace, name)

    def _volume_related(self, node: str, name: str) -> bool:
        pv = self._get(self._volumes, None, name)
        ref = ((pv or {}).get("spec") or {}).get("claimRef") or {}
        ns, claim_name = ref.get("namespace"), ref.get("name")
        if not ns or not claim_name or not self.graph.related(node, "persistentvolumeclaims", ns, claim_name):
            return False
        claim = self._get(self._claims, ns, claim_name)
        return ((claim or {}).get("spec") or {}).get("volumeName") == name

    @staticmethod
    def _get(cache: ResourceCache, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = f"{cache.prefix}{namespace}/{name}" if namespace else f"{cache.prefix}{name}"
        e = cache.items.get(key)
        return e.obj if e is not None else None

    def close(self) -> None:
        if self._watcher is not None:
            self._pods.unsubscribe(self._watcher)
            self._watcher = None


def _resource_cache(cache: WatchCache, group: str, plural: str) -> ResourceCache:
    r = REGISTRY.get(group, "v1", plural)
    assert r is not None, plural
    return cache.cache_for(REGISTRY.storage_resource(r).storage_prefix())


Related = Callable[[str, str, str, str], bool]

"""The garbage collector: deleted owners take their dependents with them (or leave them, if asked).

Upstream's design, kept: a dependency graph of every object that has, or is named in,
ownerReferences, keyed by uid and fed by one informer per deletable resource; two kinds of work,
"attempt to delete" (is this object's every owner gone? then delete it) and "attempt to orphan"
(strip this owner from its dependents, then drop its ``orphan`` finalizer). Decisions never trust the
cache alone: before deleting, the object and each owner are read live from the API, and an owner
counts as present only if its uid matches the reference (a re-created namesake is not the owner).

Propagation, as the API server records it on the owner:
- background: the owner is simply gone; its dependents are found dangling and deleted;
- foreground: the owner keeps ``foregroundDeletion`` until every dependent that blocks it
  (``blockOwnerDeletion: true``) is gone; the GC deletes the dependents, then the finalizer;
- orphan: the owner keeps ``orphan`` until the GC has removed its reference from every dependent.

Informer handlers only update the graph and enqueue uids; the graph is mutated only by synchronous
code on the event loop, so no locks are needed. Queue keys are ``delete:<uid>`` and ``orphan:<uid>``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from navarch.api.resources import REGISTRY, Registry, ResourceInfo
from navarch.client.errors import ApiError, is_conflict, is_not_found
from navarch.controllers.base import ControllerContext, QueueController
from navarch.machinery.cache import Obj, final_state
from navarch.machinery.events import WARNING

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
DELETE, ORPHANING = "delete", "orphan"
# Events are never owners and would be most of the graph (upstream's DefaultIgnoredResources).
IGNORED_RESOURCES = frozenset({("", "events"), ("events.k8s.io", "events")})
ABSENT_CACHE_SIZE = 500
# Retries after which a failing deletion or orphaning is also told to humans as an Event.
EVENT_AFTER_RETRIES = 3


@dataclass
class Node:
    """One object in the graph. ``virtual``: known only from someone's ownerReference, not yet seen."""

    uid: str
    api_version: str
    kind: str
    namespace: str
    name: str
    owners: list[dict[str, Any]] = field(default_factory=list)
    dependents: set[str] = field(default_factory=set)
    virtual: bool = False
    being_deleted: bool = False
    deleting_dependents: bool = False

    def reference(self) -> dict[str, Any]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        if self.namespace:
            ref["namespace"] = self.namespace
        return ref


@dataclass
class Work:
    """What a graph change asks the workers to look at."""

    delete: set[str] = field(default_factory=set)
    orphan: set[str] = field(default_factory=set)

    def merge(self, other: Work) -> Work:
        self.delete |= other.delete
        self.orphan |= other.orphan
        return self


def owner_uids(refs: Iterable[Mapping[str, Any]]) -> set[str]:
    return {str(r["uid"]) for r in refs if r.get("uid")}


class DependencyGraph:
    """Pure bookkeeping (no I/O): nodes by uid, owner → dependents edges, and which uids to revisit
    after each observed change (upstream's GraphBuilder.processGraphChanges)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}

    def __contains__(self, uid: object) -> bool:
        return uid in self.nodes

    def get(self, uid: str) -> Node | None:
        return self.nodes.get(uid)

    def observe(self, obj: Obj) -> Work:
        """An object was added or updated (or re-listed)."""
        meta = obj.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        work = Work()
        if not uid:
            return work
        refs = [dict(r) for r in meta.get("ownerReferences") or [] if r.get("uid")]
        finalizers = meta.get("finalizers") or []
        node = self.nodes.get(uid)
        if node is None:
            node = Node(uid, str(obj.get("apiVersion", "")), str(obj.get("kind", "")),
                        str(meta.get("namespace") or ""), str(meta.get("name", "")))
            self.nodes[uid] = node
            old_refs: list[dict[str, Any]] = []
        else:
            old_refs = node.owners
            if node.virtual:
                # Now seen for real: take its true identity (the reference may have guessed wrong).
                node.virtual = False
                node.api_version = str(obj.get("apiVersion", "")) or node.api_version
                node.kind = str(obj.get("kind", "")) or node.kind
                node.namespace = str(meta.get("namespace") or "")
                node.name = str(meta.get("name", ""))
        node.owners = refs
        old_uids, new_uids = owner_uids(old_refs), owner_uids(refs)
        for gone in old_uids - new_uids:
            owner = self.nodes.get(gone)
            if owner is not None:
                owner.dependents.discard(uid)
                if owner.deleting_dependents:
                    work.delete.add(gone)  # one blocker fewer: maybe the finalizer can go now
        for ref in refs:
            owner_uid = str(ref["uid"])
            owner = self.nodes.get(owner_uid)
            if owner is None:
                owner = Node(owner_uid, str(ref.get("apiVersion", "")), str(ref.get("kind", "")),
                             node.namespace, str(ref.get("name", "")), virtual=True)
                self.nodes[owner_uid] = owner
                work.delete.add(owner_uid)  # verify the owner exists
            owner.dependents.add(uid)
            if owner.deleting_dependents:
                # A dependent of an owner in foreground deletion: it has to go, and the owner rechecks.
                work.delete.update((uid, owner_uid))
        # A reference that stopped blocking also unblocks a foreground-deleting owner.
        old_blocking = {str(r["uid"]) for r in old_refs if r.get("blockOwnerDeletion")}
        for unblocked in old_blocking - {str(r["uid"]) for r in refs if r.get("blockOwnerDeletion")}:
            owner = self.nodes.get(unblocked)
            if owner is not None and owner.deleting_dependents:
                work.delete.add(unblocked)
        node.being_deleted = bool(meta.get("deletionTimestamp"))
        node.deleting_dependents = node.being_deleted and FOREGROUND in finalizers
        if node.deleting_dependents:
            work.delete.add(uid)
            work.delete.update(node.dependents)
        if node.being_deleted and ORPHAN in finalizers:
            work.orphan.add(uid)
        return work

    def remove(self, uid: str) -> Work:
        """The object is gone (a watch delete, or a live read proved it absent)."""
        work = Work()
        node = self.nodes.pop(uid, None)
        if node is None:
            return work
        for owner_uid in owner_uids(node.owners):
            owner = self.nodes.get(owner_uid)
            if owner is None:
                continue
            owner.dependents.discard(uid)
            if owner.deleting_dependents:
                work.delete.add(owner_uid)
            elif owner.virtual and not owner.dependents:
                del self.nodes[owner_uid]  # nobody refers to it any more: nothing to verify
        # Its dependents may now be without any owner.
        work.delete.update(d for d in node.dependents if d in self.nodes)
        if node.dependents:
            # Keep a virtual stand-in while dependents still name it, so their edges stay known.
            stub = Node(node.uid, node.api_version, node.kind, node.namespace, node.name,
                        dependents=set(node.dependents), virtual=True)
            self.nodes[uid] = stub
        return work

    def forget_virtual(self, uid: str) -> Work:
        """A virtual node verified absent: drop it and revisit whoever named it."""
        node = self.nodes.get(uid)
        if node is None:
            return Work()
        if not node.virtual:
            return self.remove(uid)
        del self.nodes[uid]
        return Work(delete={d for d in node.dependents if d in self.nodes})

    def blocking_dependents(self, uid: str) -> list[Node]:
        """Dependents whose reference to ``uid`` has ``blockOwnerDeletion: true``."""
        node = self.nodes.get(uid)
        if node is None:
            return []
        out = []
        for dep_uid in sorted(node.dependents):
            dep = self.nodes.get(dep_uid)
            if dep is None or dep.virtual:
                continue
            if any(r.get("uid") == uid and r.get("blockOwnerDeletion") for r in dep.owners):
                out.append(dep)
        return out

    def dependents(self, uid: str) -> list[Node]:
        node = self.nodes.get(uid)
        if node is None:
            return []
        return [self.nodes[d] for d in sorted(node.dependents) if d in self.nodes and not self.nodes[d].virtual]


def deletable_resources(registry: Registry = REGISTRY) -> list[ResourceInfo]:
    """Every stored resource the GC can list, watch and delete, one version per resource."""
    out: dict[tuple[str, str], ResourceInfo] = {}
    for r in registry.resources:
        if r.virtual or (r.group, r.plural) in IGNORED_RESOURCES:
            continue
        if not {"list", "watch", "delete"} <= set(r.verbs):
            continue
        if r.version != registry.preferred_version(r.group) and (r.group, r.plural) in out:
            continue
        out.setdefault((r.group, r.plural), registry.storage_resource(r))
    return list(out.values())


class OwnerRefInvalid(Exception):
    """A reference that can never resolve (cluster-scoped object naming a namespaced owner)."""


class GarbageCollector(QueueController):
    name: ClassVar[str] = "garbagecollector"
    workers: ClassVar[int] = 8

    def __init__(self, ctx: ControllerContext, resources: list[ResourceInfo] | None = None) -> None:
        super().__init__(ctx)
        self.graph = DependencyGraph()
        self.registry = ctx.client.registry
        # uids proved absent recently: saves a GET per dependent when a big owner goes.
        self._absent: OrderedDict[str, None] = OrderedDict()
        self.resources = resources if resources is not None else deletable_resources(self.registry)
        for r in self.resources:
            self.factory.informer(r).add_event_handler(self._on_add, self._on_update, self._on_delete)

    # ---- handlers: graph changes → work ------------------------------------------------------

    def _on_add(self, obj: Obj) -> None:
        self._schedule(self.graph.observe(obj))

    def _on_update(self, old: Obj, new: Obj) -> None:
        self._schedule(self.graph.observe(new))

    def _on_delete(self, obj: Any) -> None:
        uid = ((final_state(obj).get("metadata") or {}).get("uid")) or ""
        if uid:
            self._schedule(self.graph.remove(str(uid)))

    def _schedule(self, work: Work) -> None:
        for uid in work.delete:
            self.queue.add(f"{DELETE}:{uid}")
        for uid in work.orphan:
            self.queue.add(f"{ORPHANING}:{uid}")

    # ---- workers -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        action, _, uid = key.partition(":")
        node = self.graph.get(uid)
        if node is None:
            return
        try:
            if action == ORPHANING:
                await self.attempt_to_orphan(node)
            else:
                await self.attempt_to_delete(node)
        except OwnerRefInvalid:
            return  # retrying cannot help; the event was recorded
        except Exception as e:
            if self.queue.num_requeues(key) + 1 >= EVENT_AFTER_RETRIES:
                what = "orphan dependents of" if action == ORPHANING else "garbage collect"
                self.recorder.event(node.reference(), WARNING, "GarbageCollectionFailed",
                                    f"failed to {what} {node.kind} {node.name}: {e}")
            raise

    async def attempt_to_delete(self, node: Node) -> None:
        """Delete the object if all its owners are gone (upstream attemptToDeleteItem)."""
        if node.virtual:
            live = await self._get_live(node)
            if live is None:
                self._forget(node.uid)
            return
        if node.being_deleted and not node.deleting_dependents:
            return  # on its one-way trip; its dependents are handled when it is gone
        latest = await self._get_live(node)
        if latest is None:
            self._forget(node.uid)
            return
        if node.deleting_dependents:
            await self._process_deleting_dependents(node)
            return
        refs = list((latest.get("metadata") or {}).get("ownerReferences") or [])
        if not refs:
            return
        solid, dangling, waiting = await self._classify(node, refs)
        if solid:
            if dangling or waiting:
                # References to owners that are gone or foreground-deleting are dropped so that the
                # surviving owner keeps the object and the deleting owner is not blocked by it.
                drop = owner_uids(dangling) | owner_uids(waiting)
                await self._patch_owner_refs(node, latest, [r for r in refs if r.get("uid") not in drop])
            return
        if waiting and node.dependents:
            if any(d.deleting_dependents for d in self.graph.dependents(node.uid)):
                # A possible cycle of foreground deletions: stop blocking our owners first.
                await self._patch_owner_refs(node, latest, [{**r, "blockOwnerDeletion": False} for r in refs])
            await self._delete(node, "Foreground")
            return
        finalizers = (latest.get("metadata") or {}).get("finalizers") or []
        policy = "Orphan" if ORPHAN in finalizers else "Foreground" if FOREGROUND in finalizers else "Background"
        await self._delete(node, policy)

    async def _process_deleting_dependents(self, node: Node) -> None:
        blocking = self.graph.blocking_dependents(node.uid)
        if not blocking:
            await self._remove_finalizer(node, FOREGROUND)
            return
        for dep in blocking:
            if not dep.deleting_dependents:
                self.queue.add(f"{DELETE}:{dep.uid}")

    async def attempt_to_orphan(self, owner: Node) -> None:
        """Remove ``owner`` from every dependent's references, then its ``orphan`` finalizer."""
        errors: list[str] = []
        for dep in self.graph.dependents(owner.uid):
            try:
                latest = await self._get_live(dep)
                if latest is None:
                    continue
                refs = list((latest.get("metadata") or {}).get("ownerReferences") or [])
                kept = [r for r in refs if r.get("uid") != owner.uid]
                if len(kept) != len(refs):
                    await self._patch_owner_refs(dep, latest, kept)
            except ApiError as e:
                if not is_not_found(e):
                    errors.append(f"orphaning {dep.kind} {dep.namespace}/{dep.name} failed, {e}")
        if errors:
            raise RuntimeError(f"failed to orphan dependents of owner {owner.kind} {owner.name}, got errors: "
                               + "; ".join(errors))
        await self._remove_finalizer(owner, ORPHAN)

    # ---- reading and classifying owners ------------------------------------------------------

    async def _classify(self, node: Node, refs: list[dict[str, Any]]
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        solid, dangling, waiting = [], [], []
        for ref in refs:
            owner = await self._owner(node, ref)
            if owner is None:
                dangling.append(ref)
                continue
            ometa = owner.get("metadata") or {}
            if ometa.get("deletionTimestamp") and FOREGROUND in (ometa.get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    async def _owner(self, node: Node, ref: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live owner named by ``ref``, or None when absent (not found, or another uid)."""
        uid = str(ref.get("uid", ""))
        if uid in self._absent:
            return None
        res = self._resource(str(ref.get("apiVersion", "")), str(ref.get("kind", "")))
        if res.namespaced and not node.namespace:
            self.recorder.event(node.reference(), WARNING, "OwnerRefInvalidNamespace",
                                f"ownerRef {_describe(ref, '')} does not exist in namespace \"\"")
            raise OwnerRefInvalid(uid)
        ns = node.namespace if res.namespaced else None
        known = self.graph.get(uid)
        if known is not None and not known.virtual and res.namespaced and known.namespace != node.namespace:
            # The uid exists, but in another namespace: owners must share their dependents' namespace.
            self.recorder.event(node.reference(), WARNING, "OwnerRefInvalidNamespace",
                                f"ownerRef {_describe(ref, node.namespace)} does not exist in namespace "
                                f"\"{node.namespace}\"")
        try:
            owner = await self.client.get(res, str(ref.get("name", "")), ns)
        except ApiError as e:
            if is_not_found(e):
                self._mark_absent(uid)
                return None
            raise
        if (owner.get("metadata") or {}).get("uid") != uid:
            self._mark_absent(uid)
            return None
        return owner

    async def _get_live(self, node: Node) -> dict[str, Any] | None:
        """The object itself, read from the API; None when gone or replaced by a namesake."""
        res = self._resource(node.api_version, node.kind)
        if res.namespaced and not node.namespace:
            return None  # a guessed identity that can never exist
        try:
            obj = await self.client.get(res, node.name, node.namespace if res.namespaced else None)
        except ApiError as e:
            if is_not_found(e):
                return None
            raise
        if (obj.get("metadata") or {}).get("uid") != node.uid:
            return None
        return obj

    def _resource(self, api_version: str, kind: str) -> ResourceInfo:
        group, _, version = api_version.rpartition("/")
        res = self.registry.by_kind(group, version, kind)
        if res is None:
            # Another version of the same group and kind still addresses the same objects.
            res = next((r for r in self.registry.resources if r.group == group and r.kind == kind
                        and not r.virtual), None)
        if res is None:
            raise LookupError(f"unable to get REST mapping for {api_version}/{kind}")
        return res

    def _mark_absent(self, uid: str) -> None:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    def _forget(self, uid: str) -> None:
        self._mark_absent(uid)
        self._schedule(self.graph.forget_virtual(uid))

    # ---- writes ------------------------------------------------------------------------------

    async def _delete(self, node: Node, policy: str) -> None:
        self.log.info("deleting %s %s/%s (propagation %s)", node.kind, node.namespace, node.name, policy)
        res = self._resource(node.api_version, node.kind)
        try:
            await self.client.delete(res, node.name, node.namespace if res.namespaced else None,
                                     propagation_policy=policy, preconditions={"uid": node.uid})
        except ApiError as e:
            if is_not_found(e):
                self._forget(node.uid)
                return
            if is_conflict(e):
                return  # a namesake with another uid: ours is gone already
            raise

    async def _patch_owner_refs(self, node: Node, latest: Obj, refs: list[dict[str, Any]]) -> None:
        """Replace the ownerReferences, guarded by resourceVersion (a concurrent write → 409 → retry)."""
        res = self._resource(node.api_version, node.kind)
        meta = latest.get("metadata") or {}
        patch = {"metadata": {"ownerReferences": refs or None, "resourceVersion": meta.get("resourceVersion")}}
        try:
            await self.client.patch(res, node.name, patch, "merge", node.namespace if res.namespaced else None)
        except ApiError as e:
            if not is_not_found(e):
                raise

    async def _remove_finalizer(self, node: Node, finalizer: str) -> None:
        res = self._resource(node.api_version, node.kind)
        ns = node.namespace if res.namespaced else None
        for _ in range(5):
            latest = await self._get_live(node)
            if latest is None:
                return
            meta = latest.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if finalizer not in finalizers:
                return
            kept = [f for f in finalizers if f != finalizer]
            patch = {"metadata": {"finalizers": kept or None, "resourceVersion": meta.get("resourceVersion")}}
            try:
                await self.client.patch(res, node.name, patch, "merge", ns)
                self.log.info("removed finalizer %s from %s %s/%s", finalizer, node.kind, node.namespace, node.name)
                return
            except ApiError as e:
                if is_not_found(e):
                    return
                if not is_conflict(e):
                    raise
        raise RuntimeError(f"could not remove finalizer {finalizer} from {node.kind} {node.name}: conflicts")


def _describe(ref: Mapping[str, Any], namespace: str) -> str:
    return (f"{{{ref.get('apiVersion', '')}/{ref.get('kind', '')}, namespace: {namespace}, "
            f"name: {ref.get('name', '')}, uid: {ref.get('uid', '')}}}")

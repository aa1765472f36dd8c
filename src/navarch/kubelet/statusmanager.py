"""The status manager: the one place that writes pods' status and deletes finished pods.

As upstream's ``status.Manager``:
- a status is PATCHed to ``pods/status`` only when it differs from what the API holds, compared
  against the newest copy known (the informer's, or this manager's last write when the informer has
  not caught up yet), so a steady pod costs no writes;
- the patch carries ``metadata.uid``, so a status computed for one pod never lands on a new pod that
  reuses its name (upstream: the UID precondition);
- a pod whose deletion the kubelet has finished (containers stopped) is deleted with grace period 0
  and a UID precondition: the kubelet's confirmation that the pod is gone from the node.

Patches are JSON merge patches of the status fields that changed: lists (conditions, container
statuses) are sent whole, as computed from the pod's latest state, which already carries the
conditions other writers own.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from navarch.client.errors import ApiError, is_conflict, is_not_found
from navarch.client.rest import Client

log = logging.getLogger(__name__)


class StatusManager:
    def __init__(self, client: Client, node_name: str = "") -> None:
        self.client = client
        self.node_name = node_name
        # uid -> the pod as the API answered our last status write
        self._written: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def latest(self, pod: Mapping[str, Any]) -> Mapping[str, Any]:
        """The newer of the cached pod and our last write's answer for it."""
        mine = self._written.get(_uid(pod))
        if mine is None:
            return pod
        return mine if _newer_or_same(mine, pod) else pod

    def needs_update(self, pod: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        return (self.latest(pod).get("status") or {}) != status

    def is_own_write(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """Whether the update ``old`` -> ``new`` is this manager's last status write coming back:
        ``new`` is the very revision that write produced, and nothing but the status changed."""
        mine = self._written.get(_uid(new))
        if mine is None:
            return False
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if not rv or (mine.get("metadata") or {}).get("resourceVersion") != rv or old.get("spec") != new.get("spec"):
            return False
        old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
        return all(old_meta.get(k) == new_meta.get(k) for k in old_meta.keys() | new_meta.keys()
                   if k not in _WRITE_STAMPS)

    async def set_status(self, pod: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Write ``status`` if it changed; True when a write happened. A pod gone from the API (or
        replaced by another with its name) is not an error: there is nothing left to report to."""
        current = self.latest(pod)
        old = current.get("status") or {}
        if old == status:
            return False
        meta = pod.get("metadata") or {}
        diff = {k: v for k, v in status.items() if old.get(k) != v}
        body = {"metadata": {"uid": meta.get("uid")}, "status": diff}
        try:
            answer = await self.client.patch("pods", meta["name"], body, "merge", namespace=meta.get("namespace"),
                                             subresource="status")
        except ApiError as e:
            if is_not_found(e) or (is_conflict(e) and "uid" in (e.message or "").lower()):
                log.debug("pod %s/%s is gone; status not written", meta.get("namespace"), meta.get("name"))
                self.forget(_uid(pod))
                return False
            raise
        self._written[_uid(pod)] = answer
        self.writes += 1
        return True

    async def delete_pod(self, pod: Mapping[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.client.delete("pods", meta["name"], meta.get("namespace"), grace_period_seconds=0,
                                     preconditions={"uid": meta.get("uid", "")})
        except ApiError as e:
            if not (is_not_found(e) or is_conflict(e)):
                raise
        log.info("pod %s/%s deleted from node %s", meta.get("namespace"), meta.get("name"), self.node_name)
        self.forget(_uid(pod))

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)


# What every write changes in an object's metadata, whoever writes.
_WRITE_STAMPS = frozenset({"resourceVersion", "managedFields", "generation"})


def _uid(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid", ""))


def _newer_or_same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether ``a`` is at least as new as ``b``. navarch's resourceVersions are revisions (integers);
    anything else is treated as unknown and the cache wins."""
    ra = (a.get("metadata") or {}).get("resourceVersion", "")
    rb = (b.get("metadata") or {}).get("resourceVersion", "")
    if str(ra).isdigit() and str(rb).isdigit():
        return int(ra) >= int(rb)
    return False

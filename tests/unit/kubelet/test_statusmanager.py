"""The status manager's own writes, recognised when the watch brings them back."""

from __future__ import annotations

import copy
from typing import Any

from navarch.kubelet.statusmanager import StatusManager


class FakeClient:
    """Answers a status PATCH as the API would: the pod with the new status at the next revision."""

    def __init__(self, pod: dict[str, Any]) -> None:
        self.pod = pod

    async def patch(self, resource: str, name: str, body: dict[str, Any], patch_type: str, *, namespace: str | None,
                    subresource: str) -> dict[str, Any]:
        assert (resource, subresource, patch_type) == ("pods", "status", "merge")
        answer = copy.deepcopy(self.pod)
        answer["status"] = {**answer.get("status", {}), **body["status"]}
        answer["metadata"]["resourceVersion"] = str(int(answer["metadata"]["resourceVersion"]) + 1)
        self.pod = answer
        return copy.deepcopy(answer)


def pod(rv: str = "7") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1", "resourceVersion": rv,
                         "labels": {"app": "a"}, "managedFields": [{"manager": "kubectl-create"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}


async def written() -> tuple[StatusManager, dict[str, Any], dict[str, Any]]:
    """A manager that wrote Running over ``before``; the pod as the API now holds it."""
    before = pod()
    client = FakeClient(copy.deepcopy(before))
    manager = StatusManager(client, "n1")  # type: ignore[arg-type]
    assert await manager.set_status(before, {"phase": "Running"})
    return manager, before, client.pod


async def test_its_last_write_coming_back_is_recognised() -> None:
    manager, before, after = await written()
    assert after["metadata"]["resourceVersion"] == "8"
    assert manager.is_own_write(before, after)
    stamped = copy.deepcopy(after)
    stamped["metadata"]["managedFields"] = [{"manager": "kubectl-create"}, {"manager": "kubelet"}]
    assert manager.is_own_write(before, stamped), "every write restamps managedFields"


async def test_anything_else_is_not_its_write() -> None:
    manager, before, after = await written()
    later = copy.deepcopy(after)
    later["metadata"]["resourceVersion"] = "9"
    assert not manager.is_own_write(after, later), "another writer's revision"
    # A relist compares with an older cached copy: at our revision, yet a spec or metadata change
    # made before it is news to the pod's worker.
    older = copy.deepcopy(before)
    older["spec"]["activeDeadlineSeconds"] = 5
    assert not manager.is_own_write(older, after)
    relabelled = copy.deepcopy(before)
    relabelled["metadata"]["labels"] = {"app": "b"}
    assert not manager.is_own_write(relabelled, after)
    deleting = copy.deepcopy(after)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-26T00:00:00Z"
    assert not manager.is_own_write(deleting, after)
    assert not StatusManager(FakeClient(pod()), "n1").is_own_write(before, after)  # type: ignore[arg-type]
    manager.forget("u1")
    assert not manager.is_own_write(before, after), "forgotten once the pod is gone"

"""Small builders and fakes shared by the kubelet unit tests."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from navarch.kubelet.podworkers import PodWorkers


def make_pod(name: str = "p", *, node: str = "n1", containers: tuple[str, ...] = ("c",),
             init: tuple[str, ...] = (), restart: str = "Always", annotations: Mapping[str, str] | None = None,
             uid: str = "") -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "uid": uid or f"uid-{name}", "resourceVersion": "1",
                     "annotations": dict(annotations or {})},
        "spec": {"nodeName": node, "restartPolicy": restart,
                 "containers": [{"name": c, "image": "busybox:1.36"} for c in containers],
                 **({"initContainers": [{"name": c, "image": "busybox:1.36"} for c in init]} if init else {})},
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }


class FakeStatusManager:
    """Records writes and applies them to the test's pod, as the API then the informer would."""

    def __init__(self, pods: dict[str, dict[str, Any]]) -> None:
        self.pods = pods
        self.writes: list[dict[str, Any]] = []
        self.deleted: list[str] = []

    async def set_status(self, pod: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        current = self.pods.get(key)
        if current is None or current.get("status") == status:
            return False
        self.pods[key] = {**current, "status": dict(status)}
        self.writes.append(dict(status))
        return True

    async def delete_pod(self, pod: Mapping[str, Any]) -> None:
        key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        self.pods.pop(key, None)
        self.deleted.append(key)

    def forget(self, uid: str) -> None:
        pass


class Driver:
    """Runs one node's pod workers the way the host's queue would, on fake time."""

    def __init__(self, workers: PodWorkers, pods: dict[str, dict[str, Any]], clock) -> None:
        self.workers = workers
        self.pods = pods
        self.clock = clock
        self.due: dict[str, float] = {}
        workers.attach(self.requeue)

    def requeue(self, key: str, delay: float) -> None:
        when = self.clock.monotonic() + delay
        self.due[key] = min(self.due.get(key, when), when)

    async def settle(self, rounds: int = 20) -> None:
        """Sync every pod that is due now until nothing is (kill tasks included)."""
        for _ in range(rounds):
            await asyncio.sleep(0)
            now = self.clock.monotonic()
            ready = [k for k, t in self.due.items() if t <= now]
            if not ready:
                if any(r.kill_task for r in self.workers.records.values()):
                    continue
                return
            for k in ready:
                del self.due[k]
                await self.workers.sync(k, self.pods.get(k))

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.settle()

"""The latest judged result of one probe type, per container instance (upstream ``results.Manager``).

Keyed by container id, so a restarted container (a new id) never inherits its predecessor's
result. ``set`` reports a change to the listener with the pod's key: the pod workers re-queue
that pod, which writes the new readiness into its status or kills an unhealthy container.
"""

from __future__ import annotations

from typing import Callable

from navarch.kubelet.prober.probe import Result

Listener = Callable[[str], None]


class ResultsCache:
    def __init__(self, listener: Listener | None = None) -> None:
        self._results: dict[str, Result] = {}
        self.listener = listener

    def get(self, container_id: str) -> Result | None:
        return self._results.get(container_id)

    def set(self, container_id: str, result: Result, pod_key: str) -> bool:
        """Returns whether the result changed (and the listener was told)."""
        if self._results.get(container_id) is result:
            return False
        self._results[container_id] = result
        if self.listener is not None:
            self.listener(pod_key)
        return True

    def remove(self, container_id: str) -> None:
        self._results.pop(container_id, None)

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, container_id: object) -> bool:
        return container_id in self._results

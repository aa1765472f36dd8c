"""PrioritySort: higher ``spec.priority`` first, then whoever has waited longest (upstream queuesort)."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

NAME = "PrioritySort"


class PrioritySort:
    name: ClassVar[str] = NAME

    def less(self, a: Any, b: Any) -> bool:
        """``a``/``b`` are QueuedPodInfos (``pod_info.priority`` and ``timestamp``)."""
        pa, pb = a.pod_info.priority, b.pod_info.priority
        return pa > pb or (pa == pb and a.timestamp < b.timestamp)


def new(args: Mapping[str, Any], handle: Any) -> PrioritySort:
    return PrioritySort()

"""DefaultBinder: bind through the API (``POST pods/{name}/binding``), as upstream."""

from __future__ import annotations

from typing import Any, ClassVar, Mapping

from navarch.client.errors import ApiError
from navarch.scheduler.framework.interface import CycleState, Handle
from navarch.scheduler.framework.status import Code, Status
from navarch.scheduler.framework.types import PodInfo

NAME = "DefaultBinder"


class DefaultBinder:
    name: ClassVar[str] = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        binding = {
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
        }
        try:
            await self.handle.client.create_subresource("pods", pod.name, "binding", binding, pod.namespace)
        except ApiError as e:
            return Status(Code.ERROR, str(e), error=e)
        return None


def new(args: Mapping[str, Any], handle: Any) -> DefaultBinder:
    return DefaultBinder(handle)

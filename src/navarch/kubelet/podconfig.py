"""What a real node's containers need from outside the runtime: their environment (``envvars.py``),
their volumes (``volumes/``), their resource limits and their expanded command line.

Simulated nodes have none of this (their runtime runs nothing); the pod workers then build a
container from its literal ``env`` values only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from navarch.kubelet import envvars
from navarch.kubelet.runtimes.interface import CreateContainerConfigError, Mount
from navarch.kubelet.volumes import VolumeError, VolumeManager
from navarch.machinery.events import EventRecorder

__all__ = ["ContainerInputs", "PodConfigurator", "VolumeError"]

NO_ISOLATION_MESSAGE = ("navarch runs without root here: volumes are prepared on the node but not mounted at "
                        "their mountPath (no mount namespace), and no cgroup limits apply; the container sees "
                        "the host's filesystem")


@dataclass(frozen=True)
class ContainerInputs:
    command: tuple[str, ...]
    args: tuple[str, ...]
    envs: Mapping[str, str]
    mounts: Sequence[Mount]
    cpu_millis: int | None
    memory_limit_bytes: int | None


class PodConfigurator:
    def __init__(self, client: Any, root_dir: str, *, node_name: str, host_ips: Callable[[], list[str]],
                 node_allocatable: Mapping[str, Any], isolated: bool,
                 recorder: EventRecorder | None = None, api_endpoint: tuple[str, int] | None = None) -> None:
        """``api_endpoint``: the API server's (host, port) for the ``KUBERNETES_SERVICE_*`` variables
        when pods cannot reach the ``kubernetes`` Service's cluster IP (see envvars.service_env)."""
        self.client = client
        self.api_endpoint = api_endpoint
        self.node_name = node_name
        self.host_ips = host_ips
        self.node_allocatable = dict(node_allocatable)
        self.isolated = isolated
        self.recorder = recorder
        # Every Service the node knows (an informer's cache), or None: then each container start
        # lists them through the API.
        self.services: Callable[[], list[Mapping[str, Any]]] | None = None
        from navarch.kubelet.objectcache import ObjectCache

        self.objects = ObjectCache(client) if client is not None else None
        self.volumes = VolumeManager(root_dir, client, isolated=isolated, node_allocatable=node_allocatable,
                                     objects=self.objects)

    def not_isolated_warning(self, pod: Mapping[str, Any]) -> str | None:
        """The message of the event that tells a pod's owner its volumes are not where the spec says."""
        if self.isolated:
            return None
        spec = pod.get("spec") or {}
        for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if c.get("volumeMounts"):
                return NO_ISOLATION_MESSAGE
        return None

    async def setup_volumes(self, pod: Mapping[str, Any]) -> None:
        """Set up what is not yet, and refresh the rest from the current objects. Raises
        ``VolumeError`` (one FailedMount message per failed volume); retried next sync."""
        obj = dict(pod)
        just = await self.volumes.setup(obj)
        await self.volumes.refresh(obj, skip=just)  # what was just projected is current

    async def teardown(self, pod_uid: str) -> None:
        await self.volumes.teardown(pod_uid)

    async def container_inputs(self, pod: Mapping[str, Any], container: Mapping[str, Any],
                               pod_ips: Sequence[str]) -> ContainerInputs:
        """Raises ``CreateContainerConfigError`` with upstream's message when a referenced object or
        key is missing."""
        env = await envvars.container_env(dict(pod), dict(container), client=self.client, node_name=self.node_name,
                                          host_ips=self.host_ips(), node_allocatable=self.node_allocatable,
                                          pod_ips=tuple(pod_ips), recorder=self.recorder,
                                          services=self.services() if self.services is not None else None,
                                          api_endpoint=self.api_endpoint, objects=self.objects)
        command = tuple(envvars.expand(str(v), env) for v in container.get("command") or ())
        args = tuple(envvars.expand(str(v), env) for v in container.get("args") or ())
        mounts = self.volumes.mounts(dict(pod), dict(container), env)
        limits = (container.get("resources") or {}).get("limits") or {}
        try:
            # MilliValue rounds up, as upstream's: 0.0001 cpu is 1m, not nothing.
            cpu = math.ceil(envvars.parse_quantity(limits["cpu"]) * 1000) if "cpu" in limits else None
            memory = envvars.quantity_bytes(limits["memory"]) if "memory" in limits else None
        except (ValueError, ArithmeticError) as e:
            raise CreateContainerConfigError(f"invalid resource limits: {e}") from e
        return ContainerInputs(command, args, env, mounts, cpu, memory)

"""Finding "container ``c`` of pod ``ns/name``" in the runtime, from the labels the pod workers put on
every container (io.kubernetes.pod.namespace / .name / io.kubernetes.container.name, as upstream's
kuberuntime does), so the server needs nothing from the kubelet's memory and keeps working for pods
adopted after a kubelet restart.
"""

from __future__ import annotations

from navarch.kubelet.runtimes.interface import (
    ContainerStatus,
    PodSandboxStatus,
    Runtime,
    SandboxState,
)

POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_NAME = "io.kubernetes.pod.name"
POD_UID = "io.kubernetes.pod.uid"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"


def _restart_count(c: ContainerStatus) -> int:
    try:
        return int(c.annotations.get(RESTART_COUNT, c.attempt))
    except ValueError:
        return c.attempt


def _newest_first(containers: list[ContainerStatus]) -> list[ContainerStatus]:
    return sorted(containers, key=lambda c: (_restart_count(c), c.created_at), reverse=True)


async def pod_containers(runtime: Runtime, namespace: str, pod: str) -> list[ContainerStatus]:
    """Every container instance of the pod the runtime still keeps, newest first."""
    found = [c for c in await runtime.list_containers()
             if c.labels.get(POD_NAMESPACE) == namespace and c.labels.get(POD_NAME) == pod]
    return _newest_first(found)


async def container_instances(runtime: Runtime, namespace: str, pod: str, container: str) -> list[ContainerStatus]:
    """The instances of one container, newest (the current one) first, then the previous one."""
    return [c for c in await pod_containers(runtime, namespace, pod) if c.labels.get(CONTAINER_NAME) == container]


async def pod_sandbox(runtime: Runtime, namespace: str, pod: str) -> PodSandboxStatus | None:
    """The pod's sandbox: a ready one if there is one, else the newest."""
    found = [s for s in await runtime.list_pod_sandbox() if s.namespace == namespace and s.name == pod]
    if not found:
        return None
    found.sort(key=lambda s: (s.state is SandboxState.READY, s.attempt, s.created_at), reverse=True)
    return found[0]


async def pod_known(runtime: Runtime, namespace: str, pod: str) -> bool:
    return await pod_sandbox(runtime, namespace, pod) is not None or \
        bool(await pod_containers(runtime, namespace, pod))

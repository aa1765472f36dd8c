"""Pod status with probe results folded in: ``ready``/``started`` per container, and init containers
that completed reported ready (upstream's prober manager ``UpdatePodStatus``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from navarch.kubelet.podstatus import PodRuntimeState, generate_pod_status
from navarch.kubelet.runtimes.interface import (
    ContainerState,
    ContainerStatus,
    PodSandboxStatus,
    SandboxState,
)
from tests.unit.kubelet.builders import make_pod

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
SANDBOX = PodSandboxStatus("sb1", "p", "default", "uid-p", 0, SandboxState.READY, T0, ip="10.42.0.5")


def ctr(name: str, state: ContainerState = ContainerState.RUNNING, code: int = 0) -> ContainerStatus:
    return ContainerStatus(f"{name}-0", "sb1", name, 0, "busybox:1.36", "busybox@sha256:ab", state, T0,
                           started_at=T0, finished_at=T0 if state is ContainerState.EXITED else None, exit_code=code)


def gen(pod: dict[str, Any], state: PodRuntimeState) -> dict[str, Any]:
    return generate_pod_status(pod, state, now=T0, host_ips=["172.20.0.1"], runtime_name="sim")


def test_probe_results_decide_ready_and_started() -> None:
    pod = make_pod(containers=("a", "b", "c"))
    state = PodRuntimeState(sandbox=SANDBOX, containers={n: [ctr(n)] for n in "abc"},
                            ready={"a": False, "c": True}, started={"c": False})
    st = gen(pod, state)
    got = {s["name"]: (s["ready"], s["started"]) for s in st["containerStatuses"]}
    assert got == {"a": (False, True), "b": (True, True), "c": (False, False)}, "an unstarted container is never ready"
    ready = next(c for c in st["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["message"] == "containers with unready status: [a c]"


def test_completed_init_container_is_ready_failed_one_is_not() -> None:
    pod = make_pod(init=("ok", "bad"), restart="Never")
    state = PodRuntimeState(sandbox=SANDBOX, containers={"ok": [ctr("ok", ContainerState.EXITED)],
                                                         "bad": [ctr("bad", ContainerState.EXITED, 1)]})
    st = gen(pod, state)
    assert [s["ready"] for s in st["initContainerStatuses"]] == [True, False]


def test_sidecar_readiness_comes_from_its_probe() -> None:
    pod = make_pod()
    pod["spec"]["initContainers"] = [{"name": "side", "image": "busybox:1.36", "restartPolicy": "Always"}]
    state = PodRuntimeState(sandbox=SANDBOX, containers={"side": [ctr("side")], "c": [ctr("c")]},
                            ready={"side": False})
    st = gen(pod, state)
    assert st["initContainerStatuses"][0]["ready"] is False
    assert st["initContainerStatuses"][0]["started"] is True
    assert next(c for c in st["conditions"] if c["type"] == "ContainersReady")["status"] == "False"

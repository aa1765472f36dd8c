"""Pod status computed from runtime state: phases, conditions and container statuses as upstream."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from navarch.kubelet.podstatus import PodRuntimeState, generate_pod_status, qos_class
from navarch.kubelet.runtimes.interface import (
    ContainerState,
    ContainerStatus,
    PodSandboxStatus,
    SandboxState,
)
from tests.unit.kubelet.builders import make_pod

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
SANDBOX = PodSandboxStatus("sb1", "p", "default", "uid-p", 0, SandboxState.READY, T0, ip="10.42.0.5")


def ctr(name: str, state: ContainerState, *, attempt: int = 0, code: int = 0, cid: str = "") -> ContainerStatus:
    finished = T0 + timedelta(seconds=5) if state is ContainerState.EXITED else None
    return ContainerStatus(cid or f"{name}-{attempt}", "sb1", name, attempt, "busybox:1.36", "busybox@sha256:ab",
                           state, T0, started_at=T0, finished_at=finished, exit_code=code,
                           reason=("Completed" if code == 0 else "Error") if finished else "")


def gen(pod: dict[str, Any], state: PodRuntimeState, *, terminal: bool = False, now: datetime = T0) -> dict[str, Any]:
    return generate_pod_status(pod, state, now=now, host_ips=["172.20.0.1"], runtime_name="sim", terminal=terminal)


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c.get("reason", "")) for c in status["conditions"]}


def test_no_sandbox_yet_is_pending_container_creating() -> None:
    st = gen(make_pod(), PodRuntimeState())
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert conds(st)["PodReadyToStartContainers"] == ("False", "")
    assert conds(st)["Ready"] == ("False", "ContainersNotReady")
    assert [c["message"] for c in st["conditions"] if c["type"] == "ContainersReady"] == \
        ["containers with unready status: [c]"]
    assert "podIP" not in st


def test_running_pod() -> None:
    st = gen(make_pod(), PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))
    assert st["phase"] == "Running"
    assert [c["type"] for c in st["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" for c in st["conditions"])
    cs = st["containerStatuses"][0]
    assert cs == {"name": "c", "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}, "lastState": {},
                  "ready": True, "restartCount": 0, "image": "busybox:1.36", "imageID": "busybox@sha256:ab",
                  "started": True, "containerID": "sim://c-0"}
    assert st["podIP"] == "10.42.0.5" and st["hostIPs"] == [{"ip": "172.20.0.1"}]
    assert st["startTime"] == "2025-01-01T00:00:00Z" and st["qosClass"] == "BestEffort"


@pytest.mark.parametrize(("policy", "code", "terminal", "phase"), [
    ("Never", 0, False, "Succeeded"), ("Never", 1, False, "Failed"), ("OnFailure", 0, False, "Succeeded"),
    ("OnFailure", 1, False, "Running"), ("Always", 0, False, "Running"), ("Always", 0, True, "Succeeded"),
    ("Always", 137, True, "Failed"),
], ids=lambda v: str(v))
def test_phase_of_exited_containers(policy: str, code: int, terminal: bool, phase: str) -> None:
    state = PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.EXITED, code=code)]})
    st = gen(make_pod(restart=policy), state, terminal=terminal)
    assert st["phase"] == phase
    if phase == "Succeeded":
        assert conds(st)["Ready"] == ("False", "PodCompleted")
        assert conds(st)["ContainersReady"] == ("False", "PodCompleted")
    if phase == "Failed":
        assert conds(st)["Ready"] == ("False", "PodFailed")


def test_crash_loop_waiting_keeps_the_last_termination() -> None:
    state = PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.EXITED, attempt=3, code=1)]},
                            waiting={"c": ("CrashLoopBackOff", "back-off 40s ...")})
    st = gen(make_pod(), state)
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s ..."}}
    assert cs["lastState"]["terminated"]["exitCode"] == 1 and cs["restartCount"] == 3
    assert st["phase"] == "Running"


def test_previous_instance_becomes_last_state() -> None:
    state = PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING, attempt=1),
                                            ctr("c", ContainerState.EXITED, code=2)]})
    cs = gen(make_pod(), state)["containerStatuses"][0]
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert cs["lastState"]["terminated"]["containerID"] == "sim://c-0"
    assert cs["restartCount"] == 1


def test_transition_times_move_only_on_change() -> None:
    pod = make_pod()
    first = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))
    later = T0 + timedelta(minutes=5)
    pod["status"] = first
    again = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}), now=later)
    assert again == first
    exited = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.EXITED, code=1)]}), now=later)
    by_type = {c["type"]: c["lastTransitionTime"] for c in exited["conditions"]}
    assert by_type["Ready"] == "2025-01-01T00:05:00Z"
    assert by_type["Initialized"] == "2025-01-01T00:00:00Z"


def test_conditions_of_other_writers_are_kept() -> None:
    pod = make_pod()
    pod["status"]["conditions"] = [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-12-31T00:00:00Z"},
        {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
         "lastTransitionTime": "2024-12-31T00:00:00Z"}]
    st = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))
    assert st["conditions"][-2:] == pod["status"]["conditions"]


def test_readiness_gates() -> None:
    pod = make_pod()
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}]
    st = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))
    ready = [c for c in st["conditions"] if c["type"] == "Ready"][0]
    assert ready["reason"] == "ReadinessGatesNotReady"
    assert ready["message"] == 'corresponding condition of pod readiness gate "example.com/lb" does not exist.'


def test_terminal_phase_is_never_left() -> None:
    pod = make_pod()
    pod["status"]["phase"] = "Failed"
    assert gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))["phase"] == "Failed"


def test_host_network_pod_reports_the_host_ip() -> None:
    pod = make_pod()
    pod["spec"]["hostNetwork"] = True
    st = gen(pod, PodRuntimeState(SANDBOX, {"c": [ctr("c", ContainerState.RUNNING)]}))
    assert st["podIP"] == "172.20.0.1"


@pytest.mark.parametrize(("resources", "qos"), [
    ([{}], "BestEffort"),
    ([{"requests": {"cpu": "100m"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"requests": {"cpu": "1000m", "memory": "1024Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
    ([{"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}], "Burstable"),
    ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
], ids=["none", "request", "limits", "equal-by-value", "unequal", "one-of-two"])
def test_qos_class(resources: list[dict[str, Any]], qos: str) -> None:
    spec = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(resources)]}
    assert qos_class(spec) == qos

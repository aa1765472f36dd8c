"""Pod workers with probes, on fake time: readiness gates ``ready``, startup gates ``started``,
liveness and startup failures kill and restart the container with upstream's events."""

from __future__ import annotations

import asyncio
from typing import Any, Mapping, Sequence

from navarch.kubelet.backoff import CrashLoopBackOff
from navarch.kubelet.podworkers import PodWorkers
from navarch.kubelet.prober import ProbeManager
from navarch.kubelet.runtimes.interface import ExecResult
from navarch.kubelet.runtimes.simulated import TERMINATION_SECONDS, SimulatedRuntime
from navarch.machinery.clock import FakeClock
from tests.unit.kubelet.builders import Driver, FakeStatusManager, make_pod

KEY = "default/p"


class ExecRuntime(SimulatedRuntime):
    """The simulated runtime, plus ``exec_sync`` answering by container name (exit code 0 by default)."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock, "10.42.7.0/24")
        self.exit_codes: dict[str, int] = {}
        self.execs: list[tuple[str, float]] = []

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
        status = await self.container_status(container_id)
        self.execs.append((status.name, self.clock.monotonic()))
        code = self.exit_codes.get(status.name, 0)
        return ExecResult(b"", b"" if code == 0 else f"{cmd[-1]}: not healthy\n".encode(), code)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def event(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message, str(obj.get("fieldPath", ""))))

    def reasons(self) -> list[str]:
        return [reason for _, reason, _, _ in self.events]


class Node:
    def __init__(self, pod: dict[str, Any]) -> None:
        self.clock = FakeClock()
        self.pods = {KEY: pod}
        self.status = FakeStatusManager(self.pods)
        self.runtime = ExecRuntime(self.clock)
        self.recorder = Recorder()
        self.prober = ProbeManager(self.runtime, self.clock)
        self.workers = PodWorkers("n1", self.runtime, self.status, self.clock, CrashLoopBackOff(self.clock),  # type: ignore[arg-type]
                                  runtime_name="sim", host_ips=lambda: ["172.20.0.9"], resync_interval=0,
                                  recorder=self.recorder, prober=self.prober)  # type: ignore[arg-type]
        self.driver = Driver(self.workers, self.pods, self.clock)
        self.driver.requeue(KEY, 0)

    async def settle(self) -> None:
        # Probe workers and container kills are tasks of their own: let them run between syncs.
        for _ in range(6):
            for _ in range(10):
                await asyncio.sleep(0)
            await self.driver.settle()

    async def run_for(self, seconds: int) -> None:
        for _ in range(seconds):
            self.clock.advance(1)
            await self.settle()

    def container(self, i: int = 0) -> dict[str, Any]:
        return self.pods[KEY]["status"]["containerStatuses"][i]

    def conditions(self) -> dict[str, str]:
        return {c["type"]: c["status"] for c in self.pods[KEY]["status"]["conditions"]}


def probed_pod(restart: str = "Always", annotations: Mapping[str, str] | None = None, grace: int | None = None,
               **probes: dict[str, Any]) -> dict[str, Any]:
    pod = make_pod(restart=restart, annotations=annotations)
    pod["spec"]["containers"][0].update({f"{kind}Probe": p for kind, p in probes.items()})
    if grace is not None:
        pod["spec"]["terminationGracePeriodSeconds"] = grace
    return pod


EXEC = {"exec": {"command": ["check"]}}


async def test_readiness_probe_gates_ready() -> None:
    node = Node(probed_pod(readiness={**EXEC, "periodSeconds": 10}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    assert node.pods[KEY]["status"]["phase"] == "Running"
    assert node.container()["ready"] is False and node.container()["started"] is True
    assert node.conditions()["Ready"] == "False"
    ready = next(c for c in node.pods[KEY]["status"]["conditions"] if c["type"] == "ContainersReady")
    assert ready["message"] == "containers with unready status: [c]"
    assert ("Warning", "Unhealthy", "Readiness probe failed: check: not healthy\n", "spec.containers{c}") \
        in node.recorder.events
    node.runtime.exit_codes["c"] = 0
    await node.run_for(10)
    assert node.container()["ready"] is True
    assert node.conditions()["Ready"] == "True"
    assert "Killing" not in node.recorder.reasons(), "readiness failures never restart a container"


async def test_container_without_probes_is_ready_when_running() -> None:
    node = Node(make_pod())
    await node.settle()
    assert node.container()["ready"] is True and node.container()["started"] is True
    assert node.prober.workers() == []


async def test_liveness_failure_kills_and_restarts_with_upstream_events() -> None:
    node = Node(probed_pod(liveness={**EXEC, "periodSeconds": 10, "failureThreshold": 3}))
    await node.settle()
    first = node.container()["containerID"]
    node.runtime.exit_codes["c"] = 1
    await node.run_for(20)
    assert node.container()["restartCount"] == 0, "killed before failureThreshold failures"
    await node.run_for(10)
    st = node.container()
    assert st["restartCount"] == 1
    assert st["state"].get("running") and st["containerID"] != first
    assert st["lastState"]["terminated"]["containerID"] == first
    unhealthy = [e for e in node.recorder.events if e[1] == "Unhealthy"]
    assert len(unhealthy) == 3
    assert unhealthy[0] == ("Warning", "Unhealthy", "Liveness probe failed: check: not healthy\n",
                            "spec.containers{c}")
    assert ("Normal", "Killing", "Container c failed liveness probe, will be restarted", "spec.containers{c}") \
        in node.recorder.events
    reasons = node.recorder.reasons()
    assert reasons.index("Killing") > max(i for i, r in enumerate(reasons) if r == "Unhealthy")
    assert reasons[reasons.index("Killing"):].count("Started") == 1


async def test_repeated_liveness_restarts_raise_the_count() -> None:
    node = Node(probed_pod(liveness={**EXEC, "periodSeconds": 5, "failureThreshold": 1}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    await node.run_for(30)
    assert node.container()["restartCount"] >= 3


async def test_probe_grace_period_overrides_the_pods() -> None:
    # The container needs 20 s to stop; the pod would wait 30 s, the probe only 5 s.
    pod = probed_pod(annotations={TERMINATION_SECONDS: "20"}, grace=30,
                     liveness={**EXEC, "periodSeconds": 1, "failureThreshold": 1, "terminationGracePeriodSeconds": 5})
    node = Node(pod)
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    assert "Killing" in node.recorder.reasons()
    await node.run_for(4)
    assert node.container()["restartCount"] == 0
    await node.run_for(1)
    st = node.container()
    assert st["restartCount"] == 1
    assert st["lastState"]["terminated"]["exitCode"] == 137


async def test_liveness_failure_under_restart_never_is_not_restarted() -> None:
    node = Node(probed_pod(restart="Never", liveness={**EXEC, "periodSeconds": 1, "failureThreshold": 1}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    await node.run_for(3)
    assert ("Normal", "Killing", "Container c failed liveness probe", "spec.containers{c}") in node.recorder.events
    assert node.container()["restartCount"] == 0
    assert "terminated" in node.container()["state"]
    assert node.pods[KEY]["status"]["phase"] in ("Succeeded", "Failed")


async def test_on_failure_restarts_a_liveness_kill_even_when_it_exited_zero() -> None:
    node = Node(probed_pod(restart="OnFailure", liveness={**EXEC, "periodSeconds": 1, "failureThreshold": 1}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    await node.run_for(2)
    assert node.container()["restartCount"] >= 1
    assert node.container()["lastState"]["terminated"]["exitCode"] == 0  # the simulated container stopped cleanly


async def test_startup_probe_gates_started_and_liveness() -> None:
    node = Node(probed_pod(startup={**EXEC, "periodSeconds": 5, "failureThreshold": 30},
                           liveness={"exec": {"command": ["live"]}, "periodSeconds": 5}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    st = node.container()
    assert st["started"] is False and st["ready"] is False
    assert node.conditions()["ContainersReady"] == "False"
    await node.run_for(10)
    assert node.container()["started"] is False
    assert all(t <= 10 for _, t in node.runtime.execs)
    node.runtime.exit_codes["c"] = 0
    await node.run_for(5)
    assert node.container()["started"] is True and node.container()["ready"] is True
    assert node.container()["restartCount"] == 0
    first_unhealthy = next(e[2] for e in node.recorder.events if e[1] == "Unhealthy")
    assert first_unhealthy == "Startup probe failed: check: not healthy\n"


async def test_startup_failure_past_threshold_restarts() -> None:
    node = Node(probed_pod(startup={**EXEC, "periodSeconds": 2, "failureThreshold": 2}))
    node.runtime.exit_codes["c"] = 1
    await node.settle()
    await node.run_for(3)
    assert ("Normal", "Killing", "Container c failed startup probe, will be restarted", "spec.containers{c}") \
        in node.recorder.events
    assert node.container()["restartCount"] == 1


async def test_deleting_the_pod_stops_its_probe_workers() -> None:
    node = Node(probed_pod(readiness={**EXEC, "periodSeconds": 1}, liveness={**EXEC, "periodSeconds": 1}))
    await node.settle()
    assert len(node.prober.workers()) == 2
    node.pods[KEY] = {**node.pods[KEY], "metadata": {**node.pods[KEY]["metadata"], "deletionTimestamp": "x",
                                                     "deletionGracePeriodSeconds": 30}}
    node.driver.requeue(KEY, 0)
    await node.settle()
    assert node.prober.workers() == []
    assert node.status.deleted == [KEY]
    execs = len(node.runtime.execs)
    await node.run_for(5)
    assert len(node.runtime.execs) == execs

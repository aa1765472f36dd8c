"""A kubelet that restarts over a runtime whose containers kept running carries on with them."""

from __future__ import annotations

from typing import Any

from navarch.kubelet.backoff import CrashLoopBackOff
from navarch.kubelet.podworkers import PodWorkers
from navarch.kubelet.runtimes.interface import ContainerState
from navarch.kubelet.runtimes.simulated import EXIT_CODE, SimulatedRuntime
from navarch.machinery.clock import FakeClock
from tests.unit.kubelet.builders import Driver, FakeStatusManager, make_pod

KEY = "default/p"


def new_kubelet(runtime: SimulatedRuntime, clock: FakeClock,
                pods: dict[str, dict[str, Any]]) -> tuple[Driver, FakeStatusManager]:
    status = FakeStatusManager(pods)
    workers = PodWorkers("n1", runtime, status, clock, CrashLoopBackOff(clock), runtime_name="sim",  # type: ignore[arg-type]
                         host_ips=lambda: ["172.20.0.9"], resync_interval=0)
    driver = Driver(workers, pods, clock)
    driver.requeue(KEY, 0)
    return driver, status


def cstatus(pods: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return pods[KEY]["status"]["containerStatuses"][0]


async def test_a_restarted_kubelet_adopts_the_running_sandbox_and_container() -> None:
    clock = FakeClock()
    runtime = SimulatedRuntime(clock, "10.42.7.0/24")
    pods = {KEY: make_pod()}
    first, _ = new_kubelet(runtime, clock, pods)
    await first.settle()
    before = cstatus(pods)
    first.workers.detach()

    second, _ = new_kubelet(runtime, clock, pods)
    await second.settle()
    assert [c.id for c in await runtime.list_containers()] == [before["containerID"].split("://")[1]]
    assert len(await runtime.list_pod_sandbox()) == 1
    after = cstatus(pods)
    assert (after["containerID"], after["restartCount"], after["state"]) == \
        (before["containerID"], 0, before["state"])
    assert pods[KEY]["status"]["podIP"] == "10.42.7.2"

    # The adopted pod is still this kubelet's to stop.
    pods[KEY] = {**pods[KEY], "metadata": {**pods[KEY]["metadata"], "deletionTimestamp": "x",
                                           "deletionGracePeriodSeconds": 0}}
    second.requeue(KEY, 0)
    await second.settle()
    assert KEY not in pods
    assert await runtime.list_containers() == []


async def test_restart_counts_carry_on_after_adoption() -> None:
    clock = FakeClock()
    runtime = SimulatedRuntime(clock, "10.42.7.0/24")
    pods = {KEY: make_pod(annotations={EXIT_CODE: "1"})}
    first, _ = new_kubelet(runtime, clock, pods)
    await first.settle()
    assert cstatus(pods)["restartCount"] == 1
    first.workers.detach()

    second, _ = new_kubelet(runtime, clock, pods)
    await second.settle()
    # The backoff lives in the kubelet's memory (upstream's too): the new one restarts at once, but
    # the count goes on from the adopted instance.
    assert cstatus(pods)["restartCount"] == 2, "a new kubelet must not start counting from 0"
    assert cstatus(pods)["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert sorted(c.attempt for c in await runtime.list_containers()
                  if c.state is ContainerState.EXITED) == [1, 2]


async def test_a_new_pod_is_not_handed_another_pods_containers() -> None:
    clock = FakeClock()
    runtime = SimulatedRuntime(clock, "10.42.7.0/24")
    pods = {KEY: make_pod()}
    first, _ = new_kubelet(runtime, clock, pods)
    await first.settle()
    old_id = cstatus(pods)["containerID"]
    first.workers.detach()

    pods[KEY] = make_pod(uid="uid-other")  # same name, new pod
    second, _ = new_kubelet(runtime, clock, pods)
    await second.settle()
    assert cstatus(pods)["containerID"] != old_id
    assert cstatus(pods)["restartCount"] == 0

"""Pod workers over the simulated runtime on fake time: lifecycle, restarts and CrashLoopBackOff."""

from __future__ import annotations

from typing import Any

from navarch.kubelet.backoff import CrashLoopBackOff
from navarch.kubelet.podworkers import PodWorkers
from navarch.kubelet.runtimes.simulated import (
    EXIT_CODE,
    RUN_SECONDS,
    TERMINATION_SECONDS,
    SimulatedRuntime,
)
from navarch.machinery.clock import FakeClock
from tests.unit.kubelet.builders import Driver, FakeStatusManager, make_pod

KEY = "default/p"


def setup(pod: dict[str, Any]) -> tuple[Driver, FakeStatusManager, dict[str, dict[str, Any]], SimulatedRuntime]:
    clock = FakeClock()
    pods = {KEY: pod}
    status = FakeStatusManager(pods)
    runtime = SimulatedRuntime(clock, "10.42.7.0/24")
    workers = PodWorkers("n1", runtime, status, clock, CrashLoopBackOff(clock), runtime_name="sim",  # type: ignore[arg-type]
                         host_ips=lambda: ["172.20.0.9"], resync_interval=0)
    driver = Driver(workers, pods, clock)
    driver.requeue(KEY, 0)
    return driver, status, pods, runtime


async def delete(driver: Driver, pods: dict[str, dict[str, Any]], grace: int, when: str = "x") -> None:
    """What the API does on a graceful delete, then one sync of the worker."""
    pods[KEY] = {**pods[KEY], "metadata": {**pods[KEY]["metadata"], "deletionTimestamp": when,
                                           "deletionGracePeriodSeconds": grace}}
    driver.requeue(KEY, 0)
    await driver.settle()


def cstatus(pods: dict[str, dict[str, Any]], i: int = 0) -> dict[str, Any]:
    return pods[KEY]["status"]["containerStatuses"][i]


async def test_pod_goes_running_with_an_ip_from_the_node_cidr() -> None:
    driver, status, pods, _ = setup(make_pod())
    await driver.settle()
    st = pods[KEY]["status"]
    assert st["phase"] == "Running"
    assert st["podIP"] == "10.42.7.2" and st["podIPs"] == [{"ip": "10.42.7.2"}]
    assert st["hostIP"] == "172.20.0.9"
    assert cstatus(pods)["state"]["running"]["startedAt"]
    assert cstatus(pods)["containerID"].startswith("sim://")
    assert {c["type"]: c["status"] for c in st["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
        "ContainersReady": "True", "PodScheduled": "True"}
    writes = len(status.writes)
    driver.requeue(KEY, 0)
    await driver.settle()
    assert len(status.writes) == writes, "an unchanged pod must not be written again"


async def test_annotated_pod_succeeds_after_its_run_time() -> None:
    pod = make_pod(restart="Never", annotations={EXIT_CODE: "0", RUN_SECONDS: "5"})
    driver, _, pods, runtime = setup(pod)
    await driver.settle()
    assert pods[KEY]["status"]["phase"] == "Running"
    await driver.advance(5)
    st = pods[KEY]["status"]
    assert st["phase"] == "Succeeded"
    term = cstatus(pods)["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    assert {c["type"]: c.get("reason") for c in st["conditions"]}["Ready"] == "PodCompleted"
    assert st["podIP"] == "10.42.7.2", "a finished pod keeps reporting its IP"
    assert all(s.state.name == "NOTREADY" for s in await runtime.list_pod_sandbox())


async def test_failing_pod_with_restart_never_fails() -> None:
    driver, _, pods, _ = setup(make_pod(restart="Never", annotations={EXIT_CODE: "3"}))
    await driver.settle()
    assert pods[KEY]["status"]["phase"] == "Failed"
    assert cstatus(pods)["state"]["terminated"] == {**cstatus(pods)["state"]["terminated"], "exitCode": 3,
                                                    "reason": "Error"}


async def test_crash_loop_backoff_doubles_from_10s_to_5min() -> None:
    driver, _, pods, _ = setup(make_pod(annotations={EXIT_CODE: "1"}))
    await driver.settle()
    # First restart at once (upstream), then held back 10 s, 20 s, 40 s ... capped at 300 s.
    assert cstatus(pods)["restartCount"] == 1
    waiting = cstatus(pods)["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert waiting["message"] == "back-off 10s restarting failed container=c pod=p_default(uid-p)"
    assert cstatus(pods)["lastState"]["terminated"]["exitCode"] == 1
    assert pods[KEY]["status"]["phase"] == "Running"
    expected = [(10, 2, "20s"), (20, 3, "40s"), (40, 4, "1m20s"), (80, 5, "2m40s"), (160, 6, "5m0s"),
                (300, 7, "5m0s")]
    for wait, count, next_backoff in expected:
        await driver.advance(wait - 0.5)
        assert cstatus(pods)["restartCount"] == count - 1, f"restarted before {wait}s were up"
        await driver.advance(0.5)
        assert cstatus(pods)["restartCount"] == count
        assert f"back-off {next_backoff} " in cstatus(pods)["state"]["waiting"]["message"]


async def test_on_failure_does_not_restart_a_container_that_succeeded() -> None:
    driver, _, pods, _ = setup(make_pod(restart="OnFailure", annotations={EXIT_CODE: "0"}))
    await driver.settle()
    assert pods[KEY]["status"]["phase"] == "Succeeded"
    assert cstatus(pods)["restartCount"] == 0


async def test_init_containers_run_first_and_in_order() -> None:
    pod = make_pod(init=("i1", "i2"), annotations={f"{EXIT_CODE}.i1": "0", f"{RUN_SECONDS}.i1": "3"})
    driver, _, pods, _ = setup(pod)
    await driver.settle()
    st = pods[KEY]["status"]
    assert st["phase"] == "Pending"
    assert st["initContainerStatuses"][0]["state"].get("running")
    assert st["initContainerStatuses"][1]["state"] == {"waiting": {"reason": "PodInitializing"}}
    assert cstatus(pods)["state"] == {"waiting": {"reason": "PodInitializing"}}
    init = {c["type"]: c for c in st["conditions"]}["Initialized"]
    assert init["status"] == "False" and init["reason"] == "ContainersNotInitialized"
    assert init["message"] == "containers with incomplete status: [i1 i2]"
    await driver.advance(3)
    st = pods[KEY]["status"]
    assert st["phase"] == "Running"
    assert [s["state"]["terminated"]["reason"] for s in st["initContainerStatuses"]] == ["Completed", "Completed"]


async def test_deletion_stops_containers_within_grace_then_deletes() -> None:
    pod = make_pod(annotations={TERMINATION_SECONDS: "4"})
    driver, status, pods, runtime = setup(pod)
    await driver.settle()
    await delete(driver, pods, 30, "2025-01-01T00:00:30Z")
    assert KEY in pods, "deleted before its containers stopped"
    await driver.advance(4)
    assert status.deleted == [KEY]
    assert status.writes[-1]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    assert await runtime.list_pod_sandbox() == []


async def test_pod_leaves_the_api_only_after_its_sandbox_is_gone() -> None:
    driver, status, pods, runtime = setup(make_pod())
    await driver.settle()
    at_delete: list[list[Any]] = []
    api_delete = status.delete_pod

    async def recording_delete(pod: dict[str, Any]) -> None:
        at_delete.append(await runtime.list_pod_sandbox())
        await api_delete(pod)
    status.delete_pod = recording_delete  # type: ignore[method-assign]
    await delete(driver, pods, 0)
    await driver.advance(1)
    assert status.deleted == [KEY]
    assert at_delete == [[]], "deleted from the API while its sandbox (and volumes) remained"


async def test_grace_period_shorter_than_the_container_needs_kills_it() -> None:
    driver, status, pods, _ = setup(make_pod(annotations={TERMINATION_SECONDS: "60"}))
    await driver.settle()
    await delete(driver, pods, 2)
    await driver.advance(2)
    assert status.deleted == [KEY]
    term = status.writes[-1]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 137 and term["reason"] == "Error"
    assert status.writes[-1]["phase"] == "Failed"


async def test_pod_removed_from_the_api_is_cleaned_up() -> None:
    driver, status, pods, runtime = setup(make_pod())
    await driver.settle()
    del pods[KEY]
    driver.requeue(KEY, 0)
    await driver.settle()
    assert await runtime.list_pod_sandbox() == []
    assert await runtime.list_containers() == []
    assert status.deleted == []
    assert driver.workers.records == {}


async def test_a_start_made_by_the_pods_own_sync_queues_no_second_sync() -> None:
    driver, _, pods, _ = setup(make_pod(restart="Never", annotations={EXIT_CODE: "0", RUN_SECONDS: "5"}))
    del driver.due[KEY]
    await driver.workers.sync(KEY, pods[KEY])
    assert pods[KEY]["status"]["phase"] == "Running"
    assert KEY not in driver.due, "the sync that started the container already reported it running"
    await driver.advance(5)
    assert pods[KEY]["status"]["phase"] == "Succeeded", "an exit still brings a sync"

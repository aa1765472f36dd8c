"""``ProbeManager`` and its workers on fake time: delays, periods, thresholds, startup gating,
holds, and when workers end. The prober is scripted; the handlers have their own tests."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Mapping

from navarch.kubelet.prober import ProbeManager, ProbeType, Result
from navarch.kubelet.runtimes.interface import ContainerState, ContainerStatus
from navarch.machinery.clock import FakeClock

F, S = Result.FAILURE, Result.SUCCESS
KEY = "default/p"


class ScriptedProber:
    """Answers each probe type from a script (the last answer repeats); records when it was asked."""

    def __init__(self, clock: FakeClock, **script: list[Result | None]) -> None:
        self.clock = clock
        self.script = {ProbeType[k.upper()]: list(v) for k, v in script.items()}
        self.calls: list[tuple[ProbeType, float, str]] = []
        self.duration = 0.0

    async def probe(self, probe_type: ProbeType, pod: Mapping[str, Any], pod_ip: str,
                    container: Mapping[str, Any], container_id: str) -> Result | None:
        self.calls.append((probe_type, self.clock.monotonic(), container_id))
        if self.duration:
            await self.clock.sleep(self.duration)
        answers = self.script.get(probe_type, [S])
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def times(self, probe_type: ProbeType) -> list[float]:
        return [t for kind, t, _ in self.calls if kind is probe_type]


def make_pod(restart: str = "Always", deleting: bool = False, **probes: dict[str, Any]) -> dict[str, Any]:
    container = {"name": "c", "image": "x", **{ProbeType[k.upper()].field: v for k, v in probes.items()}}
    meta: dict[str, Any] = {"name": "p", "namespace": "default", "uid": "u1"}
    if deleting:
        meta["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"restartPolicy": restart, "containers": [container]}}


def running(clock: FakeClock, cid: str = "c1", state: ContainerState = ContainerState.RUNNING,
            started: float = 0.0) -> dict[str, ContainerStatus]:
    at = clock.now() - timedelta(seconds=started)
    return {"c": ContainerStatus(id=cid, sandbox_id="sb", name="c", attempt=0, image="x", image_ref="x",
                                 state=state, created_at=at, started_at=at)}


class Harness:
    def __init__(self, **script: list[Result | None]) -> None:
        self.clock = FakeClock()
        self.prober = ScriptedProber(self.clock, **script)
        self.manager = ProbeManager(None, self.clock, prober=self.prober)
        self.changes: list[tuple[float, str]] = []
        self.manager.attach(lambda key: self.changes.append((self.clock.monotonic(), key)))

    async def settle(self) -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        for _ in range(int(seconds / step)):
            self.clock.advance(step)
            await self.settle()

    async def update(self, pod: dict[str, Any], containers: dict[str, ContainerStatus]) -> tuple[dict, dict]:
        out = self.manager.update_pod(KEY, pod, containers, "10.0.0.5")
        await self.settle()
        return out


async def test_readiness_waits_for_initial_delay_then_needs_success_threshold() -> None:
    h = Harness(readiness=[S])
    pod = make_pod(readiness={"exec": {}, "initialDelaySeconds": 15, "periodSeconds": 10, "successThreshold": 2})
    ready, started = await h.update(pod, running(h.clock))
    assert ready == {"c": False} and started == {}
    await h.run_for(35)
    assert h.prober.times(ProbeType.READINESS) == [20, 30], "probed before initialDelaySeconds or off its period"
    assert h.manager.update_pod(KEY, pod, running(h.clock, started=35), "10.0.0.5")[0] == {"c": True}
    assert (30, KEY) in h.changes, "a changed result must re-queue the pod"


async def test_readiness_is_triggered_at_once_when_the_pod_syncs_unready() -> None:
    h = Harness(readiness=[F, F, S])
    pod = make_pod(readiness={"exec": {}, "periodSeconds": 10})
    await h.update(pod, running(h.clock))
    assert h.prober.times(ProbeType.READINESS) == [0, 0]  # the worker's first round, then the trigger
    await h.run_for(3)
    await h.update(pod, running(h.clock, started=3))
    assert h.prober.times(ProbeType.READINESS) == [0, 0, 3]
    assert h.manager.update_pod(KEY, pod, running(h.clock, started=3), "10.0.0.5")[0] == {"c": True}
    await h.run_for(10)
    assert h.prober.times(ProbeType.READINESS) == [0, 0, 3, 10], "a trigger must not move the period's ticks"


async def test_readiness_flips_back_after_failure_threshold() -> None:
    h = Harness(readiness=[S, S, F])
    pod = make_pod(readiness={"exec": {}, "periodSeconds": 5, "failureThreshold": 3})
    await h.update(pod, running(h.clock))  # probed by the first round and by the trigger of an unready sync
    assert h.manager.update_pod(KEY, pod, running(h.clock), "")[0] == {"c": True}
    await h.run_for(10)
    assert h.manager.update_pod(KEY, pod, running(h.clock, started=10), "")[0] == {"c": True}, \
        "unready before failureThreshold failures in a row"
    await h.run_for(5)
    assert h.manager.update_pod(KEY, pod, running(h.clock, started=15), "")[0] == {"c": False}


async def test_liveness_failure_past_threshold_holds_until_a_new_container() -> None:
    h = Harness(liveness=[F])
    pod = make_pod(liveness={"exec": {}, "periodSeconds": 10, "failureThreshold": 3})
    await h.update(pod, running(h.clock))
    container = pod["spec"]["containers"][0]
    assert h.manager.unhealthy(container, "c1") is None, "liveness starts out healthy"
    await h.run_for(20)
    assert h.prober.times(ProbeType.LIVENESS) == [0, 10, 20]
    assert h.manager.unhealthy(container, "c1") is ProbeType.LIVENESS
    await h.run_for(30)
    assert h.prober.times(ProbeType.LIVENESS) == [0, 10, 20], "a failed container must not be probed again"
    await h.update(pod, running(h.clock, cid="c2"))
    await h.run_for(10)
    assert [cid for _, _, cid in h.prober.calls][-1] == "c2"
    assert h.manager.unhealthy(container, "c2") is None
    assert h.manager.results(ProbeType.LIVENESS).get("c1") is None, "the old instance's result is dropped"


async def test_startup_gates_liveness_and_readiness() -> None:
    h = Harness(startup=[F, F, S], liveness=[S], readiness=[S])
    pod = make_pod(startup={"exec": {}, "periodSeconds": 5, "failureThreshold": 10},
                   liveness={"exec": {}, "periodSeconds": 10}, readiness={"exec": {}, "periodSeconds": 10})
    ready, started = await h.update(pod, running(h.clock))
    assert (ready, started) == ({"c": False}, {"c": False})
    await h.run_for(9)
    assert h.prober.times(ProbeType.STARTUP) == [0, 5]
    assert h.prober.times(ProbeType.LIVENESS) == h.prober.times(ProbeType.READINESS) == []
    await h.run_for(1)
    assert h.prober.times(ProbeType.STARTUP) == [0, 5, 10]
    ready, started = h.manager.update_pod(KEY, pod, running(h.clock, started=10), "")
    assert started == {"c": True}
    await h.run_for(30)
    assert h.prober.times(ProbeType.STARTUP) == [0, 5, 10], "startup stops probing once it succeeded"
    assert h.prober.times(ProbeType.LIVENESS)[0] >= 10 and h.prober.times(ProbeType.READINESS)[0] >= 10
    assert h.manager.update_pod(KEY, pod, running(h.clock, started=40), "") == ({"c": True}, {"c": True})


async def test_startup_failure_past_threshold_is_unhealthy() -> None:
    h = Harness(startup=[F])
    pod = make_pod(startup={"exec": {}, "periodSeconds": 1, "failureThreshold": 3})
    await h.update(pod, running(h.clock))
    await h.run_for(2)
    assert h.manager.unhealthy(pod["spec"]["containers"][0], "c1") is ProbeType.STARTUP


async def test_errored_probes_count_as_nothing() -> None:
    h = Harness(liveness=[F, None, F, None, F])
    pod = make_pod(liveness={"exec": {}, "periodSeconds": 1, "failureThreshold": 3})
    await h.update(pod, running(h.clock))
    await h.run_for(3)
    assert h.manager.unhealthy(pod["spec"]["containers"][0], "c1") is None
    await h.run_for(1)
    assert h.manager.unhealthy(pod["spec"]["containers"][0], "c1") is ProbeType.LIVENESS


async def test_slow_probes_keep_the_schedule() -> None:
    h = Harness(liveness=[S])
    h.prober.duration = 3
    pod = make_pod(liveness={"exec": {}, "periodSeconds": 10})
    await h.update(pod, running(h.clock))
    await h.run_for(35)
    assert h.prober.times(ProbeType.LIVENESS) == [0, 10, 20, 30]


async def test_exited_container_is_unready_and_never_policy_ends_the_worker() -> None:
    h = Harness(readiness=[S])
    pod = make_pod(restart="Never", readiness={"exec": {}, "periodSeconds": 5})
    await h.update(pod, running(h.clock))
    assert h.manager.results(ProbeType.READINESS).get("c1") is S
    await h.update(pod, running(h.clock, state=ContainerState.EXITED))
    await h.run_for(5)
    assert h.manager.workers() == []
    assert h.manager.results(ProbeType.READINESS).get("c1") is None
    await h.update(pod, running(h.clock, state=ContainerState.EXITED))
    assert h.manager.workers() == [], "a worker that ended must not be started again"


async def test_deleting_pod_quiets_liveness() -> None:
    h = Harness(liveness=[F])
    pod = make_pod(liveness={"exec": {}, "periodSeconds": 1, "failureThreshold": 2})
    await h.update(pod, running(h.clock))
    deleting = make_pod(deleting=True, liveness={"exec": {}, "periodSeconds": 1, "failureThreshold": 2})
    await h.update(deleting, running(h.clock))
    await h.run_for(3)
    assert h.prober.times(ProbeType.LIVENESS) == [0]
    assert h.manager.workers() == []
    assert h.manager.unhealthy(deleting["spec"]["containers"][0], "c1") is None


async def test_remove_pod_stops_workers_and_drops_results() -> None:
    h = Harness(readiness=[S], liveness=[S])
    pod = make_pod(readiness={"exec": {}}, liveness={"exec": {}})
    await h.update(pod, running(h.clock))
    assert len(h.manager.workers("u1")) == 2
    h.manager.remove_pod("u1")
    await h.settle()
    assert h.manager.workers() == []
    assert len(h.manager.results(ProbeType.READINESS)) == len(h.manager.results(ProbeType.LIVENESS)) == 0
    calls = len(h.prober.calls)
    await h.run_for(30, step=10)
    assert len(h.prober.calls) == calls


async def test_containers_without_probes_get_no_workers() -> None:
    h = Harness()
    pod = make_pod()
    assert await h.update(pod, running(h.clock)) == ({}, {})
    assert h.manager.workers() == []


async def test_sidecar_probes_run_and_plain_init_containers_have_none() -> None:
    h = Harness(readiness=[S])
    pod = make_pod()
    pod["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "readinessProbe": {"exec": {}}},
        {"name": "init", "readinessProbe": {"exec": {}}},
    ]
    await h.update(pod, running(h.clock))
    assert sorted(w.name for w in h.manager.workers()) == ["side"]

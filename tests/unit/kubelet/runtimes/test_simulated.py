"""The simulated runtime: instant starts, annotated exits on the clock, events, IPs."""

from __future__ import annotations

import pytest

from navarch.kubelet.runtimes.interface import (
    CONTAINER_TYPE,
    INIT,
    ContainerConfig,
    ContainerEventType,
    ContainerState,
    NotSupportedError,
    PodSandboxConfig,
    SandboxState,
)
from navarch.kubelet.runtimes.simulated import EXIT_CODE, RUN_SECONDS, SimulatedRuntime
from navarch.machinery.clock import FakeClock


async def start(rt: SimulatedRuntime, pod_annotations: dict[str, str], **config: object) -> tuple[str, str]:
    sb_cfg = PodSandboxConfig("p", "default", "u1", annotations=pod_annotations)
    sid = await rt.run_pod_sandbox(sb_cfg)
    cid = await rt.create_container(sid, ContainerConfig(name="c", image="nginx:1.27", **config), sb_cfg)  # type: ignore[arg-type]
    await rt.start_container(cid)
    return sid, cid


async def test_runs_until_stopped_without_annotations() -> None:
    clock = FakeClock()
    rt = SimulatedRuntime(clock, "10.42.0.0/24")
    sid, cid = await start(rt, {})
    clock.advance(3600)
    assert (await rt.container_status(cid)).state is ContainerState.RUNNING
    assert (await rt.pod_sandbox_status(sid)).ip == "10.42.0.2"
    await rt.stop_container(cid, 30)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 0, "Completed")


async def test_exits_with_the_annotated_code_after_the_run_time() -> None:
    clock = FakeClock()
    rt = SimulatedRuntime(clock, "10.42.0.0/24")
    events = []
    rt.subscribe(events.append)
    _, cid = await start(rt, {EXIT_CODE: "0", f"{EXIT_CODE}.other": "9", RUN_SECONDS: "5"})
    clock.advance(4.9)
    assert (await rt.container_status(cid)).state is ContainerState.RUNNING
    clock.advance(0.1)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 0, "Completed")
    assert (st.finished_at - st.started_at).total_seconds() == 5
    assert [e.type for e in events] == [ContainerEventType.CREATED, ContainerEventType.STARTED,
                                        ContainerEventType.STOPPED]


async def test_per_container_annotation_wins_and_init_containers_exit_at_once() -> None:
    rt = SimulatedRuntime(FakeClock(), "10.42.0.0/24")
    _, cid = await start(rt, {EXIT_CODE: "0", f"{EXIT_CODE}.c": "4"})
    assert (await rt.container_status(cid)).exit_code == 4
    _, init = await start(rt, {}, annotations={CONTAINER_TYPE: INIT})
    assert (await rt.container_status(init)).state is ContainerState.EXITED


async def test_stopping_the_sandbox_releases_its_ip() -> None:
    rt = SimulatedRuntime(FakeClock(), "10.42.0.0/30")
    sid, cid = await start(rt, {})
    await rt.stop_pod_sandbox(sid)
    assert (await rt.pod_sandbox_status(sid)).state is SandboxState.NOTREADY
    assert (await rt.container_status(cid)).exit_code == 137
    sid2, _ = await start(rt, {})
    assert (await rt.pod_sandbox_status(sid2)).ip == "10.42.0.2"
    await rt.remove_pod_sandbox(sid)
    await rt.remove_pod_sandbox(sid)  # idempotent
    assert len(await rt.list_pod_sandbox()) == 1


async def test_no_pod_cidr_means_network_not_ready() -> None:
    rt = SimulatedRuntime(FakeClock())
    assert not [c for c in await rt.status() if c.type == "NetworkReady"][0].status
    with pytest.raises(NotSupportedError):
        await rt.run_pod_sandbox(PodSandboxConfig("p", "default", "u"))
    await rt.update_runtime_config("10.42.9.0/24")
    assert all(c.status for c in await rt.status())


async def test_streaming_is_not_supported() -> None:
    rt = SimulatedRuntime(FakeClock())
    with pytest.raises(NotSupportedError):
        await rt.exec_sync("x", ["true"], 1)

"""The zygote that forks the shims: found again by a new runtime, replaced when it dies or runs other
code, and never needed by running containers. Every test kills what it started, by PID."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from navarch.kubelet.runtimes.interface import ContainerState
from navarch.kubelet.runtimes.process import ProcessRuntime, state, zygote
from tests.unit.kubelet.runtimes.process.test_runtime import (
    alive,
    kill_everything,
    kill_zygote,
    run,
    wait_exited,
)


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(str(tmp_path))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
        kill_everything(tmp_path)


def zygote_record(root: Path) -> dict:
    return state.read_json(root / zygote.ZYGOTE_FILE) or {}


async def wait_dead(pid: int) -> None:
    async with asyncio.timeout(10):
        while alive(pid):
            await asyncio.sleep(0.02)


async def test_start_launches_one_zygote_that_forks_the_shims(rt: ProcessRuntime, tmp_path: Path) -> None:
    pid = rt.zygote_pid
    assert pid is not None and pid == zygote_record(tmp_path)["pid"] and alive(pid)
    _, cid = await run(rt, ["sleep", "1000"])
    started = state.read_json(tmp_path / state.CONTAINERS / cid / state.STARTED_FILE)
    assert state.same_process(started["shim_pid"], started["shim_start_time"])
    # The shim is the zygote's fork, in a session of its own, not the kubelet's child.
    stat = Path(f"/proc/{started['shim_pid']}/stat").read_text().rsplit(")", 1)[1].split()
    ppid, sid = int(stat[1]), int(stat[3])
    assert ppid == pid and sid == started["shim_pid"] and ppid != os.getpid()
    assert Path(f"/proc/{started['shim_pid']}/comm").read_text().strip() == "navarch-shim"
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "navarch-zygote"


async def test_a_killed_zygote_is_replaced_and_running_containers_do_not_notice(
        rt: ProcessRuntime, tmp_path: Path) -> None:
    _, before = await run(rt, ["sleep", "1000"])
    old = kill_zygote(tmp_path)
    assert old is not None
    await wait_dead(old)
    _, after = await run(rt, ["sh", "-c", "exit 5"])
    assert rt.zygote_pid not in (None, old) and alive(rt.zygote_pid)
    assert (await wait_exited(rt, after)).exit_code == 5
    assert (await rt.container_status(before)).state is ContainerState.RUNNING
    await rt.stop_container(before, 5)
    assert (await rt.container_status(before)).exit_code == 143


async def test_a_new_runtime_finds_the_living_zygote_and_adopts_containers(tmp_path: Path) -> None:
    first = ProcessRuntime(str(tmp_path))
    second = ProcessRuntime(str(tmp_path))
    try:
        await first.start()
        _, running = await run(first, ["sleep", "1000"])
        pid = first.zygote_pid
        await first.close()  # the kubelet goes away; the zygote and the container stay
        assert pid is not None and alive(pid)
        await second.start()
        assert second.zygote_pid == pid
        assert (await second.container_status(running)).state is ContainerState.RUNNING
        _, more = await run(second, ["sh", "-c", "exit 2"])
        assert (await wait_exited(second, more)).exit_code == 2
        assert zygote_record(tmp_path)["pid"] == pid
        await second.stop_container(running, 0)
        assert (await second.container_status(running)).exit_code == 137
    finally:
        await first.close()
        await second.close()
        kill_everything(tmp_path)


async def test_a_zygote_running_other_code_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = ProcessRuntime(str(tmp_path))
    second = ProcessRuntime(str(tmp_path))
    try:
        first._fingerprint = "navarch from another day"  # its zygote runs older code than the second
        await first.start()
        _, running = await run(first, ["sleep", "1000"])
        old = first.zygote_pid
        await first.close()
        await second.start()
        assert old is not None and second.zygote_pid != old
        await wait_dead(old)
        assert (await second.container_status(running)).state is ContainerState.RUNNING
        await second.stop_container(running, 0)
    finally:
        await first.close()
        await second.close()
        kill_everything(tmp_path)


async def test_the_zygote_serves_only_container_dirs_of_its_root(rt: ProcessRuntime, tmp_path: Path) -> None:
    reader, writer = await asyncio.open_unix_connection(zygote.socket_name(tmp_path.resolve()))
    writer.write(b'{"op": "spawn", "dir": "/etc"}\n')
    async with asyncio.timeout(5):
        assert b"not a container dir" in await reader.readline()
    writer.close()


async def test_the_zygote_leaves_when_its_root_dir_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The serving loop alone, in a thread (it forks nothing unless asked to spawn).
    monkeypatch.setattr(zygote, "ROOT_CHECK", 0.05)
    (tmp_path / state.CONTAINERS).mkdir(parents=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(zygote.socket_name(tmp_path))
    listener.listen(8)
    serving = asyncio.create_task(asyncio.to_thread(zygote.Zygote(tmp_path, listener, "x").serve))
    reader, writer = await asyncio.open_unix_connection(zygote.socket_name(tmp_path))
    writer.write(b'{"op": "hello"}\n')
    async with asyncio.timeout(5):
        assert json.loads(await reader.readline()) == {"pid": os.getpid(), "fingerprint": "x"}
    await asyncio.sleep(0.2)
    assert not serving.done()
    (tmp_path / state.CONTAINERS).rmdir()
    async with asyncio.timeout(5):
        await serving
    assert listener.fileno() == -1  # closed: the name is free for the next zygote
    writer.close()


def test_zygote_names_depend_on_the_root_dir(tmp_path: Path) -> None:
    assert zygote.socket_name(tmp_path / "a") != zygote.socket_name(tmp_path / "b")
    assert zygote.socket_name(tmp_path).startswith("\0navarch-zygote/")
    assert zygote.fingerprint() == zygote.fingerprint()
    assert signal.SIGCHLD  # the zygote ignores it; shims reset it (see test above: exit codes arrive)


def test_the_runtime_works_under_uvloop(tmp_path: Path) -> None:
    """The kubelet runs on uvloop when it is installed, and uvloop refuses abstract socket names in
    ``open_unix_connection``: zygote, control and attach connections must still work."""
    uvloop = pytest.importorskip("uvloop")

    async def scenario() -> tuple[int, bytes]:
        runtime = ProcessRuntime(str(tmp_path))
        try:
            async with asyncio.timeout(20):
                await runtime.start()
                _, cid = await run(runtime, ["sh", "-c", "read x; echo got-$x; exit 3"], stdin=True)
                session = await runtime.attach(cid, stdin=True, tty=False)
                await session.write_stdin(b"hi\n")
                out = await session.read_stdout()
                return (await wait_exited(runtime, cid)).exit_code, out
        finally:
            await runtime.close()

    try:
        assert uvloop.run(scenario()) == (3, b"got-hi\n")
    finally:
        kill_everything(tmp_path)

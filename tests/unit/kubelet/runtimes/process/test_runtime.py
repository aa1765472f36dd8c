"""The process runtime with real processes: lifecycle, stop, logs, exec, attach, adoption, and
(as root) cgroup limits and mount namespaces. Every test kills what it started, by PID, even when
it fails (the ``rt`` fixture's cleanup reads the pids the shims recorded under the root dir)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from navarch.kubelet.runtimes.interface import (
    ContainerConfig,
    ContainerEvent,
    ContainerEventType,
    ContainerState,
    ContainerStatus,
    CreateContainerConfigError,
    LogOptions,
    Mount,
    PodSandboxConfig,
    RuntimeFailure,
    SandboxState,
)
from navarch.kubelet.runtimes.process import ProcessRuntime, cgroups, state, zygote
from navarch.kubelet.volumes.mounts import unmount_all_under

ROOT = os.geteuid() == 0
needs_cgroups = pytest.mark.skipif(not cgroups.available(), reason="needs root and writable v1 cgroups")
needs_root = pytest.mark.skipif(not ROOT, reason="mount namespaces need root")

SANDBOX = PodSandboxConfig("p", "default", "uid-1")


def kill_everything(root: Path) -> None:
    """Kill every container process and shim recorded under ``root``, and the zygote, by pid (each
    checked against its recorded /proc start time), remove their cgroups, and unmount the state."""
    for d in (root / state.CONTAINERS).glob("*"):
        started = state.read_json(d / state.STARTED_FILE) or {}
        pid = started.get("pid")
        if pid and state.same_process(pid, started.get("start_time")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        shim = started.get("shim_pid")
        if shim and state.same_process(shim, started.get("shim_start_time")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(shim, signal.SIGKILL)
        config = state.read_json(d / state.CONFIG_FILE) or {}
        if config.get("cgroup"):
            cgroups.Cgroup(config["cgroup"]).remove()
    kill_zygote(root)
    unmount_all_under(str(root))  # the state tmpfs, when a test ended with containers left


def kill_zygote(root: Path) -> int | None:
    """SIGKILL the zygote serving ``root``, if it runs; its pid."""
    record = state.read_json(root / zygote.ZYGOTE_FILE) or {}
    pid = record.get("pid")
    if pid and state.same_process(pid, record.get("start_time")):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        return pid
    return None


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(str(tmp_path), node_ips=("10.0.0.5", "fd00::5"))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.close()
        kill_everything(tmp_path)


async def run(rt: ProcessRuntime, command: Sequence[str], **config: object) -> tuple[str, str]:
    sid = await rt.run_pod_sandbox(SANDBOX)
    cid = await rt.create_container(sid, ContainerConfig(name="c", image="busybox", command=tuple(command),
                                                         **config), SANDBOX)  # type: ignore[arg-type]
    await rt.start_container(cid)
    return sid, cid


async def wait_exited(rt: ProcessRuntime, cid: str, timeout: float = 10) -> ContainerStatus:
    async with asyncio.timeout(timeout):
        while (st := await rt.container_status(cid)).state is not ContainerState.EXITED:
            await asyncio.sleep(0.02)
    return st


async def logs(rt: ProcessRuntime, cid: str, **options: object) -> bytes:
    out = b""
    async with asyncio.timeout(10):
        async for chunk in rt.container_logs(cid, LogOptions(**options)):  # type: ignore[arg-type]
            out += chunk
    return out


async def wait_for_log(rt: ProcessRuntime, cid: str, text: bytes) -> None:
    async with asyncio.timeout(10):
        while text not in await logs(rt, cid):
            await asyncio.sleep(0.02)


# ---- lifecycle ---------------------------------------------------------------------------------------

async def test_runs_command_with_exact_env_and_workdir(rt: ProcessRuntime, tmp_path: Path) -> None:
    events: list[ContainerEvent] = []
    rt.subscribe(events.append)
    wd = tmp_path / "work" / "dir"
    _, cid = await run(rt, ["sh", "-c", 'echo "$FOO"; pwd; echo oops >&2; exec env'], args=(),
                       envs={"FOO": "bar baz"}, working_dir=str(wd))
    st = await wait_exited(rt, cid)
    assert (st.exit_code, st.reason) == (0, "Completed")
    assert st.started_at is not None and st.finished_at is not None and st.finished_at >= st.started_at
    out = (await logs(rt, cid)).decode().splitlines()
    assert out[:3] == ["bar baz", str(wd), "oops"] or out[:2] == ["bar baz", str(wd)]
    env = sorted(line for line in out if "=" in line)
    # Exactly the container's variables, a default PATH, and the PWD that sh itself exports.
    assert env == ["FOO=bar baz", f"PATH={state.DEFAULT_PATH}", f"PWD={wd}"]
    assert [e.type for e in events if e.container_id == cid] == [
        ContainerEventType.CREATED, ContainerEventType.STARTED, ContainerEventType.STOPPED]


@pytest.mark.parametrize("command,code,reason", [
    (["sh", "-c", "exit 3"], 3, "Error"),
    (["true"], 0, "Completed"),
    (["sh", "-c", "kill -9 $$"], 137, "Error"),
], ids=["exit-3", "exit-0", "killed"])
async def test_exit_codes_and_reasons(rt: ProcessRuntime, command: list[str], code: int, reason: str) -> None:
    _, cid = await run(rt, command)
    st = await wait_exited(rt, cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, code, reason)


async def test_the_container_starts_clean(rt: ProcessRuntime) -> None:
    """posix_spawn leaves nothing of the shim behind: only fds 0-2, a session of its own, default
    signal dispositions (the shim ignores SIGHUP and SIGPIPE)."""
    script = "ls /proc/$$/fd; grep -E '^SigIgn' /proc/$$/status; ps -o pid=,sid= -p $$"
    _, cid = await run(rt, ["sh", "-c", script])
    await wait_exited(rt, cid)
    out = (await logs(rt, cid)).decode().split()
    assert out[:3] == ["0", "1", "2"] and out[3] == "SigIgn:"
    assert int(out[4], 16) & ((1 << (signal.SIGHUP - 1)) | (1 << (signal.SIGPIPE - 1))) == 0
    assert out[5] == out[6]  # pid == session id: a session leader


async def test_a_tty_container_has_it_as_controlling_terminal(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", "tty; ps -o tty= -p $$"], tty=True)
    await wait_exited(rt, cid)
    lines = (await logs(rt, cid)).decode().split()
    assert lines[0].startswith("/dev/pts/") and lines[1] == lines[0].removeprefix("/dev/")


async def test_the_command_is_found_in_the_container_path(rt: ProcessRuntime, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "hello-prog").write_text("#!/bin/sh\necho hello from $0\n")
    (bin_dir / "hello-prog").chmod(0o755)
    (bin_dir / "not-executable").write_text("#!/bin/sh\n")
    _, cid = await run(rt, ["hello-prog"], envs={"PATH": f"/nonexistent:{bin_dir}"})
    await wait_exited(rt, cid)
    assert await logs(rt, cid) == f"hello from {bin_dir}/hello-prog\n".encode()
    with pytest.raises(RuntimeFailure, match='exec: "not-executable": permission denied'):
        await run(rt, ["not-executable"], envs={"PATH": str(bin_dir)})


async def test_container_without_command_is_a_config_error(rt: ProcessRuntime) -> None:
    sid = await rt.run_pod_sandbox(SANDBOX)
    with pytest.raises(CreateContainerConfigError, match='image "nginx:1.27".*command'):
        await rt.create_container(sid, ContainerConfig(name="web", image="nginx:1.27", args=("-g",)), SANDBOX)
    assert await rt.list_containers() == []


async def test_missing_executable_is_a_start_error(rt: ProcessRuntime) -> None:
    with pytest.raises(RuntimeFailure, match="no-such-program-xyz.*not found"):
        await run(rt, ["no-such-program-xyz"])
    [st] = await rt.list_containers()
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 128, "StartError")


async def test_stop_sends_sigterm_to_a_trapping_process(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", 'trap "echo bye; exit 0" TERM; echo ready; while :; do sleep 0.05; done'])
    await wait_for_log(rt, cid, b"ready")
    await rt.stop_container(cid, 20)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 0, "Completed")
    assert (await logs(rt, cid)).endswith(b"bye\n")


async def test_stop_kills_after_the_timeout(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 0.05; done'])
    await wait_for_log(rt, cid, b"ready")
    await rt.stop_container(cid, 0.3)
    st = await rt.container_status(cid)
    assert (st.state, st.exit_code, st.reason) == (ContainerState.EXITED, 137, "Error")
    pid = state.read_json(rt.root / state.CONTAINERS / cid / state.STARTED_FILE)["pid"]
    assert not alive(pid)
    await rt.stop_container(cid, 1)  # idempotent


async def test_leftover_processes_are_killed_with_the_container(rt: ProcessRuntime, tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    _, cid = await run(rt, ["sh", "-c", f"sleep 1000 & echo $! > {pidfile}; exit 0"])
    await wait_exited(rt, cid)
    pid = int(pidfile.read_text())
    async with asyncio.timeout(5):
        while alive(pid):
            await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    """Running, and not just a zombie waiting for whoever inherited it to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2:][:1] != b"Z"


async def test_sandboxes_use_the_node_ip_and_stop_their_containers(rt: ProcessRuntime, tmp_path: Path) -> None:
    sid, cid = await run(rt, ["sleep", "1000"])
    sb = await rt.pod_sandbox_status(sid)
    assert (sb.ip, sb.additional_ips, sb.state, sb.uid) == ("10.0.0.5", ("fd00::5",), SandboxState.READY, "uid-1")
    assert (await rt.container_status(cid)).state is ContainerState.RUNNING
    await rt.stop_pod_sandbox(sid)
    assert (await rt.pod_sandbox_status(sid)).state is SandboxState.NOTREADY
    assert (await rt.container_status(cid)).exit_code == 137
    await rt.remove_pod_sandbox(sid)
    await rt.remove_pod_sandbox(sid)
    assert await rt.list_pod_sandbox() == [] and await rt.list_containers() == []
    assert list((tmp_path / state.CONTAINERS).iterdir()) == []
    assert list((tmp_path / state.SANDBOXES).iterdir()) == []


async def test_images_always_pull(rt: ProcessRuntime) -> None:
    ref = await rt.pull_image("nginx:1.27")
    image = await rt.image_status("nginx:1.27")
    assert image is not None and ref.startswith("nginx@sha256:") and image.repo_digests == (ref,)
    assert await rt.pull_image("nginx:1.27") == ref


# ---- logs --------------------------------------------------------------------------------------------

async def test_log_file_is_cri_format_and_options_apply(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", "echo one; echo two >&2; printf 'three'"])
    st = await wait_exited(rt, cid)
    records = Path(st.log_path).read_bytes().splitlines()
    streams = sorted((r.split(b" ")[1], r.split(b" ", 3)[3]) for r in records)
    assert streams == [(b"stderr", b"two"), (b"stdout", b"one"), (b"stdout", b"three")]
    ts = records[0].split(b" ")[0].decode()
    assert len(ts) == 30 and ts.endswith("Z")
    assert await logs(rt, cid, tail_lines=1) in (b"three\n", b"two\n", b"one\n")
    assert len((await logs(rt, cid, tail_lines=2)).splitlines()) == 2
    assert await logs(rt, cid, tail_lines=0) == b""
    assert await logs(rt, cid, limit_bytes=5) == (await logs(rt, cid))[:5]
    stamped = (await logs(rt, cid, timestamps=True)).splitlines()[0].decode()
    when, _, _ = stamped.partition(" ")
    assert datetime.fromisoformat(when).tzinfo is not None
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await logs(rt, cid, since=future) == b""


async def test_logs_rotate_and_read_across_files(tmp_path: Path) -> None:
    rt = ProcessRuntime(str(tmp_path), max_log_bytes=400, max_log_files=3)
    await rt.start()
    try:
        _, cid = await run(rt, ["sh", "-c", "i=0; while [ $i -lt 40 ]; do echo line-$i; i=$((i+1)); done"])
        st = await wait_exited(rt, cid)
        assert st.log_path == str(tmp_path / state.LOGS / f"{cid}.log")
        files = sorted(p.name for p in (tmp_path / state.LOGS).glob(f"{cid}.log*"))
        assert files == [f"{cid}.log", f"{cid}.log.1", f"{cid}.log.2"]
        assert all(p.stat().st_size <= 400 for p in (tmp_path / state.LOGS).glob(f"{cid}.log*"))
        lines = (await logs(rt, cid)).decode().splitlines()
        assert lines == [f"line-{i}" for i in range(40 - len(lines), 40)] and len(lines) > 8
        assert (await logs(rt, cid, tail_lines=len(lines) - 1)).decode().splitlines() == lines[1:]
    finally:
        await rt.close()
        kill_everything(tmp_path)


async def test_follow_streams_until_the_container_exits(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", "echo a; sleep 0.3; echo b; sleep 0.3; echo c"])
    assert await logs(rt, cid, follow=True) == b"a\nb\nc\n"
    assert (await wait_exited(rt, cid)).exit_code == 0


# ---- exec, attach, port-forward ----------------------------------------------------------------------

async def test_exec_sync_runs_in_the_container_environment(rt: ProcessRuntime, tmp_path: Path) -> None:
    _, cid = await run(rt, ["sleep", "1000"], envs={"FOO": "bar"}, working_dir=str(tmp_path))
    result = await rt.exec_sync(cid, ["sh", "-c", 'echo "$FOO"; pwd; echo err >&2; exit 4'], 10)
    assert (result.stdout, result.stderr, result.exit_code) == (f"bar\n{tmp_path}\n".encode(), b"err\n", 4)
    with pytest.raises(TimeoutError):
        await rt.exec_sync(cid, ["sleep", "30"], 0.3)


async def test_exec_with_pipes(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sleep", "1000"])
    session = await rt.exec(cid, ["sh", "-c", "cat; echo done >&2; exit 2"], stdin=True, tty=False)
    await session.write_stdin(b"hello")
    await session.close_stdin()
    async with asyncio.timeout(10):
        assert await session.read_stdout() == b"hello"
        assert await session.read_stdout() == b""
        assert await session.read_stderr() == b"done\n"
        assert await session.wait() == 2


async def test_exec_with_a_tty_and_resize(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sleep", "1000"])
    session = await rt.exec(cid, ["sh", "-c", "read x; stty size; echo got-$x; exit 3"], stdin=True, tty=True)
    await session.resize(101, 42)
    await session.write_stdin(b"hi\n")
    out = b""
    async with asyncio.timeout(10):
        while chunk := await session.read_stdout():
            out += chunk
        assert await session.wait() == 3
    assert b"42 101" in out and b"got-hi" in out


async def test_attach_streams_output_and_stdin(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sh", "-c", "while read l; do echo got-$l; echo err-$l >&2; done"],
                       stdin=True, stdin_once=True)
    session = await rt.attach(cid, stdin=True, tty=False)
    await session.write_stdin(b"x\n")
    async with asyncio.timeout(10):
        assert await session.read_stdout() == b"got-x\n"
        assert await session.read_stderr() == b"err-x\n"
        await session.close_stdin()  # stdinOnce: the container's stdin closes, and it ends
        assert await session.wait() == 0
    assert (await wait_exited(rt, cid)).exit_code == 0
    assert await logs(rt, cid) == b"got-x\nerr-x\n" or sorted((await logs(rt, cid)).splitlines()) == [
        b"err-x", b"got-x"]


async def test_port_forward_connects_on_the_host_network(rt: ProcessRuntime) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read(100))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sid = await rt.run_pod_sandbox(SANDBOX)
        stream = await rt.port_forward(sid, port)
        await stream.write(b"ping")
        async with asyncio.timeout(5):
            assert await stream.read() == b"echo:ping"
            assert await stream.read() == b""
        await stream.close()
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(RuntimeFailure):
        await rt.port_forward(sid, port)


# ---- adoption ----------------------------------------------------------------------------------------

async def test_a_new_runtime_adopts_running_containers_and_reports_missed_exits(tmp_path: Path) -> None:
    first = ProcessRuntime(str(tmp_path))
    await first.start()
    second = ProcessRuntime(str(tmp_path))
    try:
        _, long = await run(first, ["sh", "-c", "echo started; exec sleep 1000"])
        _, short = await run(first, ["sh", "-c", "read x; exit 7"], stdin=True)
        pid = (await first.container_status(long)).log_path
        await wait_for_log(first, long, b"started")
        await first.close()  # the kubelet goes away; containers keep running
        # While nobody watches, the short one ends.
        session_sock = state.attach_socket_name(short)
        _, writer = await asyncio.open_unix_connection(session_sock)
        from navarch.kubelet.runtimes.process import attach
        writer.write(attach.frame(attach.STDIN, b"go\n"))
        await writer.drain()
        async with asyncio.timeout(10):
            while not (tmp_path / state.CONTAINERS / short / state.EXIT_FILE).exists():
                await asyncio.sleep(0.02)
        writer.close()

        await second.start()
        events: list[ContainerEvent] = []
        second.subscribe(events.append)
        await asyncio.sleep(0.05)
        assert [(e.container_id, e.type) for e in events] == [(short, ContainerEventType.STOPPED)]
        st = await second.container_status(long)
        assert st.state is ContainerState.RUNNING and st.log_path == pid
        assert (await second.container_status(short)).exit_code == 7
        assert len(await second.list_pod_sandbox()) == 2
        result = await second.exec_sync(long, ["echo", "still here"], 10)
        assert result.stdout == b"still here\n"
        await second.stop_container(long, 5)
        st = await second.container_status(long)
        assert (st.state, st.exit_code) == (ContainerState.EXITED, 143)
        assert [e.type for e in events if e.container_id == long] == [ContainerEventType.STOPPED]
    finally:
        await first.close()
        await second.close()
        kill_everything(tmp_path)


def mount_type(path: Path) -> str | None:
    """The filesystem type mounted exactly at ``path`` (None: not a mount point)."""
    found = None
    with open("/proc/self/mounts") as f:
        for line in f:
            _, point, fstype, *_ = line.split()
            if point == str(path):
                found = fstype  # the last one listed is the one on top
    return found


@needs_root
async def test_the_state_is_a_tmpfs_that_outlives_the_runtime_while_containers_run(tmp_path: Path) -> None:
    rt = ProcessRuntime(str(tmp_path))
    try:
        await rt.start()
        assert mount_type(tmp_path / state.STATE) == "tmpfs"
        sid, cid = await run(rt, ["sleep", "1000"])
        assert (tmp_path / state.CONTAINERS / cid / state.STARTED_FILE).exists()
        assert mount_type(tmp_path / state.LOGS) is None  # logs stay on disk
        await rt.close()
        assert mount_type(tmp_path / state.STATE) == "tmpfs"  # the next runtime needs the records
        rt = ProcessRuntime(str(tmp_path))
        await rt.start()
        assert [s.id for s in await rt.list_pod_sandbox()] == [sid]
        assert (await rt.container_status(cid)).state is ContainerState.RUNNING
        await rt.remove_pod_sandbox(sid)
        await rt.close()
        assert mount_type(tmp_path / state.STATE) is None  # nothing left to adopt: no mount left
        assert list((tmp_path / state.LOGS).iterdir()) == []
    finally:
        await rt.close()
        kill_everything(tmp_path)


async def test_records_of_the_layout_before_state_are_still_adopted(tmp_path: Path) -> None:
    # Written by a runtime with its state on disk, then moved where navarch kept records before.
    first = ProcessRuntime(str(tmp_path), state_in_memory=False)
    second = ProcessRuntime(str(tmp_path))
    try:
        await first.start()
        sid, cid = await run(first, ["sh", "-c", "exit 3"])
        await wait_exited(first, cid)
        await first.close()
        for old, new in ((state.LEGACY_SANDBOXES, state.SANDBOXES), (state.LEGACY_CONTAINERS, state.CONTAINERS)):
            (tmp_path / new).rename(tmp_path / old)
        shutil.rmtree(tmp_path / state.STATE)
        await second.start()
        assert [s.id for s in await second.list_pod_sandbox()] == [sid]
        st = await second.container_status(cid)
        assert (st.state, st.exit_code) == (ContainerState.EXITED, 3)
        await second.remove_pod_sandbox(sid)
        assert list((tmp_path / state.LEGACY_CONTAINERS).iterdir()) == []
    finally:
        await first.close()
        await second.close()
        kill_everything(tmp_path)


# ---- root: cgroups and mount namespaces --------------------------------------------------------------

@needs_cgroups
async def test_memory_limit_kill_is_oomkilled_and_cgroups_are_removed(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["python3", "-c", "b = b'x' * (256 * 2**20); print('survived')"],
                       memory_limit_bytes=64 * 2**20, cpu_millis=500)
    st = await wait_exited(rt, cid, 20)
    assert (st.exit_code, st.reason) == (137, "OOMKilled")
    group = cgroups.Cgroup.for_container(cid)
    assert Path(group.path("memory"), "memory.limit_in_bytes").read_text().strip() == str(64 * 2**20)
    assert Path(group.path("cpu"), "cpu.cfs_quota_us").read_text().strip() == "50000"
    await rt.remove_container(cid)
    assert not any(Path(group.path(c)).exists() for c in cgroups.CONTROLLERS)


@needs_cgroups
async def test_exec_joins_the_container_cgroup(rt: ProcessRuntime) -> None:
    _, cid = await run(rt, ["sleep", "1000"])
    result = await rt.exec_sync(cid, ["cat", "/proc/self/cgroup"], 10)
    assert f"memory:/{cgroups.PARENT}/{cid}" in result.stdout.decode()


@needs_cgroups
async def test_the_shim_leaves_the_container_cgroup_and_namespace_it_spawned_into(rt: ProcessRuntime) -> None:
    """The shim steps into the container's cgroups and mount namespace to spawn it, and back out:
    it must not count against the container's limits, nor be killed with its leftovers."""
    _, cid = await run(rt, ["sleep", "1000"], memory_limit_bytes=64 * 2**20)
    started = state.read_json(rt.root / state.CONTAINERS / cid / state.STARTED_FILE)
    shim, container = started["shim_pid"], started["pid"]
    group = cgroups.Cgroup.for_container(cid)
    assert group.pids() == [container]
    assert cgroups.current_procs_files(shim) == cgroups.current_procs_files()
    assert os.readlink(f"/proc/{shim}/ns/mnt") == os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{container}/ns/mnt") != os.readlink("/proc/self/ns/mnt")


@needs_root
async def test_mounts_are_bound_in_a_private_mount_namespace(rt: ProcessRuntime, tmp_path: Path) -> None:
    source = tmp_path / "volume"
    source.mkdir()
    (source / "data").write_text("from the host\n")
    target = Path("/tmp") / f"navarch-test-{uuid.uuid4().hex[:12]}" / "mnt"
    try:
        _, cid = await run(rt, ["sh", "-c", (f"cat {target}/data; touch {target}/new || echo read-only; "
                                             "exec sleep 1000")],
                           mounts=(Mount(str(target), str(source), readonly=True),))
        await wait_for_log(rt, cid, b"read-only")
        assert b"from the host\n" in await logs(rt, cid)
        assert list(target.iterdir()) == []  # the bind mount did not leak to the host
        result = await rt.exec_sync(cid, ["cat", f"{target}/data"], 10)
        assert result.stdout == b"from the host\n"
        assert not (source / "new").exists()
    finally:
        shutil.rmtree(target.parent, ignore_errors=True)


def test_the_shim_state_is_json_on_disk(tmp_path: Path) -> None:
    state.write_json(tmp_path / "x.json", {"a": 1})
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}
    assert state.read_json(tmp_path / "missing.json") is None
    assert state.proc_start_time(os.getpid()) is not None

"""Container start cost of the process runtime: create + start of ``sleep 30`` containers.

    .venv/bin/python benchmarks/container_start_bench.py [--count 100] [--no-cgroups] [--keep]

Runs a ``ProcessRuntime`` in this process on a temporary root dir (cgroups as the runtime detects
them: as root they are created per container), then two phases of ``--count`` containers each, every
container in its own sandbox like a pod:

- ``sequential``: one create+start after the other;
- ``concurrent``: all create+starts at once (``asyncio.gather``), as a burst of pods does.

Per phase (``P`` = ``process.container_start`` for the sequential phase and
``process.container_start.concurrent`` for the burst) it prints:

- ``P.p50`` / ``P.p99`` / ``P.max``: wall time of one create+start, ms;
- ``P.seconds``: the whole phase, s;
- ``P.cpu_per_start``: CPU time per container start, ms, all processes that do the starting: this
  process (the "kubelet"), the children it reaped, the zygote (when there is one) and the shims
  (from /proc/PID/schedstat); ``P.cpu_per_start.kubelet`` and ``.shim`` split it; ``.container`` is the container
  processes' own CPU (their set-up before exec, then ``sleep``), reported apart.

``process.runtime_start`` is the time ``ProcessRuntime.start()`` took (it starts the zygote). Every
phase stops and removes its containers, and the run ends by killing whatever is still alive of what it
started (shims, containers, the zygote), by pid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from navarch.kubelet.runtimes.interface import ContainerConfig, PodSandboxConfig
from navarch.kubelet.runtimes.process import ProcessRuntime, state


def proc_cpu(pid: int) -> float:
    """CPU time of a live process, seconds, from /proc/PID/schedstat (nanoseconds: utime/stime in
    /proc/PID/stat count whole clock ticks, which rounds a few milliseconds to nothing), 0 when gone."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def own_cpu() -> float:
    """This process and the children it has reaped, seconds."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def zygote_pid(root: Path) -> int | None:
    record = state.read_json(root / "zygote.json") or {}
    pid = record.get("pid")
    return pid if pid and state.same_process(pid, record.get("start_time")) else None


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one(rt: ProcessRuntime, i: int, tag: str) -> tuple[str, float]:
    sandbox = PodSandboxConfig(f"bench-{tag}-{i}", "default", f"uid-{tag}-{i}")
    sid = await rt.run_pod_sandbox(sandbox)
    t0 = time.perf_counter()
    cid = await rt.create_container(sid, ContainerConfig(name="c", image="busybox", command=("sleep", "30")),
                                    sandbox)
    await rt.start_container(cid)
    return sid, time.perf_counter() - t0


async def phase(rt: ProcessRuntime, root: Path, name: str, count: int, concurrent: bool) -> None:
    zpid = zygote_pid(root)
    cpu0, z0 = own_cpu(), proc_cpu(zpid) if zpid else 0.0
    t0 = time.perf_counter()
    if concurrent:
        results = await asyncio.gather(*(one(rt, i, "c") for i in range(count)))
    else:
        results = [await one(rt, i, "s") for i in range(count)]
    seconds = time.perf_counter() - t0
    kubelet = own_cpu() - cpu0
    zygote = (proc_cpu(zpid) - z0) if zpid else 0.0
    shims = containers = 0.0
    for d in (root / state.CONTAINERS).iterdir():
        started = state.read_json(d / state.STARTED_FILE) or {}
        shims += proc_cpu(started.get("shim_pid", 0)) if started.get("shim_pid") else 0.0
        containers += proc_cpu(started["pid"]) if started.get("pid") else 0.0
    walls = [w * 1000 for _, w in results]
    print(f"{name}.p50 {pct(walls, 0.5):.1f} ms")
    print(f"{name}.p99 {pct(walls, 0.99):.1f} ms")
    print(f"{name}.max {max(walls):.1f} ms")
    print(f"{name}.mean {statistics.fmean(walls):.1f} ms")
    print(f"{name}.seconds {seconds:.2f} s")
    print(f"{name}.cpu_per_start {(kubelet + zygote + shims) / count * 1000:.1f} ms")
    print(f"{name}.cpu_per_start.kubelet {kubelet / count * 1000:.1f} ms")
    print(f"{name}.cpu_per_start.shim {(zygote + shims) / count * 1000:.1f} ms")
    print(f"{name}.cpu_per_start.container {containers / count * 1000:.1f} ms")
    sys.stdout.flush()
    t1 = time.perf_counter()
    await asyncio.gather(*(rt.remove_pod_sandbox(sid) for sid, _ in results))
    print(f"# {name}: stopped and removed {count} containers in {time.perf_counter() - t1:.2f} s")


def kill_leftovers(root: Path) -> None:
    for d in (root / state.CONTAINERS).glob("*"):
        started = state.read_json(d / state.STARTED_FILE) or {}
        for key in ("pid", "shim_pid"):
            pid = started.get(key)
            if pid and state.same_process(pid, started.get("start_time") if key == "pid" else None):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    zpid = zygote_pid(root)
    if zpid:
        with contextlib.suppress(OSError):
            os.kill(zpid, signal.SIGKILL)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--no-cgroups", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary root dir")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="navarch-cstart-"))
    print(f"# load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cpus, root dir {root}")
    rt = ProcessRuntime(str(root), cgroups=False if args.no_cgroups else None)
    try:
        t0 = time.perf_counter()
        await rt.start()
        print(f"process.runtime_start {(time.perf_counter() - t0) * 1000:.1f} ms")
        print(f"# isolated={rt.isolated} cgroups={rt.cgroups}")
        await phase(rt, root, "process.container_start", args.count, concurrent=False)
        await phase(rt, root, "process.container_start.concurrent", args.count, concurrent=True)
    finally:
        await rt.close()
        kill_leftovers(root)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())

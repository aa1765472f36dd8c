"""Pod start latency on the local node: a burst of pods, created -> Running as a watch sees it.

    .venv/bin/python benchmarks/pod_start_bench.py [--pods 100] [--rounds 3] [--concurrency 32] [--keep]
        [--profile] [--server-arg=FLAG ...]

Starts its own ``navarch server`` with its local agent (temporary data dir, free loopback port, the
kubelet on a free port with node IP 127.0.0.1, the process runtime, the scheduler and the controller
manager), waits for the node to be Ready and the namespace's default ServiceAccount, then:

- watches the pods of its namespace from this process, from before the first create;
- creates ``--pods`` pods (``sleep 3600`` under the process runtime) as one burst, from another
  process, ``--concurrency`` requests at a time;
- per pod, latency = the watch's first event with ``status.phase: Running`` minus its ADDED event
  (upstream's pod startup SLI measures from creation to Running as a watch observes it; scheduling,
  the kubelet's sync, the container's start and the status write are all inside);
- deletes them, waits until the namespace has no pod and its Events stop growing, and bursts again,
  ``--rounds`` times in all.
  Each round prints a summary line; the figures below are the round with the median p99, because
  this machine's cores drift in speed by up to ~1.8x from one minute to the next.

Prints (ms unless said): ``pod_start.p50``, ``pod_start.p99``, ``pod_start.max``, ``pod_start.min``;
``pod_start.scheduled.p50`` / ``.p99`` (ADDED -> bound, the scheduler's share);
``pod_start.pods`` (pods seen Running), ``pod_start.seconds`` (first ADDED -> last Running, s),
``pod_start.create_per_second``; ``pod_start.pod_writes_per_pod`` (watch events up to Running) and
``pod_start.api_requests_per_pod`` (all components' requests over the burst, per pod);
``pod_start.<component>.cpu_seconds`` (API server, kubelet,
scheduler) during the burst, ``pod_start.runtime.cpu_seconds`` (the process runtime's zygote and
container shims), ``pod_start.machine.busy_cpu_seconds`` (all cores, everything that ran) and
``pod_start.machine.speed_probe`` (the CPU a fixed loop takes, before and after: this machine's
speed drifts); with ``--profile``, each one's py-spy hot spots over all rounds. The issue's aim is
p99 under 1 s (upstream's SLO is 5 s at p99).

Cleanup: deletes the pods (grace 1 s) and waits until the namespace is empty, stops the server,
then kills by PID whatever process still names the data dir (shims, the runtime's zygote), and
removes the temporary directory unless ``--keep``.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import aclosing
from pathlib import Path
from typing import Any

import processes  # benchmarks/processes.py: run as scripts, their directory is on sys.path

from navarch.client.rest import Client

NS = "bench-pods"


def component_pids(server_pid: int) -> dict[str, int]:
    """The components the server supervises (kubelet, scheduler, controller-manager), by name."""
    out: dict[str, int] = {}
    for pid, cmdline, fields in processes.each_process():
        if int(fields[1]) != server_pid:
            continue
        for name in ("kubelet", "scheduler", "controller-manager"):
            if name.encode() in cmdline:
                out[name] = pid
    return out


def start_server(root: Path, extra: list[str]) -> tuple[subprocess.Popen, Path]:
    return processes.start_server(root, "--kubelet-arg=--node-ip=127.0.0.1", "--kubelet-arg=--port=0", *extra)


stop = processes.stop
free_port, cpu_seconds = processes.free_port, processes.cpu_seconds

def kill_leftovers(text: str) -> dict[int, tuple[int, str]]:
    """SIGKILL, by PID, every process whose command line names ``text``: pid -> (parent pid, command
    line) of those killed."""
    needle = text.encode()
    # Parents are all read before any is killed (and its children reparented).
    found = {pid: (int(fields[1]), b" ".join(cmdline).decode(errors="replace").strip())
             for pid, cmdline, fields in processes.each_process() if any(needle in arg for arg in cmdline)}
    killed = {}
    for pid, what in found.items():
        try:
            os.kill(pid, signal.SIGKILL)
            killed[pid] = what
        except ProcessLookupError:
            pass
    return killed


async def node_ready(kubeconfig: Path, pods: int, timeout: float = 60) -> str:
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in (await client.list("nodes"))["items"]:
                if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or []):
                    room = int((node["status"].get("allocatable") or {}).get("pods") or 0)
                    if pods > room:  # the rest would stay Pending and the burst time out
                        raise RuntimeError(f"--pods {pods}: node {node['metadata']['name']} takes {room} pods")
                    await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": NS}})
                    await namespace_ready(client, deadline)
                    return node["metadata"]["name"]
            await asyncio.sleep(0.2)
    raise RuntimeError(f"no node Ready in {timeout}s")


async def namespace_ready(client: Client, deadline: float) -> None:
    """Pods are admitted once their namespace has its ``default`` ServiceAccount (the controller
    manager makes it), and mount their token's CA from ``kube-root-ca.crt``: wait for both."""
    while time.monotonic() < deadline:
        accounts = {o["metadata"]["name"] for o in (await client.list("serviceaccounts", NS))["items"]}
        maps = {o["metadata"]["name"] for o in (await client.list("configmaps", NS))["items"]}
        if "default" in accounts and "kube-root-ca.crt" in maps:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"namespace {NS} got no default ServiceAccount / kube-root-ca.crt")


def creator(kubeconfig: str, count: int, concurrency: int, prefix: str,
            out: multiprocessing.Queue[tuple[float, float]]) -> None:
    """Its own process, so creating does not share the watcher's event loop. Puts (creates per
    second, CPU seconds this process spent creating: it shares the machine with the cluster)."""

    async def main() -> tuple[float, float]:
        async with Client.from_kubeconfig(kubeconfig) as client:
            names = iter(range(count))
            t0, cpu0 = time.monotonic(), time.process_time()

            async def worker() -> None:
                for i in names:
                    await client.create("pods", {
                        "apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"{prefix}pod-{i:04d}", "namespace": NS, "labels": {"app": "bench"}},
                        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                            {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return count / (time.monotonic() - t0), time.process_time() - cpu0
    out.put(asyncio.run(main()))


async def watch_until_running(kubeconfig: Path, count: int, started: asyncio.Event, timeout: float,
                              writes: dict[str, int]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(ADDED seen, bound seen, Running seen) per pod name, monotonic seconds; ``writes`` gets the
    number of pod writes each pod took up to Running (its watch events)."""
    added: dict[str, float] = {}
    bound: dict[str, float] = {}
    running: dict[str, float] = {}
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        rv = (await client.list("pods", NS, limit=1))["metadata"]["resourceVersion"]
        started.set()
        async with asyncio.timeout(timeout):
            while len(running) < count:
                async with aclosing(client.watch("pods", NS, resource_version=rv, timeout_seconds=600)) as events:
                    async for ev in events:
                        now = time.monotonic()
                        obj = ev.object
                        meta = obj.get("metadata") or {}
                        rv = meta.get("resourceVersion", rv)
                        if ev.type == "BOOKMARK":
                            continue
                        name = meta.get("name", "")
                        added.setdefault(name, now)
                        if name not in running:
                            writes[name] = writes.get(name, 0) + 1
                        if (obj.get("spec") or {}).get("nodeName"):
                            bound.setdefault(name, now)
                        if (obj.get("status") or {}).get("phase") == "Running":
                            running.setdefault(name, now)
                            if len(running) >= count:
                                break
    return added, bound, running


async def requests_served(kubeconfig: Path) -> dict[str, int]:
    """The API server's request counters (its /metrics): the total under "", and per verb and
    resource, to show how many requests, and which, a pod costs."""
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        text = (await client.get_raw("/metrics")).decode()
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("apiserver_request_total"):
            name, value = line.rsplit(" ", 1)
            out[name[len("apiserver_request_total"):]] = int(float(value))
    return out


async def delete_all(kubeconfig: Path, timeout: float) -> int:
    """Delete the namespace's pods and wait until none is left; how many were left at the deadline."""
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        await client.delete_collection("pods", NS, grace_period_seconds=1)
        deadline = time.monotonic() + timeout
        while True:
            left = len((await client.list("pods", NS))["items"])
            if left == 0 or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)


async def events_settled(kubeconfig: Path, timeout: float = 30.0) -> None:
    """Wait until the namespace's Events stop growing: the kubelet writes the last round's Killing
    events at its event rate (50/s after a burst of 100), which would otherwise load the next burst."""
    async with Client.from_kubeconfig(str(kubeconfig)) as client:
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            count = len((await client.list("events", NS))["items"])
            if count == last:
                return
            last = count
            await asyncio.sleep(1.0)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def run_round(args: argparse.Namespace, root: Path, kubeconfig: Path, pids: dict[str, int],
              prefix: str) -> dict[str, Any]:
    """One burst: its figures as printed lines (``lines``) and the few the run compares."""
    cpu_before = {name: processes.cpu_times(pid) for name, pid in pids.items()}
    runtime_before = processes.cpu_seconds_naming(str(root / "data"), set(pids.values()))
    rate = creator_cpu = 0.0
    writes: dict[str, int] = {}
    requests_before = asyncio.run(requests_served(kubeconfig))

    async def measure() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        nonlocal rate, creator_cpu
        started = asyncio.Event()
        watcher = asyncio.create_task(watch_until_running(kubeconfig, args.pods, started, args.timeout, writes))
        await started.wait()
        ctx = multiprocessing.get_context("spawn")
        out: multiprocessing.Queue[tuple[float, float]] = ctx.Queue()
        proc = ctx.Process(target=creator, args=(str(kubeconfig), args.pods, args.concurrency, prefix, out))
        proc.start()
        try:
            rate, creator_cpu = await asyncio.to_thread(out.get, True, args.timeout)
        finally:
            await asyncio.to_thread(proc.join, 30)
        return await watcher

    speed_before = processes.speed_probe_ms()
    busy_before, wall_before = processes.machine_busy_seconds(), time.monotonic()
    watcher_cpu = time.process_time()
    added, bound, running = asyncio.run(measure())
    watcher_cpu = time.process_time() - watcher_cpu
    busy, wall = processes.machine_busy_seconds() - busy_before, time.monotonic() - wall_before
    runtime_cpu = processes.cpu_seconds_naming(str(root / "data"), set(pids.values())) - runtime_before
    latencies = [(running[n] - added[n]) * 1000 for n in running if n in added]
    scheduled = [(bound[n] - added[n]) * 1000 for n in bound if n in added]
    lines = [
        f"pod_start.pods {len(latencies)} pods",
        f"pod_start.p50 {percentile(latencies, 50):.0f} ms",
        f"pod_start.p99 {percentile(latencies, 99):.0f} ms",
        f"pod_start.max {max(latencies):.0f} ms",
        f"pod_start.min {min(latencies):.0f} ms",
        f"pod_start.scheduled.p50 {percentile(scheduled, 50):.0f} ms",
        f"pod_start.scheduled.p99 {percentile(scheduled, 99):.0f} ms",
        f"pod_start.seconds {max(running.values()) - min(added.values()):.2f} s",
        f"pod_start.create_per_second {rate:.0f} pods/s",
        f"pod_start.pod_writes_per_pod {sum(writes.values()) / max(1, len(writes)):.1f}",
    ]
    served = asyncio.run(requests_served(kubeconfig))
    lines.append(f"pod_start.api_requests_per_pod {(served.get('', 0) - requests_before.get('', 0)) / args.pods:.1f}")
    for labels, n in sorted(served.items()):
        per_pod = (n - requests_before.get(labels, 0)) / args.pods
        if labels and per_pod >= 0.05:
            lines.append(f"#   {per_pod:4.2f} per pod: {labels}")
    split = {name: tuple(now - before for now, before in zip(processes.cpu_times(pid), cpu_before[name]))
             for name, pid in pids.items()}
    used = {name: sum(times) for name, times in split.items()}
    for name, (user, system) in split.items():
        lines.append(f"pod_start.{name}.cpu_seconds {user + system:.2f} s (user {user:.2f}, system {system:.2f})")
    lines.append(f"pod_start.runtime.cpu_seconds {runtime_cpu:.2f} s")
    lines.append(f"pod_start.clients.cpu_seconds {creator_cpu + watcher_cpu:.2f} s (creator {creator_cpu:.2f} while "
                 f"creating, watcher {watcher_cpu:.2f}: they share the machine)")
    lines.append(f"pod_start.machine.speed_probe {speed_before:.0f} ms before, {processes.speed_probe_ms():.0f} ms "
                 "after (CPU of a fixed loop: lower is a faster machine)")
    lines.append(f"pod_start.machine.busy_cpu_seconds {busy:.2f} s of {wall * (os.cpu_count() or 1):.2f} "
                 f"({wall:.2f} s x {os.cpu_count()} cpus, creator and watcher included)")
    return {"lines": lines, "pods": len(latencies), "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99), "speed": speed_before,
            "cpu": {name: used[name] for name in ("apiserver", "kubelet") if name in used}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=32, help="create requests in flight (default: %(default)s)")
    ap.add_argument("--timeout", type=float, default=180.0, help="bound of the burst, s (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary dir (server log, kubelet root dir)")
    ap.add_argument("--profile", action="store_true",
                    help="attach py-spy to the API server and the components during the burst; print hot spots")
    ap.add_argument("--rounds", type=int, default=3,
                    help="bursts in a row on the same server, the pods deleted between them; the round with "
                         "the median p99 is reported (default: %(default)s)")
    ap.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                    help="one more flag for navarch server, e.g. --server-arg=--kubelet-arg=--pod-workers=32")
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="navarch-pod-start-bench-"))
    server = None
    ok = False
    try:
        print(f"# load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cpus; root={os.geteuid() == 0}", flush=True)
        server, kubeconfig = start_server(root, args.server_arg)
        node = asyncio.run(node_ready(kubeconfig, args.pods))
        pids = {"apiserver": server.pid, **component_pids(server.pid)}
        print(f"# node {node} Ready; kubelet pid {pids.get('kubelet')}", flush=True)
        profilers = processes.start_profilers(pids, root) if args.profile else {}
        rounds = []
        for n in range(args.rounds):
            if n:
                left = asyncio.run(delete_all(kubeconfig, 120))  # each round starts on an empty node
                if left:
                    raise RuntimeError(f"{left} pods of round {n} still there after 120 s")
                asyncio.run(events_settled(kubeconfig))
            rounds.append(run_round(args, root, kubeconfig, pids, f"r{n + 1}-" if args.rounds > 1 else ""))
            r = rounds[-1]
            cpu = ", ".join(f"{name} {seconds:.2f}" for name, seconds in r["cpu"].items())
            print(f"# round {n + 1}: p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms, speed probe {r['speed']:.0f} ms; "
                  f"CPU s: {cpu}", flush=True)
        # The round with the median p99 stands for the run: one slow minute of this machine (its
        # cores' speed drifts) then moves the figures less.
        chosen = sorted(rounds, key=lambda r: r["p99"])[len(rounds) // 2]
        if len(rounds) > 1:
            print(f"# figures of round {rounds.index(chosen) + 1} of {len(rounds)}, the one with the median p99",
                  flush=True)
        for line in chosen["lines"]:
            print(line)
        processes.report_profiles(profilers)
        p99 = chosen["p99"]
        print(f"# aim: p99 < 1000 ms: {'met' if p99 < 1000 else 'NOT met'} ({p99:.0f} ms); upstream SLO 5000 ms",
              flush=True)
        ok = all(r["pods"] == args.pods for r in rounds)
    except Exception as e:  # noqa: BLE001 - report, then clean up
        print(f"# pod_start: FAILED: {type(e).__name__}: {e}", flush=True)
    finally:
        if server is not None and server.poll() is None:
            try:
                left = asyncio.run(delete_all(root / "data" / "kubeconfig", 120))
                if left:
                    print(f"# cleanup: {left} pods still there after 120 s", flush=True)
                    ok = False
            except Exception as e:  # noqa: BLE001
                print(f"# cleanup: deleting the pods failed: {type(e).__name__}: {e}", flush=True)
                ok = False
        stop(server)
        leftovers = kill_leftovers(str(root / "data"))
        # Shims are forks of the zygote (same command line): a leftover whose parent is one.
        shims = [pid for pid, (ppid, _) in leftovers.items() if ppid in leftovers]
        if shims:
            print(f"# cleanup: {len(shims)} container shims outlived their pods (killed)", flush=True)
            ok = False
        processes.unmount_leftovers(root)
        if args.keep:
            print(f"# kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

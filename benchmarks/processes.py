"""What the benchmarks that start their own ``navarch server`` share: a free port, the server started
and awaited, stopped by PID, and the CPU and memory of a process read from /proc."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, *flags: str) -> tuple[subprocess.Popen, Path]:
    """``navarch server`` on a free loopback port with its data under ``root``, once /readyz answers
    and the kubeconfig is written; its log is ``root/server.log``."""
    port = free_port()
    data = root / "data"
    with open(root / "server.log", "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "navarch", "server", "--data-dir", str(data), "--port",
                                 str(port), *flags], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(root / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=ctx, timeout=1) as r:
                if r.status == 200 and (data / "kubeconfig").exists():
                    return proc, data / "kubeconfig"
        except OSError:
            pass
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError("server did not become ready")


def unmount_leftovers(root: Path) -> None:
    """Unmount what the node's kubelet, stopped with pods still running, left mounted under
    ``root`` (their service-account token volumes): a mount point cannot be removed, and would
    outlive the run."""
    from navarch.kubelet.volumes.mounts import unmount_all_under

    unmount_all_under(str(root))


def stop(proc: subprocess.Popen | None, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def rss_mib(pid: int) -> tuple[float, float]:
    """Current and peak resident memory of a process, MiB (from /proc)."""
    cur = peak = 0.0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return cur, peak


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time a process has used so far (from /proc). System time is mostly the
    kernel's share of loopback traffic: a send on loopback also runs the receiver's TCP stack."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick
    except (OSError, IndexError, ValueError):
        return 0.0, 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc), to show where time went."""
    return sum(cpu_times(pid))


def machine_busy_seconds() -> float:
    """CPU time all cores have spent busy since boot (/proc/stat: everything but idle and iowait),
    so a run can show whether it was bound by the machine's CPU rather than by waiting."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def speed_probe_ms() -> float:
    """CPU milliseconds a fixed pure-Python loop takes now. This machine's cores do the same work
    at speeds up to ~1.8x apart from one minute to the next (the host's load), which moves every
    figure here: printed beside them so runs can be compared."""
    started = time.process_time()
    total = 0
    for i in range(1_000_000):
        total += i * i
    return (time.process_time() - started) * 1000


def each_process() -> Iterator[tuple[int, list[bytes], list[str]]]:
    """Every live process but this one: pid, command line (arguments), and its /proc stat fields
    after the command name (index 1 is the parent pid, 11..14 user/system CPU with children's)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        yield int(entry.name), cmdline, fields


def cpu_seconds_naming(text: str, exclude: set[int]) -> float:
    """User + system CPU of every live process whose command line names ``text`` (other than
    ``exclude``), with what their reaped children used: the container runtime's helpers."""
    needle = text.encode()
    total = sum(sum(int(v) for v in fields[11:15]) for pid, cmdline, fields in each_process()
                if pid not in exclude and any(needle in arg for arg in cmdline))
    return total / os.sysconf("SC_CLK_TCK")


def start_profilers(pids: dict[str, int], root: Path) -> dict[str, tuple[subprocess.Popen, Path]]:
    """py-spy attached to each process (by PID), recording until ``report_profiles`` stops it."""
    spy = Path(sys.executable).parent / "py-spy"
    spy_cmd = str(spy) if spy.exists() else shutil.which("py-spy")
    if spy_cmd is None:
        print("# profile: py-spy not found (.venv/bin/pip install py-spy): skipped", flush=True)
        return {}
    out = {}
    for name, pid in pids.items():
        raw = root / f"{name}.spy"
        out[name] = (subprocess.Popen([spy_cmd, "record", "--pid", str(pid), "--rate", os.environ.get("SPY_RATE", "100"), "--gil", "--format", "raw",
                                       "--output", str(raw), "--nonblocking"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT), raw)
    return out


def report_profiles(profilers: dict[str, tuple[subprocess.Popen, Path]]) -> None:
    """Stop the profilers and print each process's hot spots."""
    from api_bench import hot_spots, parse_collapsed

    for name, (proc, raw) in profilers.items():
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not raw.exists():
            print(f"# profile.{name}: py-spy wrote nothing", flush=True)
            continue
        for view, rows in hot_spots(parse_collapsed(raw.read_text())).items():
            print(f"# profile.{name} {view}:")
            for share, func in rows:
                print(f"#   {share:5.1f}% {func}")
    sys.stdout.flush()

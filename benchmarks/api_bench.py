"""API server throughput and latency over real HTTPS: GET, LIST, CREATE, UPDATE and watch delivery.

    .venv/bin/python benchmarks/api_bench.py [--duration 10] [--only get,create] [--profile]

Starts its own ``navarch server`` (temporary data dir, free loopback port, SQLite store unless
``--datastore memory:``, a ``--token-auth-file`` holding one bench token) and drives it from separate
processes so that the load generator never shares an event loop with the server:

- GET and LIST: ``wrk`` (Debian package ``wrk``) with ``-H 'Authorization: Bearer TOKEN'``; GET also
  from an aiohttp client for comparison. Without wrk, LIST falls back to aiohttp.
- CREATE and UPDATE (PUT with the current resourceVersion): aiohttp keep-alive connections from one
  or more client processes.
- watch delivery: one process holds N watch streams on a namespace; another writes at a steady rate,
  stamping each object with the wall-clock time in an annotation; every delivery's latency is
  receive time minus that stamp (so it includes the durable commit).

Prints one line per figure, ``name value unit``; notes, errors and profiles go on ``#`` lines.
``--profile`` re-runs the GET and CREATE loads with ``py-spy`` attached to the server by PID and prints
the server's hot spots. The server (by PID), every client process and the temp dir are cleaned up on
exit, failure or Ctrl-C. Exits 1 when a phase failed or a request errored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable

ANNOTATION = "bench.navarch.io/sent"
NS_LIST, NS_CREATE, NS_UPDATE, NS_WATCH, NS_GET = "bench-list", "bench-create", "bench-update", "bench-watch", "default"
PAYLOAD = "v" * 256
PHASES = ("get", "list", "create", "update", "watch")
PROFILE_RATE = 250  # py-spy samples per second
TARGETS = (("get.rps", ">=", 3000.0), ("create.rps", ">=", 1000.0), ("watch.delivery.p99", "<=", 50.0))


# ======================================================================= figures and parsing (pure)
def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list; q in [0, 100]."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk_duration_ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unparsable wrk duration {text!r}")
    return float(m.group(1)) * _WRK_UNITS[m.group(2)]


@dataclass
class WrkResult:
    rps: float
    requests: int
    percentiles_ms: dict[int, float]
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def parse_wrk(output: str) -> WrkResult:
    """Reads the summary wrk prints with ``--latency``."""
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise ValueError("wrk printed no summary:\n" + output[-2000:])
    pcts = {int(p): _wrk_duration_ms(v) for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", output, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = {}
    if sock:
        socket_errors = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), sock.groups()) if int(v)}
    return WrkResult(float(rps.group(1)), int(total.group(1)), pcts, int(non2xx.group(1)) if non2xx else 0,
                     socket_errors)


def parse_collapsed(text: str) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy ``--format raw`` (collapsed stacks): ``frame;frame;... count``, frames ``func (file[:line])``."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            m = re.fullmatch(r"(.*) \(([^()]*)\)", frame)
            func, where = (m.group(1), m.group(2)) if m else (frame, "?")
            frames.append((func, re.sub(r":\d+$", "", where)))
        stacks.append((frames, int(count)))
    return stacks


def _short(where: str) -> str:
    """``.../site-packages/aiohttp/web_protocol.py`` -> ``aiohttp/web_protocol.py``."""
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in where:
            return where.split(marker, 1)[1]
    return where


def _is_server_code(where: str) -> bool:
    """navarch frames, less the entry point (cli/, __main__) that sits under every sample of the loop."""
    return "navarch/" in where and not any(m in where for m in ("/benchmarks/", "navarch/cli/", "navarch/__main__"))


def hot_spots(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 12) -> dict[str, list[tuple[float, str]]]:
    """Three views of a profile, each as (share %, "file:function"), largest first:

    - ``self``: where the CPU actually was (leaf frames, any library);
    - ``navarch``: each sample charged to the deepest navarch frame on its stack, i.e. which server code
      caused the cost, including the library calls it made;
    - ``inclusive``: navarch functions with everything under them (a sample counts once per function);
    - ``package``: leaf frames grouped by package (``aiohttp``, ``asyncio``, ``navarch/apiserver``...).
    """
    total = sum(c for _, c in stacks) or 1
    self_: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    package: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames:
            continue
        func, where = frames[-1]
        self_[f"{_short(where)}:{func}"] += count
        short = _short(where)
        parts = short.split("/")
        package[("/".join(parts[:2]) if parts[0] == "navarch" and len(parts) > 2 else parts[0])] += count
        owner = "(event loop, aiohttp, ssl: no navarch frame)"
        seen = set()
        for func, where in frames:
            if _is_server_code(where):
                name = f"{_short(where)}:{func}"
                owner = name
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
        ours[owner] += count

    def ranked(c: Counter[str]) -> list[tuple[float, str]]:
        return [(100.0 * n / total, name) for name, n in c.most_common(top)]

    return {"self": ranked(self_), "navarch": ranked(ours), "inclusive": ranked(inclusive),
            "package": ranked(package)}


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Merges the JSON results of client processes that ran side by side over the same window."""
    rps = 0.0
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    samples: list[str] = []
    count = 0
    cpu = 0.0
    for r in results:
        count += r["count"]
        cpu += 100.0 * r.get("cpu_seconds", 0.0) / r["elapsed"] if r["elapsed"] > 0 else 0.0
        rps += r["count"] / r["elapsed"] if r["elapsed"] > 0 else 0.0
        latencies.extend(r["latencies_ms"])
        errors.update(r["errors"])
        samples.extend(r.get("error_samples", []))
    latencies.sort()
    return {"rps": rps, "count": count, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "errors": dict(errors), "error_samples": samples[:3], "client_cpu": cpu}


# ======================================================================= client processes
def _client_ssl() -> ssl.SSLContext:
    # Load generators do not verify the serving certificate: the bench talks to its own server only.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _configmap(name: str, ns: str, data: str = PAYLOAD, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": {"app": "bench"}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"payload": data}}


class Recorder:
    """Per-process tally of one load: successes with their latency, errors by status with a sample body."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.errors: Counter[str] = Counter()
        self.error_samples: list[str] = []
        self.cpu_began = 0.0
        self.cpu_seconds = 0.0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 3:
            self.error_samples.append(f"{kind}: {detail[:300]}")

    def result(self, elapsed: float) -> dict[str, Any]:
        return {"count": len(self.latencies_ms), "elapsed": elapsed, "latencies_ms": self.latencies_ms,
                "errors": dict(self.errors), "error_samples": self.error_samples, "cpu_seconds": self.cpu_seconds}


async def _drive(concurrency: int, start_at: float, duration: float, count: int | None,
                 prepare: Callable[[int], Awaitable[Any]],
                 step: Callable[[int, Any, int], Awaitable[tuple[bool, Any]]], rec: Recorder) -> float:
    """Runs ``concurrency`` loops: each prepares once (unmeasured), then from ``start_at`` (wall clock)
    repeats ``step`` until ``duration`` passes or ``count`` steps have been taken in all. Returns the
    measured elapsed seconds."""
    counter = iter(range(count)) if count is not None else None
    loop = asyncio.get_running_loop()
    states = await asyncio.gather(*(prepare(w) for w in range(concurrency)))
    delay = start_at - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    t0 = loop.time()
    rec.cpu_began = time.process_time()
    deadline = t0 + duration
    perf = time.perf_counter

    async def worker(w: int) -> None:
        state = states[w]
        i = 0
        while loop.time() < deadline:
            if counter is not None:
                i = next(counter, -1)
                if i < 0:
                    return
            began = perf()
            ok, state = await step(w, state, i)
            if ok:
                rec.latencies_ms.append((perf() - began) * 1000.0)
            i += 1

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    rec.cpu_seconds = time.process_time() - rec.cpu_began
    return loop.time() - t0


def _session(url: str, token: str, limit: int):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=limit, ssl=_client_ssl(), force_close=False)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
               "Content-Type": "application/json"}
    return aiohttp.ClientSession(base_url=url, connector=connector, headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=None, sock_read=60))


async def _request(session: Any, method: str, path: str, body: bytes | None, want: int,
                   rec: Recorder) -> tuple[bool, bytes]:
    try:
        async with session.request(method, path, data=body) as resp:
            payload = await resp.read()
            if resp.status != want:
                rec.error(str(resp.status), payload.decode(errors="replace"))
                return False, payload
            return True, payload
    except Exception as e:  # a transport failure is a figure too, not a crash of the load loop
        rec.error(type(e).__name__, str(e))
        await asyncio.sleep(0.01)
        return False, b""


async def worker_main(cfg: dict[str, Any]) -> dict[str, Any]:
    import orjson

    kind = cfg["kind"]
    url, token, conc = cfg["url"], cfg["token"], cfg["concurrency"]
    tag = cfg.get("tag", "0")
    rec = Recorder()
    async with _session(url, token, limit=conc + 1) as s:
        if kind == "get":
            path = cfg["path"]

            async def prepare(w: int) -> None:
                await _request(s, "GET", path, None, 200, Recorder())

            async def step(w: int, state: Any, i: int) -> tuple[bool, Any]:
                ok, _ = await _request(s, "GET", path, None, 200, rec)
                return ok, state

        elif kind == "create":
            ns = cfg["namespace"]
            path = f"/api/v1/namespaces/{ns}/configmaps"
            prefix = cfg.get("name_prefix", "c")

            async def prepare(w: int) -> None:
                await _request(s, "GET", f"/api/v1/namespaces/{ns}", None, 200, Recorder())

            async def step(w: int, state: Any, i: int) -> tuple[bool, Any]:
                # with a count, i is global across this process's loops; the tag keeps processes apart
                name = f"{prefix}-{tag}-{w}-{i}" if cfg.get("count") is None else f"{prefix}-{tag}-{i:05d}"
                ok, _ = await _request(s, "POST", path, orjson.dumps(_configmap(name, ns)), 201, rec)
                return ok, state

        elif kind == "update":
            ns = cfg["namespace"]

            async def prepare(w: int) -> dict[str, Any]:
                name = f"u-{tag}-{w}"
                ok, body = await _request(s, "POST", f"/api/v1/namespaces/{ns}/configmaps",
                                          orjson.dumps(_configmap(name, ns)), 201, rec)
                if not ok:
                    raise RuntimeError(f"cannot create {name}: {body[:300]!r}")
                return orjson.loads(body)

            async def step(w: int, obj: dict[str, Any], i: int) -> tuple[bool, Any]:
                obj["data"]["n"] = str(i)
                path = f"/api/v1/namespaces/{ns}/configmaps/{obj['metadata']['name']}"
                ok, body = await _request(s, "PUT", path, orjson.dumps(obj), 200, rec)
                if ok:
                    return True, orjson.loads(body)
                # re-read so one conflict does not turn the rest of the run into errors
                ok2, fresh = await _request(s, "GET", path, None, 200, Recorder())
                return False, orjson.loads(fresh) if ok2 else obj

        else:
            raise ValueError(f"unknown worker kind {kind}")
        elapsed = await _drive(conc, cfg["start_at"], cfg["duration"], cfg.get("count"), prepare, step, rec)
    return rec.result(elapsed)


async def watcher_main(cfg: dict[str, Any]) -> dict[str, Any]:
    """Holds N watch streams; prints READY once all are open, then waits for ``STOP <writes>`` on stdin."""
    import orjson

    url, token, n, ns, rv = cfg["url"], cfg["token"], cfg["watchers"], cfg["namespace"], cfg["resource_version"]
    latencies: list[float] = []
    received = [0] * n
    total = [0]  # deliveries over all streams, kept so each event need not sum ``received``
    rec = Recorder()
    enough = asyncio.Event()
    expected: list[int] = []
    now = time.time

    async with _session(url, token, limit=n + 1) as s:
        path = (f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                f"&allowWatchBookmarks=false&timeoutSeconds=600")
        responses = []
        for i in range(n):  # opened one by one so READY means every stream is registered
            resp = await s.get(path)
            if resp.status != 200:
                raise RuntimeError(f"watch {i} answered {resp.status}: {(await resp.read())[:300]!r}")
            responses.append(resp)

        async def consume(i: int, resp: Any) -> None:
            async for line in resp.content:
                t = now()
                if not line.strip():
                    continue
                ev = orjson.loads(line)
                if ev.get("type") not in ("ADDED", "MODIFIED"):
                    if ev.get("type") == "ERROR":
                        rec.error("watch-ERROR", str(ev.get("object")))
                    continue
                sent = ((ev["object"].get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
                if sent is None:
                    continue
                latencies.append((t - float(sent)) * 1000.0)
                received[i] += 1
                total[0] += 1
                if expected and total[0] >= expected[0]:
                    enough.set()
            rec.error("stream-closed", f"watch {i} ended after {received[i]} events")

        tasks = [asyncio.create_task(consume(i, r)) for i, r in enumerate(responses)]
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        writes = int(line.split()[1]) if line.startswith("STOP") else 0
        expected.append(writes * n)
        if total[0] >= expected[0]:
            enough.set()
        try:
            await asyncio.wait_for(enough.wait(), timeout=10)
        except asyncio.TimeoutError:
            pass
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for r in responses:
            r.close()
    missing = expected[0] - total[0]
    if missing > 0:
        rec.errors["missing-deliveries"] += missing
    rec.latencies_ms = latencies
    out = rec.result(1.0)
    out["expected"] = expected[0]
    return out


async def writer_main(cfg: dict[str, Any]) -> dict[str, Any]:
    """Writes at a steady rate, alternating create of a new object and update of the last one."""
    import orjson

    url, token, ns, rate, duration = cfg["url"], cfg["token"], cfg["namespace"], cfg["rate"], cfg["duration"]
    rec = Recorder()
    writes = 0
    async with _session(url, token, limit=2) as s:
        await _request(s, "GET", f"/api/v1/namespaces/{ns}", None, 200, Recorder())
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        last: dict[str, Any] | None = None
        k = 0
        while loop.time() - t0 < duration:
            delay = t0 + k / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            stamp = {ANNOTATION: repr(time.time())}
            began = time.perf_counter()
            if last is None or k % 2 == 0:
                obj = _configmap(f"w-{k}", ns, annotations=stamp)
                ok, body = await _request(s, "POST", f"/api/v1/namespaces/{ns}/configmaps", orjson.dumps(obj), 201, rec)
            else:
                last["metadata"]["annotations"] = stamp
                name = last["metadata"]["name"]
                ok, body = await _request(s, "PUT", f"/api/v1/namespaces/{ns}/configmaps/{name}",
                                          orjson.dumps(last), 200, rec)
            if ok:
                rec.latencies_ms.append((time.perf_counter() - began) * 1000.0)
                writes += 1
                last = orjson.loads(body)
            k += 1
    return {"writes": writes, "errors": dict(rec.errors), "error_samples": rec.error_samples,
            "latencies_ms": rec.latencies_ms}


def client_entry(role: str, cfg_json: str) -> int:
    try:
        import uvloop  # optional: a cheaper client loop leaves more of the shared CPU to the server

        uvloop.install()
    except ImportError:
        pass
    cfg = json.loads(cfg_json)
    fn = {"worker": worker_main, "watcher": watcher_main, "writer": writer_main}[role]
    result = asyncio.run(fn(cfg))
    # A file, not stdout: results run to megabytes, and a pipe is no place to lose half of them.
    Path(cfg["result_path"]).write_text(json.dumps(result))
    return 0


# ======================================================================= orchestration
class CpuMeter:
    """CPU used over one load window, in % of one core: the server's (from /proc, all its threads) and
    the client processes' that finished in the window (getrusage; includes their start-up, so approximate)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.began = (0.0, 0.0, 0.0)

    def _server_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _now(self) -> tuple[float, float, float]:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return time.monotonic(), self._server_seconds(), children.ru_utime + children.ru_stime

    def start(self) -> None:
        self.began = self._now()

    def stop(self) -> tuple[float, float]:
        t1, s1, c1 = self._now()
        t0, s0, c0 = self.began
        wall = max(t1 - t0, 1e-9)
        return 100.0 * (s1 - s0) / wall, 100.0 * (c1 - c0) / wall


class BenchError(Exception):
    """A phase could not run; the message says why."""


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it if this script dies without cleaning up (SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="navarch-api-bench-"))
        self.token = secrets.token_hex(16)
        self.port = _free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.server: subprocess.Popen | None = None
        self.clients: list[subprocess.Popen] = []
        self.result_paths: dict[int, Path] = {}
        self.failed = False
        self.figures: dict[str, float] = {}
        self.ssl = _client_ssl()
        self.cpu = CpuMeter(0)
        self.cpu_window = (float("nan"), float("nan"))
        self.log_path = self.tmp / "server.log"

    # ------------------------------------------------------------- output
    def figure(self, name: str, value: float, unit: str) -> None:
        self.figures[name] = value
        text = f"{value:.0f}" if abs(value) >= 100 or unit in ("req/s", "count", "events", "%") else f"{value:.2f}"
        print(f"{name} {text} {unit}", flush=True)

    def note(self, text: str) -> None:
        print(f"# {text}", flush=True)

    def errors(self, name: str, errors: dict[str, int], samples: list[str]) -> None:
        n = sum(errors.values())
        self.figure(f"{name}.errors", n, "count")
        if n:
            self.failed = True
            self.note(f"{name}: errors by kind {errors}")
            for s in samples:
                self.note(f"{name}:   e.g. {s}")

    # ------------------------------------------------------------- server
    def start_server(self) -> None:
        data = self.tmp / "data"
        tokens = self.tmp / "tokens.csv"
        tokens.write_text(f'{self.token},bench,bench-uid,"system:masters"\n')
        store = self.args.datastore or f"sqlite:{data / 'db' / 'state.db'}"
        launcher = ["-m", "navarch"]
        if self.args.server_uvloop:
            # an experiment, not a navarch feature: the same server with uvloop's event loop and TLS
            launcher = ["-c", "import sys, uvloop; uvloop.install(); from navarch.cli.main import main; "
                              "sys.exit(main(sys.argv[1:]))"]
        cmd = [sys.executable, *launcher, "server", "--data-dir", str(data), "--port", str(self.port),
               "--datastore", store, "--token-auth-file", str(tokens), "--disable-agent",
               "--disable-cloud-controller-manager"]
        with open(self.log_path, "ab") as log:
            self.server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise BenchError(f"navarch server exited with {self.server.returncode}:\n{self.server_log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", context=self.ssl, timeout=1) as r:
                    if r.status == 200:
                        self.note(f"navarch server pid {self.server.pid} on {self.url}, store {store}"
                                  + (", uvloop" if self.args.server_uvloop else ""))
                        self.cpu = CpuMeter(self.server.pid)
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"navarch server not ready in 60 s:\n{self.server_log()}")

    def server_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=30) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"message": raw[:300].decode(errors="replace")}

    def ensure_namespace(self, name: str) -> None:
        code, body = self.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                              "metadata": {"name": name}})
        if code not in (201, 409):
            raise BenchError(f"creating namespace {name}: {code} {body.get('message', body)}")

    def stop(self) -> None:
        for p in self.clients:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait(5)
        if self.args.keep:
            self.note(f"kept {self.tmp} (server log: {self.tmp / 'server.log'})")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------- client processes
    def spawn(self, role: str, cfg: dict[str, Any], stdin: bool = False) -> subprocess.Popen:
        result = self.tmp / f"result-{len(self.clients)}.json"
        cfg = {"url": self.url, "token": self.token, "result_path": str(result), **cfg}
        p = subprocess.Popen([sys.executable, __file__, "--client", role, json.dumps(cfg)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.result_paths[p.pid] = result
        self.clients.append(p)
        return p

    def collect(self, p: subprocess.Popen, timeout: float) -> dict[str, Any]:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            raise BenchError(f"client process timed out after {timeout:.0f} s: {err[-1500:]}") from None
        if p.returncode != 0:
            raise BenchError(f"client process failed ({p.returncode}): {err[-1500:]}")
        return json.loads(self.result_paths[p.pid].read_text())

    def run_clients(self, cfg: dict[str, Any], processes: int) -> dict[str, Any]:
        """Runs ``processes`` workers side by side, starting together once all have connected."""
        start_at = time.time() + 1.5
        procs = [self.spawn("worker", {**cfg, "tag": str(i), "start_at": start_at,
                                       "concurrency": max(1, cfg["concurrency"] // processes),
                                       "count": (cfg["count"] // processes if cfg.get("count") else None)})
                 for i in range(processes)]
        time.sleep(max(0.0, start_at - time.time()))
        self.cpu.start()
        results = [self.collect(p, cfg["duration"] + 60) for p in procs]
        server_cpu, _ = self.cpu.stop()
        summary = summarize(results)
        # the clients time their own measured window; rusage would add their start-up to it
        self.cpu_window = (server_cpu, summary["client_cpu"])
        return summary

    def report(self, name: str, s: dict[str, Any]) -> None:
        if s["count"] == 0:
            self.errors(name, s["errors"] or {"no-successful-requests": 1}, s["error_samples"])
            raise BenchError(f"{name}: no request succeeded")
        self.figure(f"{name}.rps", s["rps"], "req/s")
        self.figure(f"{name}.p50", s["p50"], "ms")
        self.figure(f"{name}.p99", s["p99"], "ms")
        self.report_cpu(name)
        self.errors(name, s["errors"], s["error_samples"])

    def report_cpu(self, name: str) -> None:
        server, client = self.cpu_window
        self.figure(f"{name}.server.cpu", server, "%")
        self.figure(f"{name}.client.cpu", client, "%")

    # ------------------------------------------------------------- wrk
    def wrk_path(self) -> str | None:
        return None if self.args.no_wrk else shutil.which("wrk")

    def wrk(self, path: str, connections: int, duration: float) -> WrkResult:
        cmd = [self.wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
               "--timeout", "10s", "-H", f"Authorization: Bearer {self.token}", "-H", "Accept: application/json",
               self.url + path]
        self.cpu.start()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        self.clients.append(p)
        try:
            out, _ = p.communicate(timeout=duration + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            raise BenchError("wrk did not finish") from None
        self.cpu_window = self.cpu.stop()
        if p.returncode != 0:
            raise BenchError(f"wrk failed ({p.returncode}): {out[-1500:]}")
        return parse_wrk(out)

    def report_wrk(self, name: str, r: WrkResult) -> None:
        self.figure(f"{name}.rps", r.rps, "req/s")
        self.figure(f"{name}.p50", r.percentiles_ms.get(50, float("nan")), "ms")
        self.figure(f"{name}.p99", r.percentiles_ms.get(99, float("nan")), "ms")
        self.report_cpu(name)
        self.errors(name, {**({"non-2xx": r.non_2xx} if r.non_2xx else {}), **r.socket_errors}, [])

    def probe(self, name: str, path: str) -> None:
        """One request first, so a failing endpoint is reported with its Status rather than as wrk noise."""
        code, body = self.call("GET", path)
        if code != 200:
            raise BenchError(f"{name}: GET {path} answered {code}: {body.get('message', body)}")

    # ------------------------------------------------------------- phases
    def phase_get(self) -> None:
        code, body = self.call("POST", f"/api/v1/namespaces/{NS_GET}/configmaps", _configmap("x", NS_GET))
        if code not in (201, 409):
            raise BenchError(f"get: creating configmap x: {code} {body.get('message', body)}")
        path = f"/api/v1/namespaces/{NS_GET}/configmaps/x"
        self.probe("get", path)
        d = self.args.duration
        if self.wrk_path():
            self.report_wrk("get", self.wrk(path, self.args.connections, d))
        else:
            self.note("get: wrk not found (apt-get install wrk): no wrk figures; aiohttp figures follow")
        self.report("get.aiohttp", self.run_clients({"kind": "get", "path": path, "duration": d / 2,
                                                     "concurrency": self.args.connections}, 1))

    def phase_list(self) -> None:
        n = self.args.list_size
        t0 = time.perf_counter()
        s = self.run_clients({"kind": "create", "namespace": NS_LIST, "name_prefix": "l", "count": n,
                              "duration": 120, "concurrency": 32}, 1)
        if s["count"] < n:
            self.errors("list.populate", s["errors"], s["error_samples"])
            raise BenchError(f"list: only {s['count']} of {n} configmaps created")
        self.note(f"list: created {n} configmaps in {time.perf_counter() - t0:.1f} s")
        path = f"/api/v1/namespaces/{NS_LIST}/configmaps"
        code, body = self.call("GET", path)
        if code != 200 or len(body.get("items", ())) != n:
            raise BenchError(f"list: GET {path} answered {code} with {len(body.get('items', ()))} items, want {n}")
        self.figure("list.items", n, "count")
        d = self.args.duration
        if self.wrk_path():
            self.report_wrk("list", self.wrk(path, 4, d))
        else:
            self.note("list: wrk not found (apt-get install wrk): measuring with aiohttp")
            self.report("list.aiohttp", self.run_clients({"kind": "get", "path": path, "duration": d,
                                                          "concurrency": 4}, 1))

    def phase_create(self) -> None:
        self.report("create", self.run_clients({"kind": "create", "namespace": NS_CREATE, "name_prefix": "c",
                                                "duration": self.args.duration,
                                                "concurrency": self.args.write_concurrency},
                                               self.args.client_procs))

    def phase_update(self) -> None:
        self.report("update", self.run_clients({"kind": "update", "namespace": NS_UPDATE,
                                                "duration": self.args.duration,
                                                "concurrency": self.args.write_concurrency},
                                               self.args.client_procs))

    def phase_watch(self) -> None:
        code, body = self.call("GET", f"/api/v1/namespaces/{NS_WATCH}/configmaps?limit=1")
        if code != 200:
            raise BenchError(f"watch: list answered {code}: {body.get('message', body)}")
        rv = body["metadata"]["resourceVersion"]
        n = self.args.watchers
        watcher = self.spawn("watcher", {"watchers": n, "namespace": NS_WATCH, "resource_version": rv}, stdin=True)
        assert watcher.stdout is not None and watcher.stdin is not None
        line = _readline(watcher.stdout, timeout=60)
        if line.strip() != "READY":
            watcher.kill()
            _, err = watcher.communicate()
            raise BenchError(f"watch: watchers did not open: {line.strip()} {err[-1500:]}")
        writer = self.spawn("writer", {"namespace": NS_WATCH, "rate": self.args.watch_rate,
                                       "duration": self.args.duration})
        w = self.collect(writer, self.args.duration + 60)
        watcher.stdin.write(f"STOP {w['writes']}\n")
        watcher.stdin.flush()
        r = self.collect(watcher, 30)
        lat = sorted(r["latencies_ms"])
        self.figure("watch.watchers", n, "count")
        self.figure("watch.writes", w["writes"], "count")
        self.figure("watch.deliveries", len(lat), "events")
        if not lat:
            self.errors("watch", {**w["errors"], **r["errors"]}, w["error_samples"] + r["error_samples"])
            raise BenchError("watch: no event was delivered")
        self.figure("watch.delivery.p50", percentile(lat, 50), "ms")
        self.figure("watch.delivery.p99", percentile(lat, 99), "ms")
        self.figure("watch.delivery.max", lat[-1], "ms")
        # the write's own round trip is part of every delivery latency: this separates the two
        wl = sorted(w["latencies_ms"])
        self.figure("watch.write.p50", percentile(wl, 50), "ms")
        self.figure("watch.write.p99", percentile(wl, 99), "ms")
        self.errors("watch", dict(Counter(w["errors"]) + Counter(r["errors"])),
                    w["error_samples"] + r["error_samples"])

    # ------------------------------------------------------------- profiling
    def py_spy(self) -> str | None:
        local = Path(sys.executable).parent / "py-spy"
        return str(local) if local.exists() else shutil.which("py-spy")

    def phase_profile(self) -> None:
        spy = self.py_spy()
        if spy is None:
            self.note("profile: py-spy not found (.venv/bin/pip install py-spy): skipped")
            return
        assert self.server is not None
        d = self.args.profile_duration
        out_dir = Path(self.args.profile_dir) if self.args.profile_dir else self.tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        loads: dict[str, Callable[[], Any]] = {}
        if self.wrk_path():
            loads["get"] = lambda: self.wrk(f"/api/v1/namespaces/{NS_GET}/configmaps/x", self.args.connections, d + 2)
        else:
            loads["get"] = lambda: self.run_clients({"kind": "get", "path": f"/api/v1/namespaces/{NS_GET}/configmaps/x",
                                                     "duration": d + 2, "concurrency": self.args.connections}, 1)
        loads["create"] = lambda: self.run_clients({"kind": "create", "namespace": NS_CREATE, "name_prefix": "p",
                                                    "duration": d + 2, "concurrency": self.args.write_concurrency},
                                                   self.args.client_procs)
        for name, load in loads.items():
            if self.args.only and name not in self.args.only:
                continue
            raw = out_dir / f"profile-{name}.txt"
            try:
                self.ensure_namespace(NS_CREATE)
            except BenchError as e:
                self.note(f"profile.{name}: FAILED: {e}")
                continue
            # py-spy starts after the clients have connected and stops before they do. --gil samples only
            # the thread holding the GIL, i.e. the CPU that the one event loop competes for: without it
            # idle pool threads blocked in queue.get show up as busy under load, and SQLite's own C work
            # (which releases the GIL) is not Python the server could speed up anyway.
            spy_proc = subprocess.Popen([spy, "record", "--pid", str(self.server.pid), "--duration", str(max(1, round(d))),
                                         "--rate", str(PROFILE_RATE), "--gil", "--format", "raw", "--nolineno", "--output", str(raw)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        preexec_fn=lambda: (_die_with_parent(), time.sleep(1.6)))
            self.clients.append(spy_proc)
            load()
            out, _ = spy_proc.communicate(timeout=30)
            if spy_proc.returncode != 0 or not raw.exists():
                self.note(f"profile.{name}: py-spy failed ({spy_proc.returncode}): {out.strip()[-500:]}")
                continue
            stacks = parse_collapsed(raw.read_text())
            total = sum(c for _, c in stacks)
            busy = 100.0 * total / (PROFILE_RATE * max(1, round(d)))
            self.note(f"profile.{name}: {total} samples with the GIL held ({busy:.0f}% of the time) from pid "
                      f"{self.server.pid}; shares below are of those samples; raw stacks in {raw}")
            for view, rows in hot_spots(stacks, self.args.profile_top).items():
                for share, where in rows:
                    self.note(f"profile.{name}.{view} {share:5.1f}% {where}")

    # ------------------------------------------------------------- all
    def run(self) -> int:
        self.note("load average before: %.2f %.2f %.2f (other work on the machine skews every figure)"
                  % os.getloadavg())
        self.start_server()
        phases = [("get", self.phase_get), ("list", self.phase_list), ("create", self.phase_create),
                  ("update", self.phase_update), ("watch", self.phase_watch)]
        namespaces = {"list": NS_LIST, "create": NS_CREATE, "update": NS_UPDATE, "watch": NS_WATCH}
        for name, phase in phases:
            if self.args.only and name not in self.args.only:
                continue
            try:
                if name in namespaces:
                    self.ensure_namespace(namespaces[name])
                phase()
            except BenchError as e:
                self.failed = True
                self.note(f"{name}: FAILED: {e}")
            if self.server is not None and self.server.poll() is not None:
                raise BenchError(f"navarch server died during {name}:\n{self.server_log()}")
        if self.args.profile:
            self.phase_profile()
        for name, op, target in TARGETS:
            if name in self.figures:
                v = self.figures[name]
                ok = v >= target if op == ">=" else v <= target
                self.note(f"target {name} {op} {target:g}: {'met' if ok else 'MISSED'} ({v:.1f})")
        return 1 if self.failed else 0


def _readline(stream: Any, timeout: float) -> str:
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            return "(no answer in time)"
        return stream.readline()
    finally:
        sel.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds per measured load (aiohttp GET runs half of it) (default: %(default)s)")
    p.add_argument("--only", type=lambda s: set(s.split(",")), default=set(),
                   help="comma-separated phases to run: get,list,create,update,watch (default: all)")
    p.add_argument("--connections", type=int, default=16, help="connections for GET (default: %(default)s)")
    p.add_argument("--list-size", type=int, default=1000, help="objects in the LIST namespace (default: %(default)s)")
    p.add_argument("--write-concurrency", type=int, default=64,
                   help="concurrent keep-alive connections for CREATE/UPDATE, over all client processes "
                        "(default: %(default)s)")
    p.add_argument("--client-procs", type=int, default=1,
                   help="client processes for CREATE/UPDATE (default: %(default)s)")
    p.add_argument("--watchers", type=int, default=100, help="concurrent watch streams (default: %(default)s)")
    p.add_argument("--watch-rate", type=float, default=20.0,
                   help="writes per second during the watch phase (default: %(default)s)")
    p.add_argument("--datastore", default="",
                   help="passed to navarch server, e.g. memory: (default: sqlite in the temp data dir)")
    p.add_argument("--server-uvloop", action="store_true",
                   help="experiment: run the server under uvloop (needs uvloop in this Python), to compare")
    p.add_argument("--no-wrk", action="store_true", help="do not use wrk even when installed")
    p.add_argument("--profile", action="store_true",
                   help="after measuring, attach py-spy to the server under GET and CREATE load and print hot spots")
    p.add_argument("--profile-duration", type=float, default=8.0, help="seconds per profile (default: %(default)s)")
    p.add_argument("--profile-top", type=int, default=10, help="rows per profile view (default: %(default)s)")
    p.add_argument("--profile-dir", default="", help="keep py-spy's raw stacks here (default: the temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server log, data) and print its path")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--client"]:
        return client_entry(argv[1], argv[2])
    args = parse_args(argv)
    unknown = args.only - set(PHASES)
    if unknown:
        print(f"unknown phase(s) {', '.join(sorted(unknown))}; phases: {', '.join(PHASES)}", file=sys.stderr)
        return 2

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with it ignored, and Python then keeps ignoring it
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_term)
    bench = Bench(args)
    try:
        return bench.run()
    except BenchError as e:
        print(f"# FAILED: {e}", flush=True)
        return 1
    except KeyboardInterrupt:
        print("# interrupted", flush=True)
        return 130
    finally:
        bench.stop()


if __name__ == "__main__":
    sys.exit(main())

"""The pure parts of benchmarks/api_bench.py: wrk and py-spy output parsing, percentiles, merging."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[3] / "benchmarks" / "api_bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("api_bench", _PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["api_bench"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("api_bench", None)


WRK_OUTPUT = """Running 10s test @ https://127.0.0.1:6443/api/v1/namespaces/default/configmaps/x
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.40ms    2.46ms  20.68ms   78.11%
    Req/Sec     3.60k   165.43     4.50k    70.00%
  Latency Distribution
     50%  850.00us
     75%    6.22ms
     90%    1.20s
     99%   15.12ms
  36000 requests in 10.00s, 24.40MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   3598.58
Transfer/sec:      2.40MB
"""


def test_parse_wrk_reads_rate_percentiles_and_errors(bench):
    r = bench.parse_wrk(WRK_OUTPUT)
    assert r.rps == pytest.approx(3598.58)
    assert r.requests == 36000
    assert r.percentiles_ms == {50: pytest.approx(0.85), 75: pytest.approx(6.22), 90: pytest.approx(1200.0),
                                99: pytest.approx(15.12)}
    assert r.non_2xx == 7
    assert r.socket_errors == {"read": 2, "timeout": 3}
    assert r.errors == 12


def test_parse_wrk_without_summary_says_so(bench):
    with pytest.raises(ValueError, match="no summary"):
        bench.parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.parametrize(("values", "q", "want"), [
    ([1.0], 99, 1.0),
    ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
    ([float(i) for i in range(1, 101)], 99, 99.0),
    ([float(i) for i in range(1, 101)], 100, 100.0),
], ids=["one", "median-even", "p99-of-100", "max"])
def test_percentile_nearest_rank(bench, values, q, want):
    assert bench.percentile(values, q) == want


def test_percentile_of_nothing_is_nan(bench):
    assert bench.percentile([], 50) != bench.percentile([], 50)


def test_summarize_adds_rates_and_merges_latencies(bench):
    a = {"count": 100, "elapsed": 2.0, "latencies_ms": [1.0] * 100, "errors": {"409": 1},
         "error_samples": ["409: x"], "cpu_seconds": 1.0}
    b = {"count": 50, "elapsed": 1.0, "latencies_ms": [3.0] * 50, "errors": {"409": 2, "500": 1},
         "error_samples": [], "cpu_seconds": 0.5}
    s = bench.summarize([a, b])
    assert s["rps"] == pytest.approx(100.0)
    assert s["count"] == 150
    assert s["p50"] == 1.0 and s["p99"] == 3.0
    assert s["errors"] == {"409": 3, "500": 1}
    assert s["client_cpu"] == pytest.approx(100.0)


COLLAPSED = """\
<module> (navarch/__main__.py);run (navarch/cli/server.py);_run_once (asyncio/base_events.py);data_received (/v/lib/python3.11/site-packages/aiohttp/web_protocol.py) 6
<module> (navarch/__main__.py);run (navarch/cli/server.py);dispatch (/w/src/navarch/apiserver/app.py);get (/w/src/navarch/apiserver/handlers.py);dumps (/v/lib/python3.11/json/__init__.py) 3
<module> (navarch/__main__.py);run (navarch/cli/server.py);dispatch (/w/src/navarch/apiserver/app.py) 1
"""


def test_parse_collapsed_splits_frames_and_counts(bench):
    stacks = bench.parse_collapsed(COLLAPSED + "garbage line\n")
    assert [c for _, c in stacks] == [6, 3, 1]
    assert stacks[1][0][-1] == ("dumps", "/v/lib/python3.11/json/__init__.py")


def test_hot_spots_charges_samples_to_the_deepest_server_frame(bench):
    views = bench.hot_spots(bench.parse_collapsed(COLLAPSED))
    assert views["self"][0] == (60.0, "aiohttp/web_protocol.py:data_received")
    navarch = dict((name, share) for share, name in views["navarch"])
    # the entry point (cli/, __main__) owns nothing: loop samples stay "outside navarch code"
    assert navarch["navarch/apiserver/handlers.py:get"] == 30.0
    assert navarch["navarch/apiserver/app.py:dispatch"] == 10.0
    assert not any("cli/" in name for name in navarch)
    inclusive = dict((name, share) for share, name in views["inclusive"])
    assert inclusive["navarch/apiserver/app.py:dispatch"] == 40.0
    package = dict((name, share) for share, name in views["package"])
    assert package == {"aiohttp": 60.0, "json": 30.0, "navarch/apiserver": 10.0}


async def test_drive_stops_after_count_and_records_successes(bench):
    rec = bench.Recorder()
    seen: list[int] = []

    async def prepare(w: int) -> int:
        return w

    async def step(w: int, state: int, i: int) -> tuple[bool, int]:
        seen.append(i)
        return i % 2 == 0, state

    elapsed = await bench._drive(3, 0.0, 30.0, 10, prepare, step, rec)
    assert sorted(seen) == list(range(10))
    assert len(rec.latencies_ms) == 5
    assert elapsed < 30.0

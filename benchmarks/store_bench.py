"""Store write throughput and watch delivery: SQLite (durable, group commit) vs a real etcd.

    .venv/bin/python benchmarks/store_bench.py [--creates 5000] [--concurrency 100]

Prints one line per figure (``name value unit``). etcd runs only when its binary exists; the script
starts a single-member etcd itself on free loopback ports with a temporary data directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.etcd_cluster

from navarch.storage.interface import KeyValue, Store  # noqa: E402
from tests import etcd_cluster  # noqa: E402

VALUE = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"' + b"v" * 200 + b'"}}'


async def run_concurrently(count: int, concurrency: int, op: Callable[[int], Awaitable[object]]) -> float:
    """Run op(0..count-1) with ``concurrency`` workers; returns operations per second."""
    next_index = iter(range(count))

    async def worker() -> None:
        for i in next_index:
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def watch_delivery(store: Store, name: str, count: int) -> None:
    """Latency from starting a write to its event reaching a watcher, at concurrency 10."""
    prefix = "/registry/bench-watch/"
    sent: dict[str, float] = {}
    latencies: list[float] = []
    start = await store.current_revision()
    done = asyncio.Event()

    async def consume() -> None:
        async for batch in store.watch(prefix, start):
            now = time.perf_counter()
            latencies.extend(now - sent[e.kv.key] for e in batch)
            if len(latencies) >= count:
                done.set()
                return

    consumer = asyncio.create_task(consume())

    async def create(i: int) -> None:
        key = f"{prefix}{i:06}"
        sent[key] = time.perf_counter()
        await store.create(key, VALUE)

    rate = await run_concurrently(count, 10, create)
    await asyncio.wait_for(done.wait(), 30)
    await consumer
    latencies.sort()
    print(f"{name}.watch_events {rate:.0f} events/s")
    print(f"{name}.watch_latency_p50 {statistics.median(latencies) * 1000:.2f} ms")
    print(f"{name}.watch_latency_p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.2f} ms")


async def bench(store: Store, name: str, creates: int, concurrency: int) -> None:
    await store.start()
    try:
        created: list[KeyValue | None] = [None] * creates

        async def create(i: int) -> None:
            created[i] = await store.create(f"/registry/bench/{i:06}", VALUE)

        async def update(i: int) -> None:
            kv = created[i]
            assert kv is not None
            await store.update(kv.key, VALUE, kv.mod_revision)

        async def get(i: int) -> None:
            await store.get(f"/registry/bench/{i:06}")

        print(f"{name}.create {await run_concurrently(creates, concurrency, create):.0f} ops/s")
        print(f"{name}.update {await run_concurrently(creates, concurrency, update):.0f} ops/s")
        print(f"{name}.get {await run_concurrently(creates, concurrency, get):.0f} ops/s")
        started = time.perf_counter()
        result = await store.list("/registry/bench/")
        print(f"{name}.list_{len(result.items)} {(time.perf_counter() - started) * 1000:.1f} ms")
        commits = getattr(store, "commit_count", None)
        if commits:
            print(f"{name}.writes_per_commit {2 * creates / commits:.1f} writes")
        await watch_delivery(store, name, min(creates, 2000))
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creates", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()

    from navarch.storage.sqlite import SqliteStore
    with tempfile.TemporaryDirectory(prefix="navarch-bench-") as tmp:
        await bench(SqliteStore(Path(tmp) / "state.db", compact_interval=None), "sqlite",
                    args.creates, args.concurrency)

    if not etcd_cluster.etcd_available():
        print(f"etcd skipped: no binary at {etcd_cluster.ETCD_BINARY}", file=sys.stderr)
        return
    from navarch.storage.etcd import EtcdStore
    cluster = await asyncio.to_thread(etcd_cluster.EtcdCluster(size=1).start)
    try:
        await bench(EtcdStore(cluster.endpoints), "etcd", args.creates, args.concurrency)
    finally:
        await asyncio.to_thread(cluster.stop)


if __name__ == "__main__":
    asyncio.run(main())

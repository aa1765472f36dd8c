"""SQLite-specific behaviour beyond the shared conformance suite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from navarch.storage.interface import Compacted, KeyExists
from navarch.storage.sqlite import SqliteStore
from navarch.storage.sqlite import schema


async def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path, compact_interval=None)
    await store.start()
    return store


async def test_reopen_keeps_data_and_continues_revisions(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    a = await store.create("/k/a", b"1")
    await store.create("/k/b", b"1")
    last = await store.delete("/k/b")
    await store.close()

    store = await open_store(tmp_path / "db")
    try:
        assert await store.current_revision() == last.mod_revision
        assert await store.get("/k/a") == a
        assert await store.get("/k/b") is None
        c = await store.create("/k/c", b"1")
        assert c.mod_revision == last.mod_revision + 1
    finally:
        await store.close()


async def test_revisions_never_go_back_after_compacting_away_the_newest_row(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    await store.create("/k/a", b"1")
    gone = await store.delete("/k/a")  # the newest row is a delete: compaction removes it
    await store.compact(gone.mod_revision)
    await store.close()
    store = await open_store(tmp_path / "db")
    try:
        assert await store.current_revision() == gone.mod_revision
        assert await store.compacted_revision() == gone.mod_revision
        assert (await store.create("/k/a", b"2")).mod_revision == gone.mod_revision + 1
    finally:
        await store.close()


async def test_concurrent_creates_are_grouped_into_few_commits(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    try:
        before = store.commit_count
        results = await asyncio.gather(*(store.create(f"/k/{i:03}", b"v") for i in range(200)))
        assert sorted(kv.mod_revision for kv in results) == list(range(1, 201))
        assert await store.count("/k/") == 200
        assert store.commit_count - before < 200
    finally:
        await store.close()


async def test_writes_submitted_in_one_loop_turn_reach_the_writer_together(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    try:
        before = store.commit_count
        # gather starts all 50 creates in one turn of the loop: one hand-over, one transaction.
        results = await asyncio.gather(*(store.create(f"/k/{i:03}", b"v") for i in range(50)))
        assert sorted(kv.mod_revision for kv in results) == list(range(1, 51))
        assert store.commit_count - before == 1
    finally:
        await store.close()


async def test_writes_submitted_just_before_close_are_committed(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    pending = [asyncio.ensure_future(store.create(f"/k/{i}", b"v")) for i in range(3)]
    await asyncio.sleep(0)  # the creates have submitted; their hand-over has not run yet
    await store.close()
    done = await asyncio.wait_for(asyncio.gather(*pending), 5)
    assert [kv.mod_revision for kv in done] == [1, 2, 3]


async def test_failed_operations_in_a_batch_do_not_affect_the_others(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    try:
        results = await asyncio.gather(*(store.create("/k/same", str(i).encode()) for i in range(20)),
                                       return_exceptions=True)
        assert sum(1 for r in results if isinstance(r, KeyExists)) == 19
        assert await store.count("/k/") == 1
    finally:
        await store.close()


async def test_unique_index_rejects_two_successors_of_one_revision(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "db")
    a = await store.create("/k/a", b"1")
    await store.close()
    conn = schema.connect(tmp_path / "db")
    try:
        row = (a.mod_revision + 1, "/k/a", 0, 0, a.create_revision, a.mod_revision, b"x", b"1")
        conn.execute(f"INSERT INTO kv ({schema.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        with pytest.raises(Exception, match="UNIQUE"):
            conn.execute(f"INSERT INTO kv ({schema.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (a.mod_revision + 2, *row[1:]))
    finally:
        conn.close()


async def test_slow_watcher_is_ended_with_compacted(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db", compact_interval=None, watch_queue_limit=5)
    await store.start()
    try:
        watch = store.watch("/k/", 0)
        first = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0)  # the watch subscribes, then waits for live events
        await store.create("/k/first", b"v")
        assert len(await first) == 1
        for i in range(10):  # nobody reads: the queue overflows
            await store.create(f"/k/more{i}", b"v")
        with pytest.raises(Compacted):
            while True:
                await anext(watch)
        await watch.aclose()
    finally:
        await store.close()


async def test_background_compactor_runs_from_start(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db", compact_interval=0.01, compact_retention=0.0)
    await store.start()
    try:
        a = await store.create("/k/a", b"1")
        await store.update("/k/a", b"2", a.mod_revision)
        async with asyncio.timeout(5):
            while await store.compacted_revision() < a.mod_revision + 1:
                await asyncio.sleep(0.01)
        assert (await store.get("/k/a")).value == b"2"
    finally:
        await store.close()


WRITER = textwrap.dedent("""
    import asyncio, sys
    from navarch.storage.sqlite import SqliteStore

    async def main():
        store = SqliteStore(sys.argv[1], compact_interval=None)
        await store.start()
        i = 0
        while True:
            kvs = await asyncio.gather(*(store.create(f"/k/{i + j:06}", b"v") for j in range(20)))
            i += 20
            # Only acknowledged (returned) writes are reported.
            print(max(kv.mod_revision for kv in kvs), flush=True)

    asyncio.run(main())
""")


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "db"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, str(db), stdout=subprocess.PIPE, env={**os.environ})
    acknowledged = 0
    try:
        async with asyncio.timeout(20):
            while acknowledged < 200:
                line = await proc.stdout.readline()
                assert line, "writer exited early"
                acknowledged = int(line)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    store = await open_store(db)
    try:
        assert await store.current_revision() >= acknowledged
        assert await store.count("/k/") >= acknowledged
    finally:
        await store.close()

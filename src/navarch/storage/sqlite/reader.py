"""Reads on their own connection and thread, so they never wait behind the writer's fsync.

Every read runs in one read transaction: WAL gives it a stable snapshot, so the compaction check and
the query see the same file state even while the writer commits or compacts.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, TypeVar

from navarch.storage.interface import Compacted, Event, KeyValue, ListResult
from navarch.storage.sqlite import schema

T = TypeVar("T")

# Walk the prefix in key order and keep a row only if it is its key's latest at or below the
# revision and not a delete. Correlated (rather than GROUP BY) so SQLite streams in index order and a
# page stops after LIMIT rows instead of materialising the whole prefix.
LIST_SQL = f"""
SELECT {schema.COLUMNS} FROM kv AS k
WHERE k.key {{lower}} ? AND k.key < ? AND k.id <= ? AND k.deleted = 0
  AND k.id = (SELECT MAX(l.id) FROM kv AS l WHERE l.key = k.key AND l.id <= ?)
ORDER BY k.key LIMIT ?
"""
LIST_FROM_PREFIX_SQL = LIST_SQL.format(lower=">=")
LIST_AFTER_KEY_SQL = LIST_SQL.format(lower=">")

COUNT_SQL = """
SELECT COUNT(*) FROM kv JOIN (
    SELECT MAX(id) AS latest FROM kv WHERE key >= ? AND key < ? GROUP BY key
) ON kv.id = latest WHERE deleted = 0
"""

REPLAY_SQL = f"""
SELECT {schema.COLUMNS} FROM kv WHERE id > ? AND id <= ? AND key >= ? AND key < ? ORDER BY id LIMIT ?
"""

# Stands in for "no upper bound" for an empty prefix: above every code point.
NO_END = "\U0010ffff\U0010ffff"


class Reader:
    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._in_transaction, fn)

    def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            self._conn = schema.connect(self._path)
        conn = self._conn
        conn.execute("BEGIN")
        try:
            return fn(conn)
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Blocks until running reads finish (call from a worker thread)."""
        def close_conn() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        self._executor.submit(close_conn).result()
        self._executor.shutdown(wait=True)


def check_compacted(conn: sqlite3.Connection, revision: int) -> None:
    compacted = schema.read_compacted(conn)
    if revision < compacted:
        raise Compacted(revision, compacted)


def get(conn: sqlite3.Connection, key: str, revision: int) -> KeyValue | None:
    check_compacted(conn, revision)
    row = conn.execute(f"SELECT {schema.COLUMNS} FROM kv WHERE key = ? AND id <= ? ORDER BY id DESC LIMIT 1",
                       (key, revision)).fetchone()
    return schema.row_kv(row) if row is not None else None


def list_at(conn: sqlite3.Connection, prefix: str, revision: int, limit: int | None,
            start_after: str | None) -> ListResult:
    check_compacted(conn, revision)
    upper = schema.prefix_end(prefix) or NO_END
    fetch = limit + 1 if limit else -1
    if start_after is not None and start_after >= prefix:
        rows = conn.execute(LIST_AFTER_KEY_SQL, (start_after, upper, revision, revision, fetch)).fetchall()
    else:
        rows = conn.execute(LIST_FROM_PREFIX_SQL, (prefix, upper, revision, revision, fetch)).fetchall()
    more = bool(limit) and len(rows) > limit
    kept = rows[:limit] if limit else rows
    items = [kv for row in kept if (kv := schema.row_kv(row)) is not None]
    return ListResult(items, revision, more)


def count(conn: sqlite3.Connection, prefix: str) -> int:
    upper = schema.prefix_end(prefix) or NO_END
    return int(conn.execute(COUNT_SQL, (prefix, upper)).fetchone()[0])


def replay_page(conn: sqlite3.Connection, prefix: str, after: int, up_to: int, limit: int) -> list[Event]:
    check_compacted(conn, after)
    upper = schema.prefix_end(prefix) or NO_END
    rows = conn.execute(REPLAY_SQL, (after, up_to, prefix, upper, limit)).fetchall()
    return [schema.row_event(row) for row in rows]

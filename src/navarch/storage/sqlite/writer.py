"""The one thread that writes the SQLite file, with group commit.

Coroutines enqueue operations and await a future. Operations submitted during one turn of the event
loop are handed to the thread together, in one queue item, at the end of that turn (waking the
thread once per operation cost the loop a thread switch per write under load). The thread takes
everything queued at that moment (up to about ``MAX_BATCH``), applies each operation's
check-and-append in a single transaction and commits once, which is one fsync for the whole batch;
while it fsyncs, new operations pile up and form the next batch, so throughput grows with
concurrency. After COMMIT returns it hands the batch's events and results back to the event loop in
one ``call_soon_threadsafe``, so events reach watchers in revision order and a coroutine is only
answered once its write is durable.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from navarch.storage.interface import (
    Event, KeyExists, KeyNotFound, KeyValue, RevisionConflict, StoreError,
)
from navarch.storage.sqlite import schema

log = logging.getLogger(__name__)

MAX_BATCH = 2000

OpKind = Literal["create", "update", "delete", "compact"]


@dataclass(slots=True)
class Op:
    kind: OpKind
    key: str
    value: bytes = b""
    expected: int | None = None
    future: asyncio.Future = field(default=None)  # type: ignore[assignment]


@dataclass(slots=True)
class Outcome:
    op: Op
    result: object = None
    error: BaseException | None = None


Deliver = Callable[[list[Event], list[Outcome], int], None]


class Writer:
    """Owns the write connection; ``deliver(events, outcomes, revision)`` runs on the loop per commit."""

    def __init__(self, path: str | Path, loop: asyncio.AbstractEventLoop, deliver: Deliver) -> None:
        self._path = path
        self._loop = loop
        self._deliver = deliver
        self._queue: queue.SimpleQueue[list[Op] | None] = queue.SimpleQueue()
        # Submitted during the current loop turn, not yet handed to the thread (loop thread only).
        self._pending: list[Op] = []
        self._thread = threading.Thread(target=self._run, name=f"sqlite-writer:{path}", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self.revision = 0
        self.compacted = 0
        self.commits = 0
        self.writes = 0

    def start(self) -> None:
        """Open the file (creating the schema) on the writer thread; blocks until it is ready."""
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        """Finish queued operations, then close; blocks (call from a worker thread, after
        ``hand_over`` on the loop so that nothing submitted is left behind)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def submit(self, op: Op) -> asyncio.Future:
        """Queue ``op`` (call on the loop); the future resolves once its batch is committed."""
        op.future = self._loop.create_future()
        if not self._pending:
            self._loop.call_soon(self.hand_over)
        self._pending.append(op)
        return op.future

    def hand_over(self) -> None:
        """Pass what was submitted so far to the writer thread (on the loop)."""
        if self._pending:
            ops, self._pending = self._pending, []
            self._queue.put(ops)

    # -- thread side ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            conn = schema.connect(self._path)
            schema.create_schema(conn)
            self.revision = schema.read_revision(conn)
            self.compacted = schema.read_compacted(conn)
        except BaseException as exc:  # reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = list(first)
                stop = False
                while len(batch) < MAX_BATCH:
                    try:
                        ops = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if ops is None:
                        stop = True
                        break
                    batch.extend(ops)
                self._commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[Op]) -> None:
        start_revision, start_compacted = self.revision, self.compacted
        outcomes: list[Outcome] = []
        events: list[Event] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                outcome = Outcome(op)
                try:
                    event = self._apply(conn, op)
                    if event is not None:
                        events.append(event)
                        outcome.result = event.kv
                except (StoreError, sqlite3.IntegrityError) as exc:
                    outcome.error = exc if isinstance(exc, StoreError) else RevisionConflict(None)
                outcomes.append(outcome)
            conn.execute("COMMIT")
        except Exception as exc:  # disk full, I/O error...: nothing in this batch happened
            log.exception("sqlite commit of %d operations failed", len(batch))
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.revision, self.compacted = start_revision, start_compacted
            failure = StoreError(f"sqlite commit failed: {exc}")
            outcomes = [Outcome(op, error=failure) for op in batch]
            events = []
        else:
            self.commits += 1
            self.writes += len(events)
        self._loop.call_soon_threadsafe(self._deliver, events, outcomes, self.revision)

    def _latest(self, conn: sqlite3.Connection, key: str) -> schema.Row | None:
        return conn.execute(f"SELECT {schema.COLUMNS} FROM kv WHERE key = ? ORDER BY id DESC LIMIT 1",
                            (key,)).fetchone()

    def _append(self, conn: sqlite3.Connection, key: str, *, created: bool, deleted: bool,
                create_revision: int | None, prev_revision: int, value: bytes,
                old_value: bytes | None) -> schema.Row:
        rev = self.revision + 1
        row = (rev, key, int(created), int(deleted), create_revision or rev, prev_revision, value, old_value)
        conn.execute(f"INSERT INTO kv ({schema.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        self.revision = rev
        return row

    def _apply(self, conn: sqlite3.Connection, op: Op) -> Event | None:
        if op.kind == "compact":
            self._compact(conn, op.expected or 0)
            return None
        latest = self._latest(conn, op.key)
        current = schema.row_kv(latest) if latest is not None else None
        if op.kind == "create":
            if current is not None:
                raise KeyExists(op.key)
            row = self._append(conn, op.key, created=True, deleted=False, create_revision=None,
                               prev_revision=latest[0] if latest else 0, value=op.value, old_value=None)
        else:
            if current is None:
                raise KeyNotFound(op.key)
            if op.expected is not None and op.expected != current.mod_revision:
                raise RevisionConflict(current)
            deleting = op.kind == "delete"
            row = self._append(conn, op.key, created=False, deleted=deleting,
                               create_revision=current.create_revision, prev_revision=current.mod_revision,
                               value=current.value if deleting else op.value,
                               old_value=None if deleting else current.value)
        return schema.row_event(row)

    def _compact(self, conn: sqlite3.Connection, revision: int) -> None:
        if revision > self.revision:
            raise StoreError(f"cannot compact to future revision {revision} (current {self.revision})")
        if revision <= self.compacted:
            return
        # A row is history once a later row of its key at or below the bound supersedes it; a delete
        # at or below the bound is history too, since after it the key simply does not exist.
        conn.execute("DELETE FROM kv WHERE id IN "
                     "(SELECT prev_revision FROM kv WHERE id <= ? AND prev_revision > 0)", (revision,))
        conn.execute("DELETE FROM kv WHERE id <= ? AND deleted = 1", (revision,))
        conn.execute("INSERT INTO meta (name, value) VALUES (?, ?) "
                     "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (schema.COMPACTED, revision))
        self.compacted = revision

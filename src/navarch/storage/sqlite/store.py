"""SqliteStore: the embedded store behind `navarch server` (kine's design, in one process).

Writes go to the single writer thread (group commit, see writer.py); reads to the reader thread
(reader.py); the event loop only awaits futures. Each commit's events are published to the in-process
broadcaster, which serves watches; history older than the broadcaster's pinned revision is replayed
from the table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator

from navarch.storage import broadcaster as broadcasting
from navarch.storage import compactor as compacting
from navarch.storage.interface import Event, KeyValue, ListResult, StoreError
from navarch.storage.sqlite import reader as reading
from navarch.storage.sqlite.writer import Op, Outcome, Writer

REPLAY_PAGE = 1000


class SqliteStore:
    def __init__(self, path: str | Path, *, compact_interval: float | None = compacting.DEFAULT_INTERVAL,
                 compact_retention: float = compacting.DEFAULT_RETENTION,
                 watch_queue_limit: int = broadcasting.DEFAULT_QUEUE_LIMIT) -> None:
        """``compact_interval=None`` disables the background compactor."""
        self.path = Path(path)
        self._compact_interval = compact_interval
        self._compact_retention = compact_retention
        self._watch_queue_limit = watch_queue_limit
        self._writer: Writer | None = None
        self._reader: reading.Reader | None = None
        self._broadcaster = broadcasting.Broadcaster(0, watch_queue_limit)
        self._compactor: compacting.Compactor | None = None
        self._revision = 0  # the last revision whose commit has been delivered to the loop
        self._compacted = 0

    async def start(self) -> None:
        if self._writer is not None:
            return
        if self.path.parent != Path(""):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = Writer(self.path, asyncio.get_running_loop(), self._delivered)
        await asyncio.to_thread(writer.start)
        self._writer = writer
        self._reader = reading.Reader(self.path)
        self._revision, self._compacted = writer.revision, writer.compacted
        self._broadcaster = broadcasting.Broadcaster(self._revision, self._watch_queue_limit)
        if self._compact_interval is not None:
            self._compactor = compacting.Compactor(self, interval=self._compact_interval,
                                                   retention=self._compact_retention)
            self._compactor.start()

    async def close(self) -> None:
        if self._compactor is not None:
            await self._compactor.stop()
            self._compactor = None
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.hand_over()
            await asyncio.to_thread(writer.stop)
            # Results of the last batch are delivered via call_soon_threadsafe: let them run.
            await asyncio.sleep(0)
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.to_thread(reader.close)
        self._broadcaster.close()

    @property
    def commit_count(self) -> int:
        """Transactions committed so far (each one fsync): fewer than writes when group commit works."""
        return self._writer.commits if self._writer else 0

    # -- writes ---------------------------------------------------------------------------------

    def _delivered(self, events: list[Event], outcomes: list[Outcome], revision: int) -> None:
        self._revision = max(self._revision, revision)
        self._broadcaster.publish(events)
        for outcome in outcomes:
            future = outcome.op.future
            if future.done():  # the caller was cancelled; the write happened regardless
                continue
            if outcome.error is not None:
                future.set_exception(outcome.error)
            else:
                future.set_result(outcome.result)
            if outcome.op.kind == "compact" and outcome.error is None:
                self._compacted = max(self._compacted, outcome.op.expected or 0)

    async def _write(self, op: Op) -> object:
        if self._writer is None:
            raise StoreError("sqlite store is not started")
        return await self._writer.submit(op)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self._write(Op("create", key, value))  # type: ignore[return-value]

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        return await self._write(Op("update", key, value, expected_revision))  # type: ignore[return-value]

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        return await self._write(Op("delete", key, b"", expected_revision))  # type: ignore[return-value]

    async def compact(self, revision: int) -> None:
        await self._write(Op("compact", "", b"", revision))

    # -- reads ----------------------------------------------------------------------------------

    def _read(self) -> reading.Reader:
        if self._reader is None:
            raise StoreError("sqlite store is not started")
        return self._reader

    def _read_revision(self, revision: int | None) -> int:
        if revision is None or revision == 0:
            return self._revision
        if revision > self._revision:
            raise StoreError(f"revision {revision} is a future revision (current {self._revision})")
        return revision

    async def current_revision(self) -> int:
        return self._revision

    async def compacted_revision(self) -> int:
        return self._compacted

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        rev = self._read_revision(revision)
        return await self._read().run(lambda conn: reading.get(conn, key, rev))

    async def list(self, prefix: str, *, revision: int | None = None, limit: int | None = None,
                   start_after: str | None = None) -> ListResult:
        rev = self._read_revision(revision)
        return await self._read().run(lambda conn: reading.list_at(conn, prefix, rev, limit, start_after))

    async def count(self, prefix: str) -> int:
        return await self._read().run(lambda conn: reading.count(conn, prefix))

    # -- watch ----------------------------------------------------------------------------------

    async def _replay(self, prefix: str, after: int, up_to: int) -> AsyncIterator[list[Event]]:
        reader = self._read()
        while after < up_to:
            start = after
            page = await reader.run(lambda conn: reading.replay_page(conn, prefix, start, up_to, REPLAY_PAGE))
            if not page:
                return
            yield page
            after = page[-1].revision

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[list[Event]]:
        return broadcasting.watch(self._broadcaster, prefix, after_revision, self.compacted_revision,
                                  self._replay)

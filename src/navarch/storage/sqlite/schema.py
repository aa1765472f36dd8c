"""The log-structured table (kine's layout) and the connection settings both SQLite threads share.

One row per revision: the row id *is* the revision. A row records one change to one key:

- ``created`` = 1 when the change brought the key into existence (a first create or a re-create);
- ``deleted`` = 1 for a delete, whose ``value`` is the key's last value (so a DELETE event can carry it);
- ``prev_revision`` = the key's previous row (0 when there is none), ``old_value`` = the value an
  update replaced, so every row can be turned into a complete Event even after compaction removed
  the row it points to.

The UNIQUE index on (key, prev_revision) makes two writers that both saw the same latest row of a key
unable to both append after it: a lost compare-and-swap is a constraint violation, not a silent
overwrite. The single writer thread checks first anyway; the index is the guard should anything else
ever write the file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from navarch.storage.interface import Event, KeyValue

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE INDEX IF NOT EXISTS kv_key_id ON kv (key, id);
CREATE UNIQUE INDEX IF NOT EXISTS kv_key_prev_revision ON kv (key, prev_revision);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

COLUMNS = "id, key, created, deleted, create_revision, prev_revision, value, old_value"

COMPACTED = "compact_revision"  # meta row: the revision history was last compacted at


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal, fsync on commit.

    synchronous=FULL makes SQLite fsync the WAL at every COMMIT, so a write acknowledged after its
    batch committed survives a SIGKILL or power loss; group commit keeps that to one fsync per batch.
    """
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


def read_compacted(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (COMPACTED,)).fetchone()
    return int(row[0]) if row else 0


def read_revision(conn: sqlite3.Connection) -> int:
    """The last revision ever handed out, even if compaction has since deleted that row."""
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").fetchone()
    top = conn.execute("SELECT MAX(id) FROM kv").fetchone()
    return max(int(seq[0]) if seq else 0, int(top[0] or 0) if top else 0, read_compacted(conn))


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound).

    SQLite compares TEXT bytewise in UTF-8, which orders like Python compares code points.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


Row = tuple[int, str, int, int, int, int, bytes, "bytes | None"]


def row_kv(row: Row) -> KeyValue | None:
    """The key's value as of this row (None when the row is a delete)."""
    rev, key, _created, deleted, create_rev, _prev, value, _old = row
    return None if deleted else KeyValue(key, value, create_rev, rev)


def row_event(row: Row) -> Event:
    rev, key, created, deleted, create_rev, prev_rev, value, old_value = row
    kv = KeyValue(key, value, create_rev, rev)
    if deleted:
        return Event("DELETE", kv, KeyValue(key, value, create_rev, prev_rev))
    if created:
        return Event("PUT", kv, None)
    return Event("PUT", kv, KeyValue(key, old_value if old_value is not None else b"", create_rev, prev_rev))

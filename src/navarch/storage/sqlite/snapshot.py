"""Consistent backup and restore of a SQLite store file (`navarch datastore snapshot save/restore`).

Both are blocking file operations meant for the CLI; from async code call them via asyncio.to_thread.
``save_snapshot`` uses SQLite's online backup API in a single step, which copies every page inside
one read transaction: with WAL, the live server keeps committing meanwhile and the copy is exactly
the database as of one commit.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from navarch.storage.interface import StoreError
from navarch.storage.sqlite import schema


class SnapshotError(StoreError):
    """A snapshot could not be saved or restored (bad input file, or a target that already has data)."""


def _copy(source: sqlite3.Connection, target_path: Path) -> None:
    """Write ``source`` to ``target_path`` through a temporary file, so a crash leaves no half file."""
    tmp = target_path.with_name(target_path.name + ".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    target = sqlite3.connect(str(tmp), isolation_level=None)
    try:
        source.backup(target)
        # A standalone file: no -wal beside it to lose; the store turns WAL back on when it opens it.
        target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, target_path)
    for leftover in (Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)


def _check_store(conn: sqlite3.Connection, what: str) -> None:
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"{what} is not a SQLite database: {exc}") from exc
    if "kv" not in tables:
        raise SnapshotError(f"{what} is not a navarch store (no kv table)")


def save_snapshot(db_path: str | Path, out_file: str | Path) -> None:
    """Copy the store at ``db_path`` (which may be open and being written) to ``out_file``."""
    db_path, out_file = Path(db_path), Path(out_file)
    if not db_path.exists():
        raise SnapshotError(f"no store at {db_path}")
    source = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        source.execute("PRAGMA busy_timeout = 10000")
        _check_store(source, str(db_path))
        _copy(source, out_file)
    finally:
        source.close()


def _has_data(db_path: Path) -> bool:
    return any(p.exists() and p.stat().st_size > 0 for p in (db_path, Path(f"{db_path}-wal")))


def restore_snapshot(snapshot_file: str | Path, db_path: str | Path) -> None:
    """Make ``db_path`` a copy of ``snapshot_file``; refuses if ``db_path`` already holds data.

    Revisions, the compacted revision and all history in the snapshot are kept as they were, so
    clients' resourceVersions stay meaningful.
    """
    snapshot_file, db_path = Path(snapshot_file), Path(db_path)
    if _has_data(db_path):
        raise SnapshotError(f"refusing to restore over existing data at {db_path}; "
                            "remove it first or restore to another path")
    if not snapshot_file.is_file():
        raise SnapshotError(f"no snapshot file at {snapshot_file}")
    source = sqlite3.connect(f"file:{snapshot_file}?mode=ro", uri=True, isolation_level=None)
    try:
        _check_store(source, str(snapshot_file))
        check = source.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise SnapshotError(f"snapshot {snapshot_file} is corrupt: {check}")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _copy(source, db_path)
    finally:
        source.close()
    # Open once the way the store does, so the restored file is verified readable as a store.
    conn = schema.connect(db_path)
    try:
        schema.read_revision(conn)
    finally:
        conn.close()

"""The SQLite backend: a log-structured table (one row per revision, as kine keeps it), one writer
thread with group commit, a reader thread, an in-process watch broadcaster, and online snapshots.
"""

from navarch.storage.sqlite.snapshot import SnapshotError, restore_snapshot, save_snapshot
from navarch.storage.sqlite.store import SqliteStore

__all__ = ["SnapshotError", "SqliteStore", "restore_snapshot", "save_snapshot"]

"""Snapshots of a live SQLite store: save while writing, restore only into an empty place."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from navarch.storage.sqlite import SnapshotError, SqliteStore, restore_snapshot, save_snapshot


async def test_snapshot_while_writing_restores_identical_keys_and_revisions(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "live.db", compact_interval=None)
    await store.start()
    try:
        for i in range(50):
            await store.create(f"/k/{i:03}", b"v")
        writing = asyncio.gather(*(store.create(f"/w/{i:03}", b"v") for i in range(300)))
        await asyncio.to_thread(save_snapshot, tmp_path / "live.db", tmp_path / "snap.db")
        await writing
    finally:
        await store.close()

    restore_snapshot(tmp_path / "snap.db", tmp_path / "restored" / "state.db")
    restored = SqliteStore(tmp_path / "restored" / "state.db", compact_interval=None)
    await restored.start()
    try:
        items = (await restored.list("/")).items
        # A prefix of the live history: every /k/ key, and /w/ keys up to one commit, nothing torn.
        assert [kv.key for kv in items[:50]] == [f"/k/{i:03}" for i in range(50)]
        assert [kv.mod_revision for kv in items] == sorted(kv.mod_revision for kv in items)
        revision = await restored.current_revision()
        assert [kv.mod_revision for kv in items] == list(range(1, revision + 1))
        live = SqliteStore(tmp_path / "live.db", compact_interval=None)
        await live.start()
        try:
            assert (await live.list("/", revision=revision)).items == items
        finally:
            await live.close()
        assert (await restored.create("/after", b"v")).mod_revision == revision + 1
    finally:
        await restored.close()


async def test_restore_refuses_to_overwrite_existing_data(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "a.db", compact_interval=None)
    await store.start()
    await store.create("/k", b"v")
    await store.close()
    save_snapshot(tmp_path / "a.db", tmp_path / "snap.db")
    with pytest.raises(SnapshotError, match="existing data"):
        restore_snapshot(tmp_path / "snap.db", tmp_path / "a.db")


def test_restore_rejects_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SnapshotError):
        restore_snapshot(tmp_path / "junk", tmp_path / "new.db")
    assert not (tmp_path / "new.db").exists()


def test_save_of_a_missing_store_fails(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError):
        save_snapshot(tmp_path / "absent.db", tmp_path / "snap.db")

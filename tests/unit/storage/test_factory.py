from __future__ import annotations

from pathlib import Path

import pytest

from navarch.storage.etcd import EtcdStore
from navarch.storage.factory import open_store
from navarch.storage.memory import MemoryStore
from navarch.storage.sqlite import SqliteStore


def test_memory() -> None:
    assert isinstance(open_store("memory:"), MemoryStore)


def test_sqlite(tmp_path: Path) -> None:
    store = open_store(f"sqlite:{tmp_path}/state.db")
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "state.db"


def test_etcd_with_several_endpoints() -> None:
    store = open_store("etcd:http://127.0.0.1:2379,http://127.0.0.1:22379")
    assert isinstance(store, EtcdStore)


@pytest.mark.parametrize("spec", ["", "memory", "sqlite:", "etcd:", "etcd:,", "mysql://x"],
                         ids=["empty", "no-colon", "sqlite-no-path", "etcd-no-url", "etcd-blank", "unknown"])
def test_bad_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        open_store(spec)

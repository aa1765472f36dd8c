"""Store fixtures: one ``store`` fixture parametrized over every backend, for the conformance suite.

The etcd param runs against a real single-member etcd started on free loopback ports (one per test
module, each test works under its own key prefix); it is skipped when the etcd binary is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from navarch.storage.interface import Store
from tests import etcd_cluster


@pytest.fixture(scope="module")
def etcd_endpoints() -> Iterator[list[str]]:
    if not etcd_cluster.etcd_available():
        pytest.skip(f"etcd binary not found at {etcd_cluster.ETCD_BINARY} (apt install etcd-server)")
    with etcd_cluster.EtcdCluster(size=1) as cluster:
        yield cluster.endpoints


@pytest.fixture(params=["memory", "sqlite", "etcd"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        from navarch.storage.memory import MemoryStore
        s: Store = MemoryStore()
    elif request.param == "sqlite":
        from navarch.storage.sqlite import SqliteStore
        s = SqliteStore(tmp_path / "state.db", compact_interval=None)
    else:
        from navarch.storage.etcd import EtcdStore
        s = EtcdStore(request.getfixturevalue("etcd_endpoints"))
    await s.start()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses, since the etcd param shares one etcd across a module."""
    return f"/registry/test/{request.node.name}/"

from __future__ import annotations

from navarch.storage.compactor import Compactor
from navarch.storage.memory import MemoryStore


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_compacts_only_history_older_than_the_retention() -> None:
    store, clock = MemoryStore(), FakeClock()
    compactor = Compactor(store, interval=60, retention=300, clock=clock)
    a = await store.create("/a", b"1")
    assert await compactor.tick() is None  # notes revision 1 at t=1000
    clock.now += 200
    await store.update("/a", b"2", a.mod_revision)
    assert await compactor.tick() is None  # notes revision 2 at t=1200; nothing is 300 s old
    clock.now += 150  # t=1350: the t=1000 mark is old enough, the t=1200 one is not
    await store.create("/b", b"1")
    assert await compactor.tick() == a.mod_revision
    assert await store.compacted_revision() == a.mod_revision
    clock.now += 1000
    assert await compactor.tick() == 3
    assert await compactor.tick() is None  # nothing new to compact


async def test_start_and_stop_leave_no_task_behind() -> None:
    compactor = Compactor(MemoryStore(), interval=0.01, retention=0)
    compactor.start()
    await compactor.stop()
    await compactor.stop()

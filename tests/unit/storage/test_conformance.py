"""The store contract, run against every backend (memory, SQLite, a real etcd): see conftest.store."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import pytest

from navarch.storage.interface import (
    Compacted, Event, KeyExists, KeyNotFound, RevisionConflict, Store,
)


async def next_events(watch: AsyncIterator[list[Event]], count: int, timeout: float = 10.0) -> list[Event]:
    """Read batches until ``count`` events arrived (fails the test on timeout)."""
    events: list[Event] = []
    async with asyncio.timeout(timeout):
        while len(events) < count:
            events.extend(await anext(watch))
    return events


async def test_create_then_get_and_create_again_fails(store: Store, prefix: str) -> None:
    kv = await store.create(prefix + "a", b"one")
    assert (kv.key, kv.value) == (prefix + "a", b"one")
    assert kv.create_revision == kv.mod_revision > 0
    assert await store.get(prefix + "a") == kv
    assert await store.get(prefix + "missing") is None
    with pytest.raises(KeyExists):
        await store.create(prefix + "a", b"two")
    assert (await store.get(prefix + "a")).value == b"one"


async def test_update_compare_and_swap(store: Store, prefix: str) -> None:
    created = await store.create(prefix + "a", b"one")
    updated = await store.update(prefix + "a", b"two", created.mod_revision)
    assert updated.value == b"two"
    assert updated.create_revision == created.create_revision
    assert updated.mod_revision > created.mod_revision
    with pytest.raises(RevisionConflict) as conflict:
        await store.update(prefix + "a", b"three", created.mod_revision)
    assert conflict.value.current == updated
    assert await store.get(prefix + "a") == updated


async def test_update_of_absent_key_is_not_found(store: Store, prefix: str) -> None:
    with pytest.raises(KeyNotFound):
        await store.update(prefix + "nope", b"x", 0)
    with pytest.raises(KeyNotFound):
        await store.update(prefix + "nope", b"x", 5)


async def test_delete_with_expected_revision(store: Store, prefix: str) -> None:
    created = await store.create(prefix + "a", b"one")
    updated = await store.update(prefix + "a", b"two", created.mod_revision)
    with pytest.raises(RevisionConflict) as conflict:
        await store.delete(prefix + "a", created.mod_revision)
    assert conflict.value.current == updated
    deleted = await store.delete(prefix + "a", updated.mod_revision)
    assert deleted.value == b"two"
    assert deleted.create_revision == created.create_revision
    assert deleted.mod_revision > updated.mod_revision
    assert await store.get(prefix + "a") is None
    with pytest.raises(KeyNotFound):
        await store.delete(prefix + "a")


async def test_delete_without_expected_revision_and_recreate(store: Store, prefix: str) -> None:
    await store.create(prefix + "a", b"one")
    deleted = await store.delete(prefix + "a")
    assert deleted.value == b"one"
    again = await store.create(prefix + "a", b"new")
    assert again.create_revision == again.mod_revision > deleted.mod_revision
    assert (await store.get(prefix + "a")).value == b"new"


async def test_get_at_older_revision(store: Store, prefix: str) -> None:
    v1 = await store.create(prefix + "a", b"one")
    v2 = await store.update(prefix + "a", b"two", v1.mod_revision)
    gone = await store.delete(prefix + "a")
    assert await store.get(prefix + "a", revision=v1.mod_revision) == v1
    assert await store.get(prefix + "a", revision=v2.mod_revision) == v2
    assert await store.get(prefix + "a", revision=gone.mod_revision) is None
    assert await store.get(prefix + "a", revision=v1.mod_revision - 1) is None


async def test_revisions_increase_globally(store: Store, prefix: str) -> None:
    seen = [await store.current_revision()]
    for i in range(5):
        kv = await store.create(f"{prefix}k{i}", b"v")
        seen.append(kv.mod_revision)
    kv = await store.update(prefix + "k0", b"w", seen[1])
    seen.append(kv.mod_revision)
    seen.append((await store.delete(prefix + "k1")).mod_revision)
    assert seen == sorted(set(seen))
    assert await store.current_revision() == seen[-1]


async def test_list_by_prefix_in_key_order(store: Store, prefix: str) -> None:
    for name in ["b", "a", "c/x", "c"]:
        await store.create(prefix + name, name.encode())
    await store.create(prefix[:-1] + "-other/a", b"outside")  # shares the string prefix minus "/"
    await store.delete(prefix + "c")
    result = await store.list(prefix)
    assert [kv.key for kv in result.items] == [prefix + "a", prefix + "b", prefix + "c/x"]
    assert result.more is False
    assert result.revision == await store.current_revision()


async def test_list_pages_are_consistent_at_the_first_pages_revision(store: Store, prefix: str) -> None:
    created = {}
    for i in range(7):
        kv = await store.create(f"{prefix}k{i}", f"v{i}".encode())
        created[kv.key] = kv
    first = await store.list(prefix, limit=3)
    assert [kv.key for kv in first.items] == [f"{prefix}k{i}" for i in range(3)]
    assert first.more is True
    # Changes after the first page must not show up in later pages read at its revision.
    await store.update(prefix + "k5", b"changed", created[prefix + "k5"].mod_revision)
    await store.delete(prefix + "k4")
    await store.create(prefix + "k3a", b"new")
    pages = [first]
    while pages[-1].more:
        pages.append(await store.list(prefix, revision=first.revision, limit=3,
                                      start_after=pages[-1].items[-1].key))
    assert all(page.revision == first.revision for page in pages)
    listed = [kv for page in pages for kv in page.items]
    assert listed == [created[f"{prefix}k{i}"] for i in range(7)]
    latest = await store.list(prefix)
    assert [kv.key for kv in latest.items] == [f"{prefix}k{i}" for i in ["0", "1", "2", "3", "3a", "5", "6"]]
    assert latest.items[5].value == b"changed"


async def test_list_at_an_older_revision(store: Store, prefix: str) -> None:
    a = await store.create(prefix + "a", b"1")
    before = await store.current_revision()
    await store.update(prefix + "a", b"2", a.mod_revision)
    await store.create(prefix + "b", b"1")
    old = await store.list(prefix, revision=before)
    assert old.items == [a]
    assert old.revision == before


async def test_count(store: Store, prefix: str) -> None:
    assert await store.count(prefix) == 0
    for name in "abcd":
        await store.create(prefix + name, b"x")
    await store.delete(prefix + "b")
    await store.create(prefix[:-1] + "-other", b"x")
    assert await store.count(prefix) == 3


async def test_watch_replays_history_then_follows_live_changes(store: Store, prefix: str) -> None:
    start = await store.current_revision()
    a1 = await store.create(prefix + "a", b"1")
    a2 = await store.update(prefix + "a", b"2", a1.mod_revision)
    await store.create("/elsewhere/" + prefix, b"not watched")
    watch = store.watch(prefix, start)
    try:
        replayed = await next_events(watch, 2)
        assert [(e.type, e.kv, e.prev) for e in replayed] == [("PUT", a1, None), ("PUT", a2, a1)]
        assert replayed[0].created and not replayed[1].created
        b1 = await store.create(prefix + "b", b"1")
        gone = await store.delete(prefix + "a")
        live = await next_events(watch, 2)
        assert [(e.type, e.kv, e.prev) for e in live] == [("PUT", b1, None), ("DELETE", gone, a2)]
        assert gone.value == b"2"
        revisions = [e.revision for e in replayed + live]
        assert revisions == sorted(set(revisions))
    finally:
        await watch.aclose()


async def test_watch_from_a_middle_revision_skips_older_changes(store: Store, prefix: str) -> None:
    a1 = await store.create(prefix + "a", b"1")
    a2 = await store.update(prefix + "a", b"2", a1.mod_revision)
    watch = store.watch(prefix, a1.mod_revision)
    try:
        events = await next_events(watch, 1)
        assert [(e.type, e.kv, e.prev) for e in events] == [("PUT", a2, a1)]
    finally:
        await watch.aclose()


async def test_compaction_keeps_latest_values_and_drops_history(store: Store, prefix: str) -> None:
    a1 = await store.create(prefix + "a", b"1")
    a2 = await store.update(prefix + "a", b"2", a1.mod_revision)
    await store.create(prefix + "b", b"1")
    await store.delete(prefix + "b")
    c1 = await store.create(prefix + "c", b"1")
    current = await store.current_revision()
    await store.compact(current)
    assert await store.compacted_revision() == current
    assert await store.get(prefix + "a") == a2
    assert await store.get(prefix + "b") is None
    assert (await store.list(prefix)).items == [a2, c1]
    assert (await store.list(prefix, revision=current)).items == [a2, c1]
    with pytest.raises(Compacted):
        await store.list(prefix, revision=a1.mod_revision)
    with pytest.raises(Compacted):
        await store.get(prefix + "a", revision=a1.mod_revision)
    # Compacting again at or below the bound changes nothing.
    await store.compact(a1.mod_revision)
    assert await store.compacted_revision() == current
    # Keys can be written and re-created after compaction.
    await store.create(prefix + "b", b"again")
    await store.update(prefix + "a", b"3", a2.mod_revision)
    assert [kv.value for kv in (await store.list(prefix)).items] == [b"3", b"again", b"1"]


async def test_watch_of_a_compacted_revision_raises_compacted(store: Store, prefix: str) -> None:
    a1 = await store.create(prefix + "a", b"1")
    for i in range(3):
        a1 = await store.update(prefix + "a", str(i).encode(), a1.mod_revision)
    await store.compact(a1.mod_revision)
    watch = store.watch(prefix, a1.mod_revision - 3)
    try:
        with pytest.raises(Compacted) as err:
            async with asyncio.timeout(10):
                await anext(watch)
        assert err.value.compacted == a1.mod_revision
    finally:
        await watch.aclose()
    # Watching from the compacted revision itself still works.
    watch = store.watch(prefix, a1.mod_revision)
    try:
        a2 = await store.update(prefix + "a", b"live", a1.mod_revision)
        assert [(e.kv, e.prev) for e in await next_events(watch, 1)] == [(a2, a1)]
    finally:
        await watch.aclose()


async def test_concurrent_updates_with_one_expected_revision_let_exactly_one_win(
        store: Store, prefix: str) -> None:
    base = await store.create(prefix + "a", b"0")
    results = await asyncio.gather(
        *(store.update(prefix + "a", str(i).encode(), base.mod_revision) for i in range(10)),
        return_exceptions=True)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, RevisionConflict) for r in results if isinstance(r, Exception))
    assert await store.get(prefix + "a") == winners[0]


async def test_closing_a_watch_early_is_clean(store: Store, prefix: str) -> None:
    start = await store.current_revision()
    watch = store.watch(prefix, start)
    async with contextlib.aclosing(watch):
        await store.create(prefix + "a", b"1")
        assert len(await next_events(watch, 1)) == 1
    await store.create(prefix + "b", b"1")  # nothing is left subscribed to fail on this

from __future__ import annotations

import pytest

from navarch.storage.broadcaster import Broadcaster
from navarch.storage.interface import Compacted, Event, KeyValue


def put(key: str, rev: int) -> Event:
    return Event("PUT", KeyValue(key, b"v", rev, rev), None)


async def test_subscribers_get_only_their_prefix_in_order() -> None:
    b = Broadcaster(0)
    sub = b.subscribe("/a/")
    b.publish([put("/a/1", 1), put("/b/1", 2)])
    b.publish([put("/b/2", 3)])
    b.publish([put("/a/2", 4)])
    assert [e.revision for e in await sub.next_batch()] == [1]
    assert [e.revision for e in await sub.next_batch()] == [4]
    assert b.revision == 4


async def test_subscriber_over_its_limit_is_ended_with_compacted() -> None:
    b = Broadcaster(0, queue_limit=2)
    sub = b.subscribe("")
    b.publish([put("/a", 1), put("/b", 2)])
    b.publish([put("/c", 3)])
    assert b.subscriber_count == 0
    with pytest.raises(Compacted):
        await sub.next_batch()


async def test_close_ends_subscribers_cleanly() -> None:
    b = Broadcaster(0)
    sub = b.subscribe("")
    b.close()
    assert await sub.next_batch() is None

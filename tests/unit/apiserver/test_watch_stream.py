"""The watch loop against an in-process API server: events, periodic bookmarks, the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp.test_utils import RawTestServer, TestClient

from navarch.apiserver import watch
from navarch.apiserver.app import APIServer, APIServerConfig
from navarch.storage.memory import MemoryStore

ADMIN = {"username": "admin", "groups": ["system:masters", "system:authenticated"]}


@pytest.fixture
async def client() -> AsyncIterator[TestClient]:
    srv = APIServer(APIServerConfig(), MemoryStore())
    srv.authn.authenticate = lambda request: ADMIN  # type: ignore[method-assign]
    await srv.store.start()
    await srv.cache.start()
    await srv._bootstrap()
    async with TestClient(RawTestServer(srv.handle, request_factory=srv.request_factory())) as c:
        yield c
    await srv.cache.stop()
    await srv.store.close()


def configmap(name: str) -> bytes:
    return orjson.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})


async def read_events(resp) -> list[dict]:
    return [orjson.loads(line) for line in (await resp.read()).splitlines() if line.strip()]


async def test_watch_sends_events_and_periodic_bookmarks_until_its_deadline(client, monkeypatch) -> None:
    monkeypatch.setattr(watch, "BOOKMARK_INTERVAL", 0.3)
    listed = await (await client.get("/api/v1/namespaces/default/configmaps")).json()
    rv = listed["metadata"]["resourceVersion"]
    resp = await client.get("/api/v1/namespaces/default/configmaps",
                            params={"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true",
                                    "timeoutSeconds": "2"})
    assert resp.status == 200
    for name in ("a", "b"):
        created = await client.post("/api/v1/namespaces/default/configmaps", data=configmap(name),
                                    headers={"Content-Type": "application/json"})
        assert created.status == 201
    events = await asyncio.wait_for(read_events(resp), 10)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:2]] == [("ADDED", "a"), ("ADDED", "b")]
    bookmarks = [e for e in events[2:] if e["type"] == "BOOKMARK"]
    # every 0.3 s for 2 s, and one at the end
    assert len(bookmarks) >= 4 and len(bookmarks) == len(events) - 2
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= int(events[1]["object"]["metadata"]["resourceVersion"])


async def test_watch_with_zero_timeout_ends_at_once(client) -> None:
    resp = await client.get("/api/v1/namespaces/default/configmaps",
                            params={"watch": "true", "resourceVersion": "", "timeoutSeconds": "0"})
    assert resp.status == 200
    assert await asyncio.wait_for(read_events(resp), 5) == []

"""Watch streams: chunked JSON events from the watch cache, one object per line.

A watch from resourceVersion "" or "0" starts with a synthetic ADDED per existing object (kubectl's
single-object watch relies on it); from a number N it replays the cache's history after N, or ends
at once with a 410 ERROR event when N is older than the cache can replay.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from navarch.api import errors
from navarch.apiserver import codec
from navarch.apiserver.watchcache import CacheEvent, Entry, TooOld, Watcher

if TYPE_CHECKING:
    from navarch.apiserver.handlers import RequestInfo, ResourceAPI

BOOKMARK_INTERVAL = 10.0
_WAKE: Any = object()  # queued by a watch's timer: time to check the deadline and bookmarks


async def serve_watch(api: "ResourceAPI", info: "RequestInfo") -> web.StreamResponse:
    from navarch.apiserver.handlers import _rv

    r = info.resource
    pred = api._selectors(info)
    rv = info.q("resourceVersion")
    bookmarks = info.q("allowWatchBookmarks") in ("true", "1")
    timeout_q = info.q("timeoutSeconds")
    if timeout_q:
        try:
            timeout = max(0.0, float(int(timeout_q)))
        except ValueError:
            raise errors.bad_request(f"invalid timeoutSeconds: {timeout_q!r}") from None
    else:
        timeout = api.min_request_timeout * (1 + random.random())
    if info.q("sendInitialEvents") == "true":
        raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.field_forbidden(
            "sendInitialEvents", "sendInitialEvents is not supported by navarch")])
    accept = codec.parse_accept(info.request.headers.get("Accept"))
    prefix = api._prefix(r, info.namespace)
    storage_prefix = api._storage(r).storage_prefix()
    cache = api.cache.cache_for(storage_prefix)
    if rv in ("", "0") and rv == "":
        await api._fresh_cache()

    watcher = Watcher(prefix, None, trigger=_trigger(api, info))
    initial: list[CacheEvent] = []
    # Snapshot and subscription happen with no await in between, so no event is lost or doubled.
    if rv in ("", "0"):
        start_rev = api.cache.revision
        for k in cache.sorted_keys():
            if k.startswith(prefix):
                e = cache.items[k]
                initial.append(CacheEvent("ADDED", e, None, e.revision))
        cache.subscribe(watcher)
    else:
        start_rev = _rv(rv)
        if start_rev > api.cache.revision:
            if not await api.cache.wait_for(start_rev, 3.0):
                raise errors.StatusError(504, "Timeout", f"Timeout: Too large resource version: {start_rev}, current: {api.cache.revision}")
        try:
            initial = cache.events_after(start_rev, prefix)
        except TooOld as e:
            return await _gone_stream(info, f"too old resource version: {e.requested} ({e.oldest})")
        cache.subscribe(watcher)

    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                   "Cache-Control": "no-cache, private"})
    resp.enable_chunked_encoding()
    from navarch.apiserver.handlers import _add_warnings

    _add_warnings(resp, info.warnings)
    await resp.prepare(info.request)
    sent_columns = False
    last_rev = start_rev
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def encode(ev: CacheEvent) -> bytes:
        nonlocal sent_columns
        entry = api._converted(info, ev.entry)
        if accept.as_kind == "Table":
            from navarch.apiserver import printers

            table = printers.to_table(r, [entry.obj], include_object=info.q("includeObject", "Metadata"),
                                      list_meta={"resourceVersion": str(ev.revision)},
                                      with_columns=not sent_columns)
            sent_columns = True
            return orjson.dumps({"type": ev.type, "object": table}) + b"\n"
        if accept.as_kind.startswith("PartialObjectMetadata"):
            pom = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{accept.version}",
                   "metadata": entry.obj.get("metadata", {})}
            return orjson.dumps({"type": ev.type, "object": pom}) + b"\n"
        return b'{"type":"' + ev.type.encode() + b'","object":' + entry.raw + b"}\n"

    def visible(ev: CacheEvent) -> tuple[str, CacheEvent] | None:
        """Selector filtering turns updates into ADDED/DELETED as objects enter or leave the selection."""
        if pred is None:
            return ev.type, ev
        now_in = ev.type != "DELETED" and pred(ev.entry.obj)
        was_in = ev.prev is not None and pred(ev.prev.obj)
        if ev.type == "DELETED":
            return ("DELETED", ev) if (was_in or pred(ev.entry.obj)) else None
        if now_in and was_in:
            return "MODIFIED", ev
        if now_in:
            return "ADDED", ev
        if was_in:
            return "DELETED", CacheEvent("DELETED", ev.entry, ev.prev, ev.revision)
        return None

    try:
        buf: list[bytes] = []
        for ev in initial:
            if ev.type == "ADDED" and pred is not None and not pred(ev.entry.obj):
                continue
            v = visible(ev) if ev.type != "ADDED" or rv not in ("", "0") else (ev.type, ev)
            if v is None:
                continue
            t, e = v
            buf.append(encode(CacheEvent(t, e.entry, e.prev, e.revision)))
            last_rev = max(last_rev, ev.revision)
        if buf:
            await resp.write(b"".join(buf))
        next_bookmark = loop.time() + BOOKMARK_INTERVAL
        # One timer per watch, re-armed when it fires, queues a wake-up: a busy watch then takes
        # events straight off its queue with no timeout set up per event.
        timer: asyncio.TimerHandle | None = None

        def wake() -> None:
            nonlocal timer
            try:
                watcher.queue.put_nowait(_WAKE)
                timer = None
            except asyncio.QueueFull:  # the overflow's end marker wakes the loop anyway
                timer = loop.call_later(1.0, wake)

        def arm() -> None:
            nonlocal timer
            timer = loop.call_at(min(deadline, next_bookmark) if bookmarks else deadline, wake)

        arm()
        try:
            ended = False
            while not ended:
                ev = watcher.queue.get_nowait() if not watcher.queue.empty() else await watcher.queue.get()
                if ev is None:
                    break  # overflowed or the cache reloaded: the client must re-list
                batch = [ev]
                while not watcher.queue.empty() and len(batch) < 256:
                    nxt = watcher.queue.get_nowait()
                    if nxt is None:
                        watcher.queue.put_nowait(None)
                        break
                    batch.append(nxt)
                out = []
                woken = False
                for ev in batch:
                    if ev is _WAKE:
                        woken = True
                        continue
                    if ev.revision <= start_rev and rv not in ("", "0"):
                        continue
                    v = visible(ev)
                    last_rev = max(last_rev, ev.revision)
                    if v is None:
                        continue
                    t, e = v
                    out.append(encode(CacheEvent(t, e.entry, e.prev, e.revision)))
                if out:
                    await resp.write(b"".join(out))
                if woken:
                    now = loop.time()
                    if now >= deadline:
                        ended = True
                    elif bookmarks and now >= next_bookmark:
                        last_rev = max(last_rev, api.cache.revision)
                        await resp.write(_bookmark(r, last_rev))
                        next_bookmark = loop.time() + BOOKMARK_INTERVAL
                    if not ended:
                        arm()
        finally:
            if timer is not None:
                timer.cancel()
        if bookmarks:
            await resp.write(_bookmark(r, max(last_rev, api.cache.revision)))
    except ConnectionResetError:
        pass
    finally:
        cache.unsubscribe(watcher)
    try:
        await resp.write_eof()
    except (ConnectionResetError, RuntimeError):
        pass
    return resp


def _trigger(api: "ResourceAPI", info: "RequestInfo") -> tuple[str, str] | None:
    """The (field, value) the watch's field selector pins, when the watch cache can index by it."""
    from navarch.api import selectors

    text = info.q("fieldSelector")
    r = info.resource
    if not text.strip() or api._storage(r) is not r:
        return None  # a resource served from another version's storage may map its field names
    fsel = selectors.check_field_selector(r, selectors.parse_field_selector(text))
    for name in ("metadata.name", "spec.nodeName"):
        if name == "spec.nodeName" and (r.group, r.plural) != ("", "pods"):
            continue
        value = fsel.requires_exact_match(name)
        if value is not None:
            return name, value
    return None


def _bookmark(r: Any, revision: int) -> bytes:
    return orjson.dumps({"type": "BOOKMARK", "object": {"kind": r.kind, "apiVersion": r.api_version,
                                                        "metadata": {"resourceVersion": str(revision)}}}) + b"\n"


async def _gone_stream(info: "RequestInfo", message: str) -> web.StreamResponse:
    """Upstream answers an expired watch with 200 and one ERROR event carrying the 410 Status."""
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(info.request)
    status = errors.gone(message).to_status()
    await resp.write(orjson.dumps({"type": "ERROR", "object": status}) + b"\n")
    await resp.write_eof()
    return resp

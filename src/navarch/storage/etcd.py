"""EtcdStore: the store contract on a real etcd v3 cluster, speaking etcd's gRPC API.

The contract was shaped after etcd, so each call is one etcd request: revisions are etcd's
mod/create revisions, create is a txn guarded by create_revision == 0, update and delete are txns
guarded by mod_revision, list is a range at a revision, watch is an etcd watch with prev_kv.

We use the request/response messages and stubs generated from etcd's protos that the ``aetcd``
package ships (``aetcd.rpc``) over ``grpc.aio``, rather than aetcd's high-level client: that client
does not expose range revision/limit, and its watch flattens etcd's per-revision batches.

Failover: requests go to one endpoint at a time; when it is unreachable (gRPC UNAVAILABLE, which is
also what etcd answers while it has no leader) the request is retried on the next endpoint, cycling
through the list a bounded number of times. Watches reconnect the same way and resume after the
last revision they delivered, so a member going down is invisible to watchers. A write retried after
an ambiguous failure may have been applied the first time: a retried create can then report
KeyExists, and a retried update RevisionConflict, exactly as etcd's own clients can.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable, Callable, TypeVar
from urllib.parse import urlsplit

import grpc
from aetcd import rpc

from navarch.storage.interface import (
    Compacted, Event, KeyExists, KeyNotFound, KeyValue, ListResult, RevisionConflict, StoreError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRY_ROUNDS = 3  # times through the whole endpoint list before giving up
RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)
COMPACTED_MESSAGE = "required revision has been compacted"
FUTURE_MESSAGE = "required revision is a future revision"
PROBE_KEY = b"\x00"  # a key nobody writes, used to read header revisions


def grpc_target(endpoint: str) -> tuple[str, bool]:
    """``http(s)://host:port`` or ``host:port`` -> (gRPC target, uses TLS)."""
    if "://" not in endpoint:
        return endpoint, False
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported etcd endpoint {endpoint!r}")
    port = parts.port or 2379
    return f"{parts.hostname}:{port}", parts.scheme == "https"


def range_end(prefix: bytes) -> bytes:
    """etcd's range end for "every key starting with prefix" (b"\\0" = to the end of the keyspace)."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"


def to_kv(kv: rpc.KeyValue) -> KeyValue:
    return KeyValue(kv.key.decode(), kv.value, kv.create_revision, kv.mod_revision)


def to_event(event: rpc.Event) -> Event:
    has_prev = event.HasField("prev_kv")
    prev = to_kv(event.prev_kv) if has_prev else None
    if event.type == rpc.Event.DELETE:
        # etcd's delete event carries only key and revision; the contract wants the last value.
        last = prev or KeyValue(event.kv.key.decode(), b"", 0, 0)
        return Event("DELETE", KeyValue(last.key, last.value, last.create_revision, event.kv.mod_revision), prev)
    kv = to_kv(event.kv)
    return Event("PUT", kv, None if kv.create_revision == kv.mod_revision else prev)


class EtcdStore:
    def __init__(self, endpoints: list[str], *, timeout: float = 10.0) -> None:
        if not endpoints:
            raise ValueError("EtcdStore needs at least one endpoint")
        self._targets = [grpc_target(e) for e in endpoints]
        self._timeout = timeout
        self._channels: dict[int, grpc.aio.Channel] = {}
        self._current = 0
        self._compacted_floor = 0  # a revision known to be compacted (never above the real one)
        self._closed = False

    # -- connection handling --------------------------------------------------------------------

    def _channel(self, index: int) -> grpc.aio.Channel:
        channel = self._channels.get(index)
        if channel is None:
            target, tls = self._targets[index]
            channel = (grpc.aio.secure_channel(target, grpc.ssl_channel_credentials()) if tls
                       else grpc.aio.insecure_channel(target))
            self._channels[index] = channel
        return channel

    def _fail_over(self, index: int) -> None:
        if self._current == index:
            self._current = (index + 1) % len(self._targets)
            if len(self._targets) > 1:
                log.warning("etcd endpoint %s unavailable; switching to %s",
                            self._targets[index][0], self._targets[self._current][0])

    async def _retrying(self, call: Callable[[grpc.aio.Channel], Awaitable[T]]) -> T:
        attempts = RETRY_ROUNDS * len(self._targets)
        for attempt in range(attempts):
            index = self._current
            try:
                return await call(self._channel(index))
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RETRYABLE or attempt == attempts - 1:
                    raise StoreError(f"etcd: {exc.code().name}: {exc.details()}") from exc
                self._fail_over(index)
                await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))
        raise AssertionError("unreachable")

    async def _kv(self, method: str, request: object) -> object:
        async def call(channel: grpc.aio.Channel) -> object:
            return await getattr(rpc.KVStub(channel), method)(request, timeout=self._timeout)
        return await self._retrying(call)

    async def start(self) -> None:
        self._closed = False
        await self.current_revision()

    async def close(self) -> None:
        self._closed = True
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    # -- reads ----------------------------------------------------------------------------------

    async def _range(self, request: rpc.RangeRequest) -> rpc.RangeResponse:
        try:
            return await self._kv("Range", request)  # type: ignore[return-value]
        except StoreError as exc:
            message = str(exc)
            if COMPACTED_MESSAGE in message:
                raise Compacted(request.revision, await self.compacted_revision()) from exc
            raise

    async def current_revision(self) -> int:
        resp = await self._range(rpc.RangeRequest(key=PROBE_KEY, count_only=True))
        return resp.header.revision

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        resp = await self._range(rpc.RangeRequest(key=key.encode(), revision=revision or 0))
        return to_kv(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str, *, revision: int | None = None, limit: int | None = None,
                   start_after: str | None = None) -> ListResult:
        raw_prefix = prefix.encode()
        start = raw_prefix
        if start_after is not None and start_after.encode() >= raw_prefix:
            start = start_after.encode() + b"\x00"  # the smallest key after start_after
        resp = await self._range(rpc.RangeRequest(key=start, range_end=range_end(raw_prefix),
                                                  revision=revision or 0, limit=limit or 0))
        # With revision 0 etcd reads at the header's revision: that is the list's revision.
        return ListResult([to_kv(kv) for kv in resp.kvs], revision or resp.header.revision, resp.more)

    async def count(self, prefix: str) -> int:
        raw = prefix.encode()
        resp = await self._range(rpc.RangeRequest(key=raw, range_end=range_end(raw), count_only=True))
        return resp.count

    async def _works_at(self, revision: int) -> bool:
        try:
            await self._range_raw(revision)
            return True
        except StoreError as exc:
            if COMPACTED_MESSAGE in str(exc):
                return False
            raise

    async def _range_raw(self, revision: int) -> None:
        await self._kv("Range", rpc.RangeRequest(key=PROBE_KEY, revision=revision, count_only=True))

    async def compacted_revision(self) -> int:
        """etcd v3.4 has no call that returns it: find the oldest readable revision by bisection."""
        current = await self.current_revision()
        floor = self._compacted_floor
        if await self._works_at(max(floor, 1)):
            return floor
        low, high = max(floor, 1), current  # reading at low fails, at high works
        while high - low > 1:
            middle = (low + high) // 2
            if await self._works_at(middle):
                high = middle
            else:
                low = middle
        self._compacted_floor = max(self._compacted_floor, high)
        return high

    # -- writes ---------------------------------------------------------------------------------

    @staticmethod
    def _compare(key: bytes, target: str, result: str, value: int) -> rpc.Compare:
        compare = rpc.Compare(key=key, target=getattr(rpc.Compare, target),
                              result=getattr(rpc.Compare, result))
        setattr(compare, "create_revision" if target == "CREATE" else "mod_revision", value)
        return compare

    async def _txn(self, compare: list[rpc.Compare], success: list[rpc.RequestOp],
                   key: bytes) -> tuple[rpc.TxnResponse, KeyValue | None]:
        """Run the txn; on failure also return the key's current value (read in the same txn)."""
        failure = [rpc.RequestOp(request_range=rpc.RangeRequest(key=key))]
        resp: rpc.TxnResponse = await self._kv(  # type: ignore[assignment]
            "Txn", rpc.TxnRequest(compare=compare, success=success, failure=failure))
        if resp.succeeded:
            return resp, None
        kvs = resp.responses[0].response_range.kvs
        return resp, to_kv(kvs[0]) if kvs else None

    async def create(self, key: str, value: bytes) -> KeyValue:
        raw = key.encode()
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value))
        resp, _ = await self._txn([self._compare(raw, "CREATE", "EQUAL", 0)], [put], raw)
        if not resp.succeeded:
            raise KeyExists(key)
        rev = resp.header.revision
        return KeyValue(key, value, rev, rev)

    async def update(self, key: str, value: bytes, expected_revision: int) -> KeyValue:
        raw = key.encode()
        put = rpc.RequestOp(request_put=rpc.PutRequest(key=raw, value=value, prev_kv=True))
        # create_revision > 0 keeps "mod_revision == 0" from matching an absent key.
        compare = [self._compare(raw, "CREATE", "GREATER", 0),
                   self._compare(raw, "MOD", "EQUAL", expected_revision)]
        resp, current = await self._txn(compare, [put], raw)
        if not resp.succeeded:
            if current is None:
                raise KeyNotFound(key)
            raise RevisionConflict(current)
        prev = resp.responses[0].response_put.prev_kv
        return KeyValue(key, value, prev.create_revision, resp.header.revision)

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        raw = key.encode()
        op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=raw, prev_kv=True))
        compare = [self._compare(raw, "CREATE", "GREATER", 0)]
        if expected_revision is not None:
            compare.append(self._compare(raw, "MOD", "EQUAL", expected_revision))
        resp, current = await self._txn(compare, [op], raw)
        if not resp.succeeded:
            if current is None:
                raise KeyNotFound(key)
            raise RevisionConflict(current)
        prev_kvs = resp.responses[0].response_delete_range.prev_kvs
        if not prev_kvs:  # raced with another delete inside etcd's apply: the key was already gone
            raise KeyNotFound(key)
        prev = to_kv(prev_kvs[0])
        return KeyValue(key, prev.value, prev.create_revision, resp.header.revision)

    async def compact(self, revision: int) -> None:
        try:
            await self._kv("Compact", rpc.CompactionRequest(revision=revision))
        except StoreError as exc:
            if COMPACTED_MESSAGE in str(exc):  # already compacted at or past it: nothing to do
                self._compacted_floor = max(self._compacted_floor, revision)
                return
            if FUTURE_MESSAGE in str(exc):
                raise StoreError(f"cannot compact to future revision {revision}") from exc
            raise
        self._compacted_floor = max(self._compacted_floor, revision)

    # -- watch ----------------------------------------------------------------------------------

    async def _watch(self, prefix: str, after_revision: int) -> AsyncIterator[list[Event]]:
        raw = prefix.encode()
        next_revision = after_revision + 1
        failures = 0
        while True:
            index = self._current
            # "hasleader" makes a member cut off from the leader end the stream rather than go quiet.
            call = rpc.WatchStub(self._channel(index)).Watch(metadata=(("hasleader", "true"),))
            try:
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=raw, range_end=range_end(raw), start_revision=next_revision, prev_kv=True)))
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        break
                    failures = 0
                    if resp.compact_revision:
                        raise Compacted(next_revision - 1, resp.compact_revision)
                    if resp.canceled:
                        raise StoreError(f"etcd cancelled the watch: {resp.cancel_reason}")
                    if resp.events:
                        batch = [to_event(e) for e in resp.events]
                        next_revision = batch[-1].revision + 1
                        yield batch
            except grpc.aio.AioRpcError as exc:
                if self._closed:  # close() cancelled the stream: end the watch quietly
                    return
                if exc.code() not in RETRYABLE:
                    raise StoreError(f"etcd watch: {exc.code().name}: {exc.details()}") from exc
                reason = exc.details() or exc.code().name
            else:
                reason = "stream closed by the server"
            finally:
                call.cancel()
            # The endpoint went away: resume after the last delivered revision on the next one.
            failures += 1
            if failures > RETRY_ROUNDS * len(self._targets):
                raise StoreError(f"etcd watch: no endpoint reachable: {reason}")
            self._fail_over(index)
            await asyncio.sleep(min(0.05 * failures, 1.0))

    def watch(self, prefix: str, after_revision: int) -> AsyncIterator[list[Event]]:
        return self._watch(prefix, after_revision)

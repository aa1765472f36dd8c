import asyncio
import copy
from typing import Any, Callable

import aiohttp
import pytest

from navarch.client.errors import ApiError
from navarch.machinery.clock import FakeClock
from navarch.machinery.leaderelection import LeaderElectionConfig, LeaderElector


class LeaseServer:
    """An in-memory Lease API with resourceVersion compare-and-swap; ``down`` refuses connections."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0
        self.down = False
        self.writes: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise aiohttp.ClientConnectionError("connection refused")

    async def get(self, res: str, name: str, namespace: str | None = None) -> dict:
        self._check()
        if self.lease is None:
            raise ApiError({"code": 404, "reason": "NotFound", "message": "not found"})
        return copy.deepcopy(self.lease)

    async def create(self, res: str, body: dict, namespace: str | None = None) -> dict:
        self._check()
        if self.lease is not None:
            raise ApiError({"code": 409, "reason": "AlreadyExists", "message": "exists"})
        return self._store(body)

    async def update(self, res: str, body: dict, namespace: str | None = None) -> dict:
        self._check()
        assert self.lease is not None
        if body["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise ApiError({"code": 409, "reason": "Conflict", "message": "modified"})
        return self._store(body)

    def _store(self, body: dict) -> dict:
        self.rv += 1
        self.lease = copy.deepcopy(body)
        self.lease["metadata"]["resourceVersion"] = str(self.rv)
        self.writes.append(self.lease["spec"]["holderIdentity"])
        return copy.deepcopy(self.lease)

    @property
    def holder(self) -> str:
        return (self.lease or {}).get("spec", {}).get("holderIdentity", "")


def config(identity: str, release: bool = True) -> LeaderElectionConfig:
    return LeaderElectionConfig("lock", "kube-system", identity, release_on_cancel=release)


async def run_until(clock: FakeClock, cond: Callable[[], bool], step: float = 0.5, limit: int = 400) -> None:
    for _ in range(limit):
        for _ in range(30):
            await asyncio.sleep(0)
        if cond():
            return
        clock.advance(step)
    raise AssertionError("condition never became true")


class Contender:
    def __init__(self, server: LeaseServer, clock: FakeClock, identity: str, release: bool = True) -> None:
        self.elector = LeaderElector(server, config(identity, release), clock=clock)  # type: ignore[arg-type]
        self.working = False
        self.stopped = 0
        self.task = asyncio.create_task(self.elector.run(self._work, self._stopped))

    async def _work(self) -> None:
        self.working = True
        try:
            await asyncio.Event().wait()
        finally:
            self.working = False

    def _stopped(self) -> None:
        self.stopped += 1

    async def cancel(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@pytest.mark.parametrize("kw,msg", [
    (dict(lease_duration=10, renew_deadline=10), "lease_duration"),
    (dict(renew_deadline=2, retry_period=2), "renew_deadline"),
    (dict(identity=""), "identity"),
], ids=["lease-not-longer-than-renew", "renew-too-short", "no-identity"])
def test_config_validation(kw, msg):
    base = dict(name="l", namespace="ns", identity="me")
    with pytest.raises(ValueError, match=msg):
        LeaderElectionConfig(**{**base, **kw})


async def test_one_leader_and_a_released_lease_is_taken_over_at_once():
    clock, server = FakeClock(), LeaseServer()
    a = Contender(server, clock, "a")
    await run_until(clock, lambda: a.working)
    b = Contender(server, clock, "b")
    clock_before = clock.monotonic()
    await run_until(clock, lambda: clock.monotonic() - clock_before > 40)
    assert a.working and not b.working and server.holder == "a"
    assert a.elector.is_leader() and not b.elector.is_leader() and b.elector.leader == "a"
    spec = server.lease["spec"]
    assert spec["leaseDurationSeconds"] == 15 and spec["leaseTransitions"] == 0
    acquired = spec["acquireTime"]
    assert spec["renewTime"] > acquired  # renewed, acquireTime kept

    await a.cancel()
    assert a.stopped == 1 and server.holder == "" and server.lease["spec"]["leaseDurationSeconds"] == 1
    released_at = clock.monotonic()
    await run_until(clock, lambda: b.working)
    assert clock.monotonic() - released_at < 15  # no need to wait for expiry
    assert server.lease["spec"]["leaseTransitions"] == 1
    await b.cancel()


async def test_a_crashed_leader_is_replaced_only_after_the_lease_expires():
    clock, server = FakeClock(), LeaseServer()
    a = Contender(server, clock, "a", release=False)
    await run_until(clock, lambda: a.working)
    b = Contender(server, clock, "b")
    await run_until(clock, lambda: b.elector.leader == "a")
    await a.cancel()  # no release: the record stays "a"
    assert server.holder == "a"
    crashed_at = clock.monotonic()
    await run_until(clock, lambda: b.working)
    assert clock.monotonic() - crashed_at >= 15 - 2 * 1.2 * 2  # about a lease duration, minus polling slack
    assert server.holder == "b" and server.lease["spec"]["leaseTransitions"] == 1
    await b.cancel()


async def test_leader_that_cannot_renew_stops_before_the_lease_expires():
    clock, server = FakeClock(), LeaseServer()
    a = Contender(server, clock, "a")
    await run_until(clock, lambda: a.working)
    server.down = True
    down_at = clock.monotonic()
    await run_until(clock, lambda: a.task.done())
    assert not a.working and a.stopped == 1 and not a.elector.is_leader()
    assert clock.monotonic() - down_at < 15  # gave up within the lease duration: no overlap possible
    assert a.task.exception() is None


async def test_work_that_fails_ends_leadership_and_surfaces_the_error():
    clock, server = FakeClock(), LeaseServer()
    elector = LeaderElector(server, config("a"), clock=clock)  # type: ignore[arg-type]

    async def work() -> None:
        raise RuntimeError("controller crashed")

    with pytest.raises(RuntimeError, match="controller crashed"):
        await elector.run(work)
    assert server.holder == ""  # released for a healthy successor

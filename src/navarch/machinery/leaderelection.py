"""Leader election on a ``coordination.k8s.io/v1`` Lease, so that of several copies of a controller
manager or scheduler exactly one acts at a time.

The protocol is client-go's, so navarch and upstream components could even share a lock:
- the holder renews ``renewTime`` every ``retry_period``; if it cannot renew for ``renew_deadline``
  it stops leading (its work is cancelled) before the lease can expire for others;
- a contender takes over a lease only when it has seen the same record unchanged for
  ``leaseDurationSeconds`` of *its own* monotonic time, so clock skew between machines cannot make
  two leaders;
- every write carries the Lease's resourceVersion: of two contenders racing, the API server lets
  one win (the other gets 409 Conflict);
- on a clean stop the holder releases (empty holder, 1 s duration) so a successor starts at once.

Defaults are upstream's: 15 s lease, 10 s renew deadline, 2 s retry period.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Coroutine

from navarch.client.errors import ApiError, is_already_exists, is_conflict, is_not_found
from navarch.client.rest import Client
from navarch.machinery.clock import Clock, RealClock

log = logging.getLogger(__name__)

LEASES = "coordination.k8s.io/v1/leases"
JITTER_FACTOR = 1.2


def micro_time(t: datetime) -> str:
    """metav1.MicroTime as the API serialises it."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaderElectionConfig:
    name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def __post_init__(self) -> None:
        # Upstream's validation: a leader must give up before others may take over.
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER_FACTOR}")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")


class LeaderElector:
    def __init__(self, client: Client, config: LeaderElectionConfig, *, clock: Clock | None = None) -> None:
        self.client = client
        self.config = config
        self.clock = clock or RealClock()
        self._observed_spec: dict[str, Any] | None = None
        self._observed_time = 0.0
        self._leading = False
        self._random = random.Random()
        self._on_new_leader: Callable[[str], None] | None = None

    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder as last observed ("" if none)."""
        return str((self._observed_spec or {}).get("holderIdentity") or "")

    async def run(self, on_started_leading: Callable[[], Coroutine[Any, Any, None]],
                  on_stopped_leading: Callable[[], None] | None = None,
                  on_new_leader: Callable[[str], None] | None = None) -> None:
        """Campaign, then lead: ``on_started_leading()`` runs as a task while the lease is held.

        Returns when leadership is lost (the task is cancelled first) or when that task ends (its
        exception is re-raised). Cancelling ``run`` stops the work and, with ``release_on_cancel``,
        releases the lease. ``on_stopped_leading`` is called once after leading ends, only if this
        elector did lead (upstream calls it even when it never led).
        """
        self._on_new_leader = on_new_leader
        work: asyncio.Task[None] | None = None
        renewer: asyncio.Task[bool] | None = None
        lost = False
        try:
            await self._acquire()
            self._leading = True
            log.info("%s: became leader of lease %s/%s", self.config.identity, self.config.namespace,
                     self.config.name)
            work = asyncio.create_task(on_started_leading(), name=f"leading {self.config.name}")
            renewer = asyncio.create_task(self._renew(), name=f"renew lease {self.config.name}")
            await asyncio.wait({work, renewer}, return_when=asyncio.FIRST_COMPLETED)
            lost = renewer.done() and not renewer.cancelled() and renewer.result() is False
            if lost:
                log.warning("%s: lost leadership of lease %s/%s", self.config.identity, self.config.namespace,
                            self.config.name)
        finally:
            for task in (work, renewer):
                if task is not None and not task.done():
                    task.cancel()
            for task in (renewer, work):
                if task is not None:
                    try:
                        await task
                    except asyncio.CancelledError:
                        pass
                    except Exception:  # noqa: BLE001 - surfaced below for the work task
                        if task is renewer:
                            log.exception("lease renewal failed")
            if self._leading:
                self._leading = False
                if not lost and self.config.release_on_cancel:
                    await self._release()
                if on_stopped_leading is not None:
                    on_stopped_leading()
        if work is not None and work.done() and not work.cancelled() and work.exception() is not None:
            raise work.exception()  # type: ignore[misc]

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew():
                return
            await self.clock.sleep(self.config.retry_period * (1 + self._random.random() * JITTER_FACTOR))

    async def _renew(self) -> bool:
        """Renew until a renewal cannot succeed within ``renew_deadline``; then False."""
        cfg = self.config
        while True:
            deadline = self.clock.monotonic() + cfg.renew_deadline
            while not await self._try_acquire_or_renew(deadline):
                if self.clock.monotonic() + cfg.retry_period >= deadline:
                    return False
                await self.clock.sleep(cfg.retry_period)
            await self.clock.sleep(cfg.retry_period)

    async def _try_acquire_or_renew(self, deadline: float | None = None) -> bool:
        try:
            if deadline is None:
                return await self._attempt()
            async with asyncio.timeout(max(deadline - self.clock.monotonic(), 0.001)):
                return await self._attempt()
        except asyncio.CancelledError:
            raise
        except ApiError as e:
            if not (is_conflict(e) or is_already_exists(e)):
                log.warning("%s: error on lease %s/%s: %s", self.config.identity, self.config.namespace,
                            self.config.name, e)
            return False
        except Exception as e:  # noqa: BLE001 - network trouble is a failed attempt, not a crash
            log.warning("%s: cannot reach the lease %s/%s: %s: %s", self.config.identity,
                        self.config.namespace, self.config.name, type(e).__name__, e)
            return False

    async def _attempt(self) -> bool:
        cfg = self.config
        now_wall, now = self.clock.now(), self.clock.monotonic()
        try:
            lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
        except ApiError as e:
            if not is_not_found(e):
                raise
            spec = self._spec(now_wall, None)
            created = await self.client.create(LEASES, {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": cfg.name, "namespace": cfg.namespace}, "spec": spec}, cfg.namespace)
            self._observe(created, now)
            return True
        old = lease.get("spec") or {}
        self._observe(lease, now)
        holder = old.get("holderIdentity") or ""
        duration = float(old.get("leaseDurationSeconds") or cfg.lease_duration)
        if holder and holder != cfg.identity and self._observed_time + duration > now:
            return False
        updated = await self.client.update(LEASES, {**lease, "spec": self._spec(now_wall, old)}, cfg.namespace)
        self._observe(updated, now)
        return True

    def _spec(self, now: datetime, old: dict[str, Any] | None) -> dict[str, Any]:
        cfg = self.config
        ts = micro_time(now)
        ours = old is not None and old.get("holderIdentity") == cfg.identity
        transitions = int((old or {}).get("leaseTransitions") or 0)
        return {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": int(cfg.lease_duration),
            "acquireTime": (old or {}).get("acquireTime") or ts if ours else ts,
            "renewTime": ts,
            "leaseTransitions": transitions if ours or old is None else transitions + 1,
        }

    def _observe(self, lease: dict[str, Any], now: float) -> None:
        """Restart the expiry clock whenever the record changes (client-go's observedTime)."""
        spec = lease.get("spec") or {}
        if spec != self._observed_spec:
            before = self.leader
            self._observed_spec = dict(spec)
            self._observed_time = now
            if self.leader != before and self.leader and self._on_new_leader is not None:
                try:
                    self._on_new_leader(self.leader)
                except Exception:  # noqa: BLE001
                    log.exception("on_new_leader callback failed")

    async def run_as_standby(self, on_started_leading: Callable[[], Coroutine[Any, Any, None]],
                             component: str) -> None:
        """``run`` again each time leadership is lost, as the controller managers do: a process that
        lost a renewal race rejoins as a standby instead of exiting. Returns only when cancelled."""
        while True:
            await self.run(on_started_leading,
                           on_new_leader=lambda who: log.info("%s leader is %s", component, who))
            log.warning("lost the %s lease; standing by", component)

    async def _release(self) -> None:
        """Hand the lease back so a successor need not wait for it to expire. Best effort."""
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.renew_deadline):
                lease = await self.client.get(LEASES, cfg.name, cfg.namespace)
                spec = lease.get("spec") or {}
                if spec.get("holderIdentity") != cfg.identity:
                    return
                ts = micro_time(self.clock.now())
                released = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": ts, "renewTime": ts,
                            "leaseTransitions": int(spec.get("leaseTransitions") or 0)}
                await self.client.update(LEASES, {**lease, "spec": released}, cfg.namespace)
                log.info("%s: released lease %s/%s", cfg.identity, cfg.namespace, cfg.name)
        except Exception as e:  # noqa: BLE001 - the lease will expire on its own
            log.warning("%s: could not release lease %s/%s: %s", cfg.identity, cfg.namespace, cfg.name, e)

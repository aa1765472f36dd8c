"""When an exited container is started again, and how long CrashLoopBackOff holds it back.

Written once for every runtime. The timing is upstream's (``flowcontrol.Backoff`` as the kubelet
uses it, ``kuberuntime`` ``doBackOff``):
- the first restart of a container happens at once and arms a 10 s backoff;
- a container that exits again within the current backoff (counted from its ``finishedAt``) waits
  it out, shown as ``CrashLoopBackOff``; each restart after that doubles the backoff, up to 5 min;
- an exit more than twice the maximum (10 min) after the last restart starts over at 10 s, so a
  container that ran healthily for 10 minutes is not punished for an old crash loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from navarch.machinery.clock import Clock

INITIAL_BACKOFF = 10.0
MAX_BACKOFF = 300.0

ALWAYS, ON_FAILURE, NEVER = "Always", "OnFailure", "Never"


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """Whether an exited container of a running pod is started again (upstream
    ``ShouldContainerBeRestarted`` for a pod not being deleted)."""
    if restart_policy == NEVER:
        return False
    if restart_policy == ON_FAILURE:
        return exit_code != 0
    return True


def container_restart_policy(container: Mapping[str, object], pod_policy: str) -> str:
    """A container's own ``restartPolicy`` (sidecars: Always) wins over the pod's."""
    own = container.get("restartPolicy")
    return str(own) if own else pod_policy


@dataclass
class _Entry:
    backoff: float
    last_update: float


class Backoff:
    """Per-key exponential backoff measured on a ``Clock`` (``monotonic`` seconds)."""

    def __init__(self, clock: Clock, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> None:
        self.clock = clock
        self.initial = initial
        self.maximum = maximum
        self._entries: dict[str, _Entry] = {}

    def get(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.backoff if entry else 0.0

    def next(self, key: str, event_time: float) -> None:
        """A restart happens now: arm (or double) the backoff."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            entry = _Entry(self.initial, 0.0)
            self._entries[key] = entry
        else:
            entry.backoff = min(entry.backoff * 2, self.maximum)
        entry.last_update = self.clock.monotonic()

    def in_backoff_since(self, key: str, event_time: float) -> bool:
        """Whether an event at ``event_time`` (for a container: when it finished) is still inside
        the backoff window."""
        entry = self._entries.get(key)
        if entry is None or self._expired(event_time, entry):
            return False
        return self.clock.monotonic() - event_time < entry.backoff

    def remaining(self, key: str, event_time: float) -> float:
        """Seconds until ``in_backoff_since`` turns False (0 when it already is)."""
        if not self.in_backoff_since(key, event_time):
            return 0.0
        return max(self._entries[key].backoff - (self.clock.monotonic() - event_time), 0.0)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def gc(self) -> None:
        """Drop entries idle for longer than twice the maximum: they would start over anyway."""
        now = self.clock.monotonic()
        for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.maximum]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _expired(self, event_time: float, entry: _Entry) -> bool:
        return event_time - entry.last_update > 2 * self.maximum


@dataclass(frozen=True)
class RestartDecision:
    restart: bool
    # When held back: the CrashLoopBackOff waiting message and how long until a retry may start.
    message: str = ""
    retry_in: float = 0.0


class CrashLoopBackOff:
    """The kubelet's restart gate for exited containers, one per node."""

    def __init__(self, clock: Clock, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> None:
        self.backoff = Backoff(clock, initial, maximum)

    @staticmethod
    def key(pod_uid: str, container: str, spec_hash: str = "") -> str:
        # Upstream keys by pod name, namespace, uid, container name and spec hash; the uid already
        # names the pod uniquely. The hash resets the backoff when the container spec changes.
        return f"{pod_uid}/{container}/{spec_hash}"

    def decide(self, key: str, finished_at: float, container: str, pod_label: str) -> RestartDecision:
        """Restart now (arming the next backoff) or wait. ``finished_at`` is on the clock's
        monotonic scale; ``pod_label`` is ``name_namespace(uid)`` as upstream's messages print it."""
        if self.backoff.in_backoff_since(key, finished_at):
            delay = self.backoff.get(key)
            message = f"back-off {_duration(delay)} restarting failed container={container} pod={pod_label}"
            return RestartDecision(False, message, self.backoff.remaining(key, finished_at))
        self.backoff.next(key, finished_at)
        return RestartDecision(True)

    def forget_pod(self, pod_uid: str) -> None:
        self.backoff.forget_prefix(pod_uid + "/")


def _duration(seconds: float) -> str:
    """Go's ``time.Duration`` text for whole seconds and minutes (``10s``, ``1m20s``, ``5m0s``)."""
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    if minutes == 0:
        return f"{secs}s"
    hours, minutes = divmod(minutes, 60)
    if hours == 0:
        return f"{minutes}m{secs}s"
    return f"{hours}h{minutes}m{secs}s"

"""``Status``: what a plugin answers, and through its code what the scheduler does next.

As upstream, ``None`` stands for Success everywhere a ``Status`` is returned, so the hot path
(thousands of Filter calls per pod) allocates nothing when a node fits.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    SUCCESS = 0
    # Something went wrong inside the scheduler: the pod is retried with backoff.
    ERROR = 1
    # The node does not fit now, but preemption (or a cluster change) might help.
    UNSCHEDULABLE = 2
    # The node can never fit this pod as it is: preemption skips the node.
    UNSCHEDULABLE_AND_UNRESOLVABLE = 3
    # A Permit plugin wants the pod to wait (kept for shape; no Permit plugins yet).
    WAIT = 4
    # PreFilter/PreScore: this plugin has nothing to say about this pod; its Filter/Score is skipped.
    # Bind: this binder does not handle the pod; the next one is asked.
    SKIP = 5


class Status:
    __slots__ = ("code", "reasons", "plugin", "error")

    def __init__(self, code: Code, *reasons: str, plugin: str = "", error: BaseException | None = None) -> None:
        self.code = code
        self.reasons = list(reasons)
        self.plugin = plugin
        self.error = error

    @classmethod
    def from_error(cls, err: BaseException, plugin: str = "") -> "Status":
        return cls(Code.ERROR, f"{type(err).__name__}: {err}" if not str(err) else str(err), plugin=plugin, error=err)

    def is_success(self) -> bool:
        return self.code == Code.SUCCESS

    def is_skip(self) -> bool:
        return self.code == Code.SKIP

    def is_rejected(self) -> bool:
        """Unschedulable in either flavour: the pod simply does not fit (not a scheduler error)."""
        return self.code in (Code.UNSCHEDULABLE, Code.UNSCHEDULABLE_AND_UNRESOLVABLE)

    def message(self) -> str:
        return ", ".join(self.reasons)

    def with_plugin(self, plugin: str) -> "Status":
        if not self.plugin:
            self.plugin = plugin
        return self

    def __repr__(self) -> str:
        return f"Status({self.code.name}, {self.reasons!r}, plugin={self.plugin!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self.code, self.reasons) == (other.code, other.reasons)

    __hash__ = None  # type: ignore[assignment]


def is_success(status: Status | None) -> bool:
    return status is None or status.code == Code.SUCCESS


def code_of(status: Status | None) -> Code:
    return Code.SUCCESS if status is None else status.code

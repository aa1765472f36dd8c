"""Child processes of ``navarch server``: started after the API is ready, restarted with backoff if
they die, stopped in reverse order on shutdown (SIGTERM, then SIGKILL after a timeout).

Running the scheduler and the controller manager as processes uses the machine's second core and
keeps each component exactly as it runs standalone: same command, same flags, its own credentials.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass, field

log = logging.getLogger("navarch.server")


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    task: asyncio.Task | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, stop_timeout: float = 10.0) -> None:
        self.children: list[Child] = []
        self.stop_timeout = stop_timeout
        self._stopping = False

    def add(self, name: str, *args: str) -> None:
        self.children.append(Child(name, [sys.executable, "-m", "navarch", *args]))

    async def start(self) -> None:
        for child in self.children:
            child.task = asyncio.create_task(self._keep_running(child), name=f"supervise-{child.name}")

    async def _keep_running(self, child: Child) -> None:
        backoff = 1.0
        while not self._stopping:
            # New session: a Ctrl-C in the terminal reaches the server, which stops children in order.
            child.proc = await asyncio.create_subprocess_exec(*child.argv, start_new_session=True,
                                                              preexec_fn=_die_with_parent)
            log.info("started %s (pid %d)", child.name, child.proc.pid)
            started = asyncio.get_running_loop().time()
            code = await child.proc.wait()
            if self._stopping:
                return
            ran = asyncio.get_running_loop().time() - started
            backoff = 1.0 if ran > 60 else min(backoff * 2, 30.0)
            child.restarts += 1
            log.warning("%s exited with %s; restarting in %.0f s", child.name, code, backoff)
            await asyncio.sleep(backoff)

    async def stop(self) -> None:
        self._stopping = True
        for child in reversed(self.children):
            proc = child.proc
            if proc is not None and proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), self.stop_timeout)
                except asyncio.TimeoutError:
                    log.warning("%s did not stop in %.0f s; killing it", child.name, self.stop_timeout)
                    proc.kill()
                    await proc.wait()
            if child.task is not None:
                child.task.cancel()
                await asyncio.gather(child.task, return_exceptions=True)


def _load_prctl():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None


# Resolved before any fork: the child may only make the C call (no imports after fork, where another
# thread could hold the import lock).
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the server dies, even by SIGKILL, so no component outlives it."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


del os

"""The exec handler: run a command in the container through the runtime; exit 0 is success.

As upstream, the output (stdout then stderr, at most 10 KiB) is the failure message, and a
command that outlives ``timeoutSeconds`` is a failure (``command "..." timed out``), not an error.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, Sequence

from navarch.kubelet.prober.probe import MAX_OUTPUT, Outcome, ProbeError, Result, go_quote
from navarch.kubelet.runtimes.interface import ExecResult, RuntimeFailure

# How long past the probe's timeout we wait for a runtime that does not enforce it itself.
TIMEOUT_SLACK = 1.0


class ExecRunner(Protocol):
    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult: ...


async def probe_exec(runtime: ExecRunner, container_id: str, command: Sequence[str], timeout: float) -> Outcome:
    """Runtimes signal a command that ran too long by raising ``TimeoutError``."""
    if not command:
        raise ProbeError("exec probe has no command")
    try:
        async with asyncio.timeout(timeout + TIMEOUT_SLACK):
            result = await runtime.exec_sync(container_id, list(command), timeout)
    except TimeoutError:
        return Outcome(Result.FAILURE, f"command {go_quote(' '.join(command))} timed out")
    except RuntimeFailure as e:
        raise ProbeError(str(e)) from e
    output = (result.stdout + result.stderr)[:MAX_OUTPUT].decode("utf-8", errors="replace")
    return Outcome(Result.SUCCESS if result.exit_code == 0 else Result.FAILURE, output)

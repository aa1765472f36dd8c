"""The exec handler over a fake runtime's ``exec_sync``."""

from __future__ import annotations

import asyncio
from typing import Sequence

import pytest

from navarch.kubelet.prober.execprobe import probe_exec
from navarch.kubelet.prober.probe import ProbeError, Result
from navarch.kubelet.runtimes.interface import ExecResult, NotSupportedError


class Runtime:
    def __init__(self, result: ExecResult | BaseException | None = None, hang: bool = False) -> None:
        self.result = result
        self.hang = hang
        self.calls: list[tuple[str, list[str], float]] = []

    async def exec_sync(self, container_id: str, cmd: Sequence[str], timeout: float) -> ExecResult:
        self.calls.append((container_id, list(cmd), timeout))
        if self.hang:
            await asyncio.sleep(60)
        if isinstance(self.result, BaseException):
            raise self.result
        assert self.result is not None
        return self.result


@pytest.mark.parametrize("result,expected,output", [
    (ExecResult(b"ok\n", b"", 0), Result.SUCCESS, "ok\n"),
    (ExecResult(b"", b"cat: /tmp/healthy: No such file or directory\n", 1), Result.FAILURE,
     "cat: /tmp/healthy: No such file or directory\n"),
    (ExecResult(b"out ", b"err", 2), Result.FAILURE, "out err"),
    (ExecResult(b"y" * 20_000, b"", 3), Result.FAILURE, "y" * 10_240),
], ids=["exit-0", "exit-1", "stdout-then-stderr", "output-capped"])
async def test_exit_code_decides(result: ExecResult, expected: Result, output: str) -> None:
    runtime = Runtime(result)
    outcome = await probe_exec(runtime, "cid", ["cat", "/tmp/healthy"], 1)
    assert (outcome.result, outcome.output) == (expected, output)
    assert runtime.calls == [("cid", ["cat", "/tmp/healthy"], 1)]


async def test_runtime_timeout_is_a_failure() -> None:
    outcome = await probe_exec(Runtime(TimeoutError()), "cid", ["sh", "-c", "sleep 5"], 1)
    assert (outcome.result, outcome.output) == (Result.FAILURE, 'command "sh -c sleep 5" timed out')


async def test_runtime_that_ignores_the_timeout_is_cut_off(monkeypatch) -> None:
    monkeypatch.setattr("navarch.kubelet.prober.execprobe.TIMEOUT_SLACK", 0.0)
    outcome = await probe_exec(Runtime(hang=True), "cid", ["sleep", "60"], 0.05)
    assert (outcome.result, outcome.output) == (Result.FAILURE, 'command "sleep 60" timed out')


async def test_runtime_that_cannot_exec_is_an_error() -> None:
    with pytest.raises(ProbeError, match="not supported"):
        await probe_exec(Runtime(NotSupportedError("exec is not supported on simulated nodes")), "cid", ["true"], 1)

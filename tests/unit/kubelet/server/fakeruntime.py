"""A tiny runtime for the kubelet server's tests: containers are records with labels and in-memory
logs; exec and attach run real subprocesses on the host."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Sequence

from navarch.kubelet.runtimes.interface import (
    ContainerFilter,
    ContainerState,
    ContainerStatus,
    LogOptions,
    NotFoundError,
    NotSupportedError,
    PodSandboxStatus,
    SandboxFilter,
    SandboxState,
)


class ProcessSession:
    """A StreamSession over an asyncio subprocess."""

    def __init__(self, proc: asyncio.subprocess.Process, resizes: list[tuple[int, int]]) -> None:
        self.proc = proc
        self.resizes = resizes

    async def write_stdin(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()

    async def read_stdout(self) -> bytes:
        return await self.proc.stdout.read(65536) if self.proc.stdout else b""

    async def read_stderr(self) -> bytes:
        return await self.proc.stderr.read(65536) if self.proc.stderr else b""

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        return await self.proc.wait()


class TcpPortStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self) -> bytes:
        return await self.reader.read(65536)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def write_eof(self) -> None:
        if self.writer.can_write_eof():
            self.writer.write_eof()

    async def close(self) -> None:
        self.writer.close()


class FakeRuntime:
    def __init__(self) -> None:
        self.sandboxes: dict[str, PodSandboxStatus] = {}
        self.containers: dict[str, ContainerStatus] = {}
        self.logs: dict[str, list[bytes]] = {}
        self.follow_queues: dict[str, asyncio.Queue[bytes | None]] = {}
        self.resizes: list[tuple[int, int]] = []
        self.execs: list[tuple[str, tuple[str, ...], bool, bool]] = []
        self.attach_command: Sequence[str] = ("sh", "-c", "echo attached; cat")
        self._ids = itertools.count(1)
        self._t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    # ---- building the fake state
    def add_sandbox(self, namespace: str, name: str, uid: str = "", ip: str = "127.0.0.1") -> str:
        sid = f"sb{next(self._ids)}"
        self.sandboxes[sid] = PodSandboxStatus(id=sid, name=name, namespace=namespace, uid=uid or f"uid-{name}",
                                               attempt=0, state=SandboxState.READY, created_at=self._t0, ip=ip)
        return sid

    def add_container(self, sandbox_id: str, name: str, *, attempt: int = 0,
                      state: ContainerState = ContainerState.RUNNING, log: bytes = b"", exit_code: int = 0) -> str:
        sb = self.sandboxes[sandbox_id]
        cid = f"c{next(self._ids)}"
        self.containers[cid] = ContainerStatus(
            id=cid, sandbox_id=sandbox_id, name=name, attempt=attempt, image="busybox", image_ref="busybox",
            state=state, created_at=self._t0 + dt.timedelta(seconds=attempt), started_at=self._t0,
            exit_code=exit_code,
            labels={"io.kubernetes.pod.namespace": sb.namespace, "io.kubernetes.pod.name": sb.name,
                    "io.kubernetes.pod.uid": sb.uid, "io.kubernetes.container.name": name},
            annotations={"io.kubernetes.container.restartCount": str(attempt)})
        self.logs[cid] = [line for line in log.splitlines(keepends=True)]
        return cid

    def append_log(self, cid: str, data: bytes | None) -> None:
        """Feed a following reader (None ends the stream)."""
        self.follow_queues.setdefault(cid, asyncio.Queue()).put_nowait(data)

    # ---- the runtime surface the server uses
    async def list_pod_sandbox(self, filter: SandboxFilter | None = None) -> list[PodSandboxStatus]:
        return list(self.sandboxes.values())

    async def list_containers(self, filter: ContainerFilter | None = None) -> list[ContainerStatus]:
        return list(self.containers.values())

    async def exec(self, container_id: str, cmd: Sequence[str], *, stdin: bool, tty: bool) -> ProcessSession:
        if container_id not in self.containers:
            raise NotFoundError(container_id)
        self.execs.append((container_id, tuple(cmd), stdin, tty))
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT if tty else asyncio.subprocess.PIPE)
        except FileNotFoundError as e:
            raise NotSupportedError(f"executable not found: {e}") from None
        return ProcessSession(proc, self.resizes)

    async def attach(self, container_id: str, *, stdin: bool, tty: bool) -> ProcessSession:
        return await self.exec(container_id, self.attach_command, stdin=stdin, tty=tty)

    async def port_forward(self, sandbox_id: str, port: int) -> TcpPortStream:
        """Host network: the pod's port is the host's."""
        if sandbox_id not in self.sandboxes:
            raise NotFoundError(sandbox_id)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return TcpPortStream(reader, writer)

    async def container_logs(self, container_id: str, options: LogOptions) -> AsyncIterator[bytes]:
        if container_id not in self.logs:
            raise NotFoundError(container_id)
        lines = self.logs[container_id]
        if options.tail_lines is not None:
            lines = lines[len(lines) - options.tail_lines:] if options.tail_lines else []
        for line in lines:
            yield (b"2026-01-01T00:00:00.000000000Z " + line) if options.timestamps else line
        if options.follow:
            queue = self.follow_queues.setdefault(container_id, asyncio.Queue())
            while (chunk := await queue.get()) is not None:
                yield chunk

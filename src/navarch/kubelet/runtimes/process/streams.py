"""The live streams the kubelet's server relays: exec (pipes or a pty), attach (through the shim's
attach socket) and port-forward (a TCP connection on the host network)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal

from navarch.kubelet.runtimes.process import attach

CHUNK = 32 * 1024


def exit_code(returncode: int) -> int:
    """asyncio reports death by signal N as -N; containers report 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class PipeSession:
    """An exec without a terminal: the process's own stdin/stdout/stderr pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def write_stdin(self, data: bytes) -> None:
        if self.process.stdin is None or self.process.stdin.is_closing():
            return
        self.process.stdin.write(data)
        with contextlib.suppress(ConnectionError):
            await self.process.stdin.drain()

    async def close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()

    async def read_stdout(self) -> bytes:
        return await self.process.stdout.read(CHUNK) if self.process.stdout is not None else b""

    async def read_stderr(self) -> bytes:
        return await self.process.stderr.read(CHUNK) if self.process.stderr is not None else b""

    async def resize(self, width: int, height: int) -> None:
        return None

    async def wait(self) -> int:
        return exit_code(await self.process.wait())

    def kill(self) -> None:
        if self.process.returncode is None:
            kill_group(self.process.pid)


class PtySession:
    """An exec with a terminal: the process has the pty's slave side as stdin, stdout and stderr
    (and as its controlling terminal); we hold the master. Output all comes as stdout, as with
    upstream's tty streams."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self.process = process
        self.master = master
        self._data: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)
        self._eof = False
        self._closed = False
        os.set_blocking(master, False)
        self._loop = asyncio.get_running_loop()
        self._reading = True
        self._loop.add_reader(master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO once every holder of the slave side is gone
            data = b""
        if not data:
            self._eof = True
            self._data.put_nowait(b"")
            self.close()  # nothing more can come; writes would fail too
            return
        self._data.put_nowait(data)
        if self._data.full():
            self._stop_reading()  # back-pressure: resume once the reader caught up

    def _stop_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self.master)
            self._reading = False

    async def read_stdout(self) -> bytes:
        if self._eof and self._data.empty():
            return b""
        data = await self._data.get()
        if not self._eof and not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self.master, self._on_readable)
        if not data:
            self._data.put_nowait(b"")  # every later read sees the end too
        return data

    async def read_stderr(self) -> bytes:
        return b""

    async def write_stdin(self, data: bytes) -> None:
        while data and not self._closed:
            try:
                data = data[os.write(self.master, data):]
            except BlockingIOError:
                await asyncio.sleep(0.01)
            except OSError as e:
                if e.errno == errno.EIO:
                    return
                raise

    async def close_stdin(self) -> None:
        await self.write_stdin(b"\x04")

    async def resize(self, width: int, height: int) -> None:
        if not self._closed:
            attach.set_winsize(self.master, width, height)

    async def wait(self) -> int:
        code = exit_code(await self.process.wait())
        return code

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop_reading()
            os.close(self.master)

    def kill(self) -> None:
        if self.process.returncode is None:
            kill_group(self.process.pid)


class AttachSession:
    """``kubectl attach``: the container's output as the shim copies it, stdin into the shim."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, stdin: bool,
                 tty: bool) -> None:
        self._reader = reader
        self._writer = writer
        self._stdin = stdin
        self._tty = tty
        self._stdout: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self._stderr: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self._exit: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._pump(), name="attach reader")

    async def _pump(self) -> None:
        code = -1
        try:
            while True:
                kind, payload = await attach.read_frame(self._reader)
                if kind == attach.STDOUT:
                    await self._stdout.put(payload)
                elif kind == attach.STDERR:
                    await self._stderr.put(payload)
                elif kind == attach.EXIT:
                    code = int(payload or b"-1")
                    break
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            await self._stdout.put(b"")
            await self._stderr.put(b"")
            if not self._exit.done():
                self._exit.set_result(code)

    async def _read(self, queue: asyncio.Queue[bytes]) -> bytes:
        data = await queue.get()
        if not data:
            queue.put_nowait(b"")
        return data

    async def read_stdout(self) -> bytes:
        return await self._read(self._stdout)

    async def read_stderr(self) -> bytes:
        return await self._read(self._stderr)

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin and data:
            self._writer.write(attach.frame(attach.STDIN, data))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    async def close_stdin(self) -> None:
        if self._stdin:
            self._writer.write(attach.frame(attach.CLOSE_STDIN))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    async def resize(self, width: int, height: int) -> None:
        if self._tty:
            self._writer.write(attach.frame(attach.RESIZE, width.to_bytes(2, "big") + height.to_bytes(2, "big")))
            with contextlib.suppress(ConnectionError):
                await self._writer.drain()

    async def wait(self) -> int:
        """The container's exit code (attach ends when the container does)."""
        return await asyncio.shield(self._exit)

    async def close(self) -> None:
        self._writer.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await self._task


class TcpPortStream:
    """Port-forward on the host network: a plain connection to 127.0.0.1:port."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(CHUNK)
        except ConnectionError:
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        """The client is done sending: pass the half-close on, so the server sees its end of input."""
        if self._writer.can_write_eof() and not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

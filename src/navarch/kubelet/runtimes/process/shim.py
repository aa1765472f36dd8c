"""The per-container shim: ``python -m navarch.kubelet.runtimes.process.shim <container dir>``.

Like containerd's shim, it owns one container for its whole life, independently of the kubelet:
it starts the container's process, copies its output into the CRI log, holds its stdin, waits for
it, and records how it ended. The runtime starts it with ``start_new_session``; it forks once more
and the first process exits at once, so the shim is nobody's child (no zombie for the kubelet to
reap, no controlling terminal to acquire) and survives the kubelet's exit or restart.

Protocol with the runtime:
- the first line on the shim's stdout is ``{"pid": N}`` once the process runs, or ``{"error": "..."}``
  if it could not be started (then ``exit.json`` says exit code 128, reason StartError, as
  containerd does); stdout is closed right after;
- the control socket (abstract ``\\0navarch-shim/<id>/control``) takes JSON lines
  ``{"op": "signal", "signal": N}`` (delivered to the container's process group; the shim holds the
  unreaped process, so its pid cannot have been reused); the shim sends nothing on it and simply
  exits after writing ``exit.json``: the runtime learns of the exit from end-of-file on its
  connection, with no polling and no inotify;
- the attach socket carries ``attach.py`` frames: the container's output as it happens, stdin and
  terminal resizes from ``kubectl attach``.
When the process ends, whatever it left behind (its process group; with cgroups, everything in the
container's cgroup) is killed, as the end of a container's PID namespace would do, the output is
drained into the log, and only then is ``exit.json`` written, so a log reader that sees the exit has
every line.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import termios
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from navarch.kubelet.runtimes.process import attach, state
from navarch.kubelet.runtimes.process.cgroups import Cgroup
from navarch.kubelet.runtimes.process.crilog import LogWriter
from navarch.kubelet.runtimes.process.mounts import Libc, setup_mount_namespace

DRAIN_TIMEOUT = 2.0
MAX_CLIENT_BUFFER = 4 * 2**20
START_ERROR_EXIT = 128


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Shim:
    def __init__(self, cdir: Path, config: dict[str, Any]) -> None:
        self.cdir = cdir
        self.config = config
        self.cid: str = config["id"]
        self.tty: bool = bool(config.get("tty"))
        self.cgroup = Cgroup(config["cgroup"]) if config.get("cgroup") else None
        self.log = LogWriter(config["log_path"], int(config["max_log_bytes"]), int(config["max_log_files"]))
        self.pid = 0
        self.reaped = False
        self.stdin_fd: int | None = None
        self.stdin_once = bool(config.get("stdin_once"))
        self.stdin_lock = asyncio.Lock()
        self.open_streams: set[int] = set()
        self.streams_done = asyncio.Event()
        self.exit_frame: bytes | None = None
        self.clients: set[asyncio.StreamWriter] = set()

    # ---- starting the container ----------------------------------------------------------------------

    def spawn(self) -> None:
        """Fork and exec the container's process; raises OSError with the reason it could not run."""
        cfg = self.config
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        if self.tty:
            master, slave = os.openpty()
            os.set_inheritable(master, False)
            child_fds = (slave, slave, slave)
            outputs = {master: "stdout"}
            self.stdin_fd = master if cfg.get("stdin") else None
            close_after = [slave]
        else:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            if cfg.get("stdin"):
                in_r, in_w = os.pipe2(os.O_CLOEXEC)
                self.stdin_fd = in_w
                child_fds = (in_r, out_w, err_w)
                close_after = [in_r, out_w, err_w]
            else:
                child_fds = (devnull, out_w, err_w)
                close_after = [out_w, err_w]
            outputs = {out_r: "stdout", err_r: "stderr"}
            master = -1
        libc = Libc() if cfg.get("isolated") else None
        argv = list(cfg["command"])
        env = state.container_env(cfg.get("envs") or {})
        workdir = cfg.get("working_dir") or "/"
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the container's process, until exec
            stage = "setup"
            try:
                os.setsid()  # its own process group (the unit signals go to) and session
                if self.tty:
                    fcntl.ioctl(child_fds[0], termios.TIOCSCTTY, 0)
                for target, fd in enumerate(child_fds):
                    os.dup2(fd, target, inheritable=True)
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                if self.cgroup is not None:
                    self.cgroup.join()
                if libc is not None:
                    setup_mount_namespace(libc, cfg.get("mounts") or [])
                os.makedirs(workdir, exist_ok=True)
                os.chdir(workdir)
                os.closerange(3, err_w)
                os.closerange(err_w + 1, 65536)
                stage = "exec"
                os.execvpe(argv[0], argv, env)
            except BaseException as e:  # noqa: BLE001 - reported to the shim, which reports it on
                try:
                    os.write(err_w, _start_error(e, argv[0], stage).encode())
                finally:
                    os._exit(127)
        os.close(err_w)
        for fd in close_after:
            os.close(fd)
        os.close(devnull)
        failure = b""
        while chunk := os.read(err_r, 65536):
            failure += chunk
        os.close(err_r)
        if failure:
            os.waitpid(pid, 0)
            raise OSError(failure.decode(errors="replace"))
        self.pid = pid
        for fd in outputs:
            os.set_blocking(fd, False)
        if self.stdin_fd is not None:
            os.set_blocking(self.stdin_fd, False)
        self.outputs = outputs
        self.master = master

    # ---- running ---------------------------------------------------------------------------------

    async def run(self, control: socket.socket, attach_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        exited = asyncio.Event()
        pidfd = os.pidfd_open(self.pid)
        loop.add_reader(pidfd, exited.set)
        for fd, stream in self.outputs.items():
            self.open_streams.add(fd)
            loop.add_reader(fd, self._on_output, fd, stream)
        control_server = await asyncio.start_unix_server(self._control_client, sock=control)
        attach_server = await asyncio.start_unix_server(self._attach_client, sock=attach_sock)
        await exited.wait()
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(self.pid, 0)  # noqa: ASYNC222 - the pidfd said it has exited
        self.reaped = True
        finished_at = now_iso()
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code  # killed by signal N: 128+N, as shells and runc report it
        oom = self.cgroup.oom_killed() if self.cgroup is not None else False
        self._kill_leftovers()
        try:
            await asyncio.wait_for(self.streams_done.wait(), DRAIN_TIMEOUT)
        except TimeoutError:
            pass  # an escaped process still holds the output open: stop logging it
        for fd in list(self.open_streams):
            self._close_stream(fd)
        self.log.close()
        if self.stdin_fd is not None and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        state.write_json(self.cdir / state.EXIT_FILE, {
            "exit_code": code, "finished_at": finished_at, "oom_killed": oom, "reason": reason})
        self.exit_frame = attach.frame(attach.EXIT, str(code).encode())
        for client in list(self.clients):
            client.write(self.exit_frame)
        await asyncio.sleep(0)  # give transports a chance to flush the exit frame
        for client in list(self.clients):
            try:
                await asyncio.wait_for(client.drain(), 1.0)
            except (TimeoutError, OSError):
                pass
            client.close()
        control_server.close()
        attach_server.close()

    def _kill_leftovers(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def _on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: a pty whose other side is closed for good
            data = b""
        if not data:
            self.log.finish(stream)
            self._close_stream(fd)
            return
        self.log.write(stream, data)
        payload = attach.frame(attach.STDOUT if stream == "stdout" else attach.STDERR, data)
        for client in list(self.clients):
            if client.transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
                client.close()  # a client that does not read must not hold the container back
                self.clients.discard(client)
                continue
            client.write(payload)

    def _close_stream(self, fd: int) -> None:
        if fd not in self.open_streams:
            return
        asyncio.get_running_loop().remove_reader(fd)
        self.open_streams.discard(fd)
        if fd != self.master:
            os.close(fd)
        if not self.open_streams:
            self.streams_done.set()

    # ---- sockets ---------------------------------------------------------------------------------

    async def _control_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not _trusted(writer):
            writer.close()
            return
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                except ValueError:
                    continue
                if request.get("op") == "signal" and not self.reaped:
                    sig = int(request.get("signal", signal.SIGTERM))
                    try:
                        os.killpg(self.pid, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
                    if sig == signal.SIGKILL and self.cgroup is not None:
                        self.cgroup.kill_all()
        except (OSError, asyncio.IncompleteReadError):
            pass
        # The writer stays open: the runtime learns of the exit from EOF when the shim ends.

    async def _attach_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not _trusted(writer):
            writer.close()
            return
        if self.exit_frame is not None:
            writer.write(self.exit_frame)
            writer.close()
            return
        self.clients.add(writer)
        try:
            while True:
                kind, payload = await attach.read_frame(reader)
                if kind == attach.STDIN:
                    await self._write_stdin(payload)
                elif kind == attach.CLOSE_STDIN:
                    if self.stdin_once:
                        self._close_stdin()
                elif kind == attach.RESIZE and self.tty and self.master >= 0:
                    cols, rows = struct.unpack(">HH", payload[:4])
                    attach.set_winsize(self.master, cols, rows)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.clients.discard(writer)
            # ``stdinOnce``: the first attach session's end closes the container's stdin.
            if self.stdin_once:
                self._close_stdin()

    async def _write_stdin(self, data: bytes) -> None:
        async with self.stdin_lock:
            while data and self.stdin_fd is not None:
                try:
                    n = os.write(self.stdin_fd, data)
                    data = data[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except OSError:
                    return  # the reader is gone

    def _close_stdin(self) -> None:
        fd, self.stdin_fd = self.stdin_fd, None
        if fd is None:
            return
        if fd == self.master:
            try:
                os.write(fd, b"\x04")  # a terminal's end of input is ^D, not a closed fd
            except OSError:
                pass
        else:
            os.close(fd)


def _trusted(writer: asyncio.StreamWriter) -> bool:
    """Abstract sockets have no file permissions: only our own user (or root) may talk to a shim."""
    sock = writer.get_extra_info("socket")
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", creds)
    return uid in (0, os.getuid())


def _start_error(e: BaseException, program: str, stage: str) -> str:
    """runc's wording for exec failures, so users see the messages they know."""
    if stage == "exec" and isinstance(e, FileNotFoundError):
        if "/" in program:
            return f'exec: "{program}": stat {program}: no such file or directory'
        return f'exec: "{program}": executable file not found in $PATH'
    if stage == "exec" and isinstance(e, PermissionError):
        return f'exec: "{program}": permission denied'
    return f"{type(e).__name__}: {e}"


def _listen(name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(name)
    sock.listen(64)
    sock.setblocking(False)
    return sock


def main(argv: list[str]) -> int:
    cdir = Path(argv[1]).resolve()
    if os.fork() > 0:
        os._exit(0)  # the runtime reaps this one at once; the shim carries on as nobody's child
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    config = state.read_json(cdir / state.CONFIG_FILE)
    if config is None:
        print(f"no {state.CONFIG_FILE} in {cdir}", file=sys.stderr)
        return 2
    report = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # the runtime reads stdout to its end: only ``report`` keeps it open
    os.close(devnull)
    os.chdir("/")
    try:
        control = _listen(state.shim_socket_name(config["id"]))
        attach_sock = _listen(state.attach_socket_name(config["id"]))
        shim = Shim(cdir, config)
        shim.spawn()
    except Exception as e:  # noqa: BLE001 - every start failure is the container's StartError
        message = str(e) or type(e).__name__
        state.write_json(cdir / state.EXIT_FILE, {
            "exit_code": START_ERROR_EXIT, "finished_at": now_iso(), "oom_killed": False,
            "reason": "StartError", "message": message})
        report.write(json.dumps({"error": message}) + "\n")
        report.close()
        return 1
    state.write_json(cdir / state.STARTED_FILE, {
        "pid": shim.pid, "start_time": state.proc_start_time(shim.pid), "started_at": now_iso(),
        "shim_pid": os.getpid()})
    report.write(json.dumps({"pid": shim.pid}) + "\n")
    report.close()
    asyncio.run(shim.run(control, attach_sock))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The per-container shim, forked by the zygote (``zygote.py``) for each container start.

Like containerd's shim, it owns one container for its whole life, independently of the kubelet:
it starts the container's process, copies its output into the CRI log, holds its stdin, waits for
it, and records how it ended. The zygote forks it in a session of its own (no controlling terminal
to acquire, no signals meant for the kubelet's group), so it survives both the kubelet and the zygote.

Protocol with the runtime:
- the first line on the report channel (the connection the runtime's spawn request came on) is
  ``{"pid": N}`` once the process runs, or ``{"error": "..."}`` if it could not be started (then
  ``exit.json`` says exit code 128, reason StartError, as containerd does); it is closed right after;
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

The shim is a plain ``selectors`` loop (``Reactor``), not asyncio: it is forked from the zygote, and
a process without asyncio loaded is half the size, so the fork is about twice as fast.

Start cost is CPU on a node starting a burst of pods, and in a freshly forked Python process most of
it is copy-on-write: every object the shim touches (even to count a reference) costs a copied page.
So the start path touches little: the container is started with ``posix_spawn`` (a vfork, no page
copied, no Python in the child; the cgroup and mount namespace it needs are entered by the shim
around the spawn, see ``Shim._spawn_process``), files are read and written with plain ``os`` calls,
and garbage collection is off until the container runs.
"""

from __future__ import annotations

import _signal
import functools
import gc
import json
import os
import selectors
import signal
import socket
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from navarch.kubelet.runtimes.process import attach, state
from navarch.kubelet.runtimes.process.cgroups import (
    Cgroup,
    current_procs_files,
    move_to,
)
from navarch.kubelet.runtimes.process.crilog import LogWriter
from navarch.kubelet.runtimes.process.mounts import (
    Libc,
    enter_mount_namespace,
    leave_mount_namespace,
)
from navarch.kubelet.runtimes.process.user import as_user

DRAIN_TIMEOUT = 2.0
MAX_CLIENT_BUFFER = 4 * 2**20
# Stdin written by attach clients and not yet read by the container: above this, stop reading clients.
MAX_STDIN_BUFFER = 2**20
FLUSH_TIMEOUT = 1.0
READ_CHUNK = 65536
START_ERROR_EXIT = 128
# Signals the shim ignores or handles that the container must start with at their defaults.
CHILD_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGHUP, signal.SIGINT, signal.SIGTERM)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class Reactor:
    """A minimal level-triggered poll loop: one read and one write callback per fd."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.handlers: dict[int, list[Callable[[], None] | None]] = {}  # fd: [on read, on write]

    def on_read(self, fd: int, callback: Callable[[], None] | None) -> None:
        self._set(fd, 0, callback)

    def on_write(self, fd: int, callback: Callable[[], None] | None) -> None:
        self._set(fd, 1, callback)

    def forget(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            self.selector.unregister(fd)

    def _set(self, fd: int, slot: int, callback: Callable[[], None] | None) -> None:
        old = self.handlers.get(fd)
        handlers: list[Callable[[], None] | None] = list(old) if old is not None else [None, None]
        handlers[slot] = callback
        events = (selectors.EVENT_READ if handlers[0] else 0) | (selectors.EVENT_WRITE if handlers[1] else 0)
        if not events:
            self.forget(fd)
            return
        self.handlers[fd] = handlers
        if old is None:
            self.selector.register(fd, events)
        else:
            self.selector.modify(fd, events)

    def poll(self, timeout: float | None) -> None:
        for key, mask in self.selector.select(timeout):
            fd = key.fd
            if mask & selectors.EVENT_READ and (h := self.handlers.get(fd)) and h[0]:
                h[0]()
            if mask & selectors.EVENT_WRITE and (h := self.handlers.get(fd)) and h[1]:
                h[1]()


class Peer:
    """An accepted connection: what it sent that is not handled yet, and what we owe it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closed = False


class Shim:
    def __init__(self, cdir: str, config: dict[str, Any]) -> None:
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
        self.stdin_buf = bytearray()
        self.stdin_closing = False
        self.outputs: dict[int, str] = {}
        self.master = -1
        self.open_streams: set[int] = set()
        self.exit_frame: bytes | None = None
        self.reactor = Reactor()
        self.clients: dict[int, Peer] = {}  # attach sessions
        self.controls: dict[int, Peer] = {}  # runtimes watching us

    # ---- starting the container ----------------------------------------------------------------------

    def spawn(self) -> None:
        """Start the container's process; raises OSError with the reason it could not run."""
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
        argv = list(cfg["command"])
        env = state.container_env(cfg.get("envs") or {})
        try:
            pid = self._spawn_process(argv, env, child_fds)
        finally:
            for fd in close_after:
                os.close(fd)
            os.close(devnull)
        self.pid = pid
        for fd in outputs:
            os.set_blocking(fd, False)
        if self.stdin_fd is not None:
            os.set_blocking(self.stdin_fd, False)
        self.outputs = outputs
        self.master = master

    def _spawn_process(self, argv: list[str], env: dict[str, str], child_fds: tuple[int, int, int]) -> int:
        """Start the container's process with ``posix_spawn`` (a vfork: no copy of the shim's pages,
        no Python code in the child). What the child must have from its first instruction on is
        prepared in the shim around the spawn and undone after: the shim steps into the container's
        mount namespace and cgroups, spawns (the child inherits both), and steps back out. The shim
        is single-threaded and blocked in the vfork meanwhile, so nothing else of it runs there."""
        cfg = self.config
        libc = Libc() if cfg.get("isolated") else None
        workdir = cfg.get("working_dir") or "/"
        stage = "setup"
        home_ns = home_groups = None
        pid = 0
        try:
            if libc is not None:
                home_ns = enter_mount_namespace(libc, cfg.get("mounts") or [])
            os.makedirs(workdir, exist_ok=True)
            os.chdir(workdir)  # posix_spawn starts the child in the caller's directory
            if self.cgroup is not None:
                home_groups = current_procs_files()
                self.cgroup.join()
            stage = "exec"
            program = _find_program(argv[0], env)
            if cfg.get("user"):
                # The program found here (in the container's PATH, while still root), under its user.
                argv = as_user(cfg["user"], [program, *argv[1:]])
                program = argv[0]
            if self.tty:
                # After setsid, opening the terminal (without O_NOCTTY) makes it the controlling one.
                actions = [(os.POSIX_SPAWN_OPEN, 0, os.ttyname(child_fds[0]), os.O_RDWR, 0),
                           (os.POSIX_SPAWN_DUP2, 0, 1), (os.POSIX_SPAWN_DUP2, 0, 2)]
            else:
                actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(child_fds)]
            # Every other descriptor of the shim is close-on-exec (Python's default), so the
            # container gets exactly 0, 1 and 2.
            pid = os.posix_spawn(program, argv, env, file_actions=actions, setsid=True,
                                 setsigdef=CHILD_DEFAULT_SIGNALS)
        except Exception as e:  # reported as the start error, in runc's words
            raise OSError(_start_error(e, argv[0], stage)) from e
        finally:
            # Out of the container's cgroups and namespace again. If that fails the shim reports a
            # start error and ends, so it must not leave the container running behind it.
            try:
                if home_groups is not None:
                    move_to(home_groups)
                if home_ns is not None and libc is not None:
                    leave_mount_namespace(libc, home_ns)
                else:
                    os.chdir("/")
            except OSError as e:
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                raise OSError(f"leaving the container's cgroup or namespace after starting it: {e}") from e
        return pid

    # ---- running ---------------------------------------------------------------------------------

    def run(self, control: socket.socket, attach_sock: socket.socket) -> None:
        r = self.reactor
        pidfd = os.pidfd_open(self.pid)
        r.on_read(pidfd, lambda: setattr(self, "reaped", True))
        for fd, stream in self.outputs.items():
            self.open_streams.add(fd)
            r.on_read(fd, functools.partial(self._on_output, fd, stream))
        r.on_read(control.fileno(), lambda: self._accept(control, self.controls, self._control_readable))
        r.on_read(attach_sock.fileno(), lambda: self._accept(attach_sock, self.clients, self._attach_readable))
        while not self.reaped:
            r.poll(None)
        r.forget(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(self.pid, 0)  # the pidfd said it has exited
        finished_at = now_iso()
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            code = 128 - code  # killed by signal N: 128+N, as shells and runc report it
        oom = self.cgroup.oom_killed() if self.cgroup is not None else False
        self._kill_leftovers()
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while self.open_streams and (left := deadline - time.monotonic()) > 0:
            r.poll(left)
        # Past the deadline an escaped process still holds the output open: stop logging it.
        for fd in list(self.open_streams):
            self._close_stream(fd)
        self.log.close()
        self._drop_stdin()
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        state.write_json(os.path.join(self.cdir, state.EXIT_FILE), {
            "exit_code": code, "finished_at": finished_at, "oom_killed": oom, "reason": reason})
        self.exit_frame = attach.frame(attach.EXIT, str(code).encode())
        for peer in list(self.clients.values()):
            self._send(peer, self.exit_frame)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while any(p.outbuf for p in self.clients.values()) and (left := deadline - time.monotonic()) > 0:
            r.poll(left)
        for peer in [*self.clients.values(), *self.controls.values()]:
            self._close_peer(peer)  # EOF on the control connections: the runtime's exit signal
        control.close()
        attach_sock.close()

    def _kill_leftovers(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()

    def _on_output(self, fd: int, stream: str) -> None:
        try:
            data = os.read(fd, READ_CHUNK)
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
        for peer in list(self.clients.values()):
            if len(peer.outbuf) > MAX_CLIENT_BUFFER:
                self._close_peer(peer)  # a client that does not read must not hold the container back
                continue
            self._send(peer, payload)

    def _close_stream(self, fd: int) -> None:
        if fd not in self.open_streams:
            return
        self.reactor.on_read(fd, None)
        self.open_streams.discard(fd)
        if fd != self.master:
            os.close(fd)
        elif self.stdin_fd is None:
            self.reactor.forget(fd)

    # ---- connections -----------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, peers: dict[int, Peer], readable: Callable[[Peer], None]) -> None:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        if not state.trusted_peer(sock):
            sock.close()
            return
        sock.setblocking(False)
        peer = Peer(sock)
        if peers is self.clients and self.exit_frame is not None:
            sock.setblocking(True)
            sock.settimeout(FLUSH_TIMEOUT)
            try:
                sock.sendall(self.exit_frame)
            except OSError:
                pass
            sock.close()
            return
        peers[peer.fd] = peer
        self.reactor.on_read(peer.fd, lambda: readable(peer))

    def _recv(self, peer: Peer) -> bool:
        """Read what is there into the peer's buffer; False at end of stream (the peer is closed)."""
        try:
            data = peer.sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if not data:
            self._close_peer(peer)
            return False
        peer.inbuf += data
        return True

    def _control_readable(self, peer: Peer) -> None:
        if not self._recv(peer):
            return
        while b"\n" in peer.inbuf:
            line, _, rest = peer.inbuf.partition(b"\n")
            peer.inbuf = bytearray(rest)
            try:
                request = json.loads(line)
            except ValueError:
                continue
            if isinstance(request, dict) and request.get("op") == "signal" and not self.reaped:
                sig = int(request.get("signal", signal.SIGTERM))
                try:
                    os.killpg(self.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
                if sig == signal.SIGKILL and self.cgroup is not None:
                    self.cgroup.kill_all()
        # The connection stays open: the runtime learns of the exit from EOF when the shim ends.

    def _attach_readable(self, peer: Peer) -> None:
        if not self._recv(peer):
            return
        header = attach.HEADER.size
        while len(peer.inbuf) >= header:
            kind, length = attach.HEADER.unpack_from(peer.inbuf)
            if len(peer.inbuf) < header + length:
                break
            payload = bytes(peer.inbuf[header:header + length])
            del peer.inbuf[:header + length]
            if kind == attach.STDIN:
                self._write_stdin(payload)
            elif kind == attach.CLOSE_STDIN:
                if self.stdin_once:
                    self._close_stdin()
            elif kind == attach.RESIZE and self.tty and self.master >= 0 and len(payload) >= 4:
                cols, rows = struct.unpack(">HH", payload[:4])
                attach.set_winsize(self.master, cols, rows)

    def _send(self, peer: Peer, data: bytes) -> None:
        if peer.closed:
            return
        if not peer.outbuf:
            try:
                data = data[peer.sock.send(data):]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                self._close_peer(peer)
                return
        if data:
            peer.outbuf += data
            self.reactor.on_write(peer.fd, lambda: self._flush(peer))

    def _flush(self, peer: Peer) -> None:
        try:
            del peer.outbuf[:peer.sock.send(peer.outbuf)]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_peer(peer)
            return
        if not peer.outbuf:
            self.reactor.on_write(peer.fd, None)

    def _close_peer(self, peer: Peer) -> None:
        if peer.closed:
            return
        peer.closed = True
        self.reactor.forget(peer.fd)
        self.controls.pop(peer.fd, None)
        was_client = self.clients.pop(peer.fd, None) is not None
        peer.sock.close()
        if was_client:
            self._pause_clients(len(self.stdin_buf) > MAX_STDIN_BUFFER)
            # ``stdinOnce``: the first attach session's end closes the container's stdin.
            if self.stdin_once:
                self._close_stdin()

    # ---- stdin -----------------------------------------------------------------------------------

    def _write_stdin(self, data: bytes) -> None:
        if self.stdin_fd is None or self.stdin_closing or not data:
            return
        self.stdin_buf += data
        self._flush_stdin()

    def _flush_stdin(self) -> None:
        fd = self.stdin_fd
        if fd is None:
            return
        while self.stdin_buf:
            try:
                del self.stdin_buf[:os.write(fd, self.stdin_buf)]
            except BlockingIOError:
                break
            except OSError:  # the reader is gone
                self.stdin_buf.clear()
                self.stdin_closing = True
        waiting = bool(self.stdin_buf)
        self.reactor.on_write(fd, self._flush_stdin if waiting else None)
        # Back-pressure: a container that does not read its stdin stops the attach clients' input.
        self._pause_clients(len(self.stdin_buf) > MAX_STDIN_BUFFER)
        if not waiting and self.stdin_closing:
            self._drop_stdin()

    def _pause_clients(self, paused: bool) -> None:
        for peer in self.clients.values():
            self.reactor.on_read(peer.fd, None if paused else functools.partial(self._attach_readable, peer))

    def _close_stdin(self) -> None:
        """Close the container's stdin once what was written before is delivered."""
        if self.stdin_fd is None or self.stdin_closing:
            return
        if self.stdin_fd == self.master:
            self.stdin_buf += b"\x04"  # a terminal's end of input is ^D, not a closed fd
        self.stdin_closing = True
        self._flush_stdin()

    def _drop_stdin(self) -> None:
        fd, self.stdin_fd = self.stdin_fd, None
        self.stdin_buf.clear()
        if fd is None:
            return
        self.reactor.on_write(fd, None)
        if fd != self.master:
            os.close(fd)
        elif fd not in self.open_streams:
            self.reactor.forget(fd)


def _find_program(name: str, env: dict[str, str]) -> str:
    """The executable ``execvpe`` would run for ``name``, searched in the container's own PATH (the
    shim's would be wrong); raises FileNotFoundError or PermissionError as exec would."""
    if "/" in name:
        return name
    denied = False
    for directory in os.get_exec_path(env):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                return candidate
            denied = True
    if denied:
        raise PermissionError(name)
    raise FileNotFoundError(name)


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


def _report(report: socket.socket, value: dict[str, Any]) -> None:
    """The one line the runtime waits for; then the connection is closed."""
    try:
        report.sendall(json.dumps(value).encode() + b"\n")
    except OSError:
        pass  # the runtime gave up waiting: the records on disk still tell what happened
    report.close()


def serve(cdir: str, report: socket.socket) -> int:
    """Be the shim of the container in ``cdir`` until it has ended. Called in a fresh process (forked
    by the zygote) whose stderr is the shim log; ``report`` is where the runtime waits for the first
    line, closed once it is written."""
    # SIGHUP stays ignored, as in the zygote. SIGCHLD is ignored there too (the kernel reaps its
    # shims), but the shim must reap its child to learn the exit status. ``_signal`` is the C
    # function under ``signal.signal``, whose enum conversions cost a fresh shim copied pages.
    _signal.signal(_signal.SIGCHLD, _signal.SIG_DFL)
    os.chdir("/")
    config = state.read_json(os.path.join(cdir, state.CONFIG_FILE))
    if config is None:
        message = f"no {state.CONFIG_FILE} in {cdir}"
        _report(report, {"error": message})
        return 2
    try:
        control = _listen(state.shim_socket_name(config["id"]))
        attach_sock = _listen(state.attach_socket_name(config["id"]))
        shim = Shim(cdir, config)
        shim.spawn()
    except Exception as e:  # noqa: BLE001 - every start failure is the container's StartError
        message = str(e) or type(e).__name__
        state.write_json(os.path.join(cdir, state.EXIT_FILE), {
            "exit_code": START_ERROR_EXIT, "finished_at": now_iso(), "oom_killed": False,
            "reason": "StartError", "message": message})
        _report(report, {"error": message})
        return 1
    state.write_json(os.path.join(cdir, state.STARTED_FILE), {
        "pid": shim.pid, "start_time": state.proc_start_time(shim.pid), "started_at": now_iso(),
        "shim_pid": os.getpid(), "shim_start_time": state.proc_start_time(os.getpid())})
    _report(report, {"pid": shim.pid})
    gc.enable()  # off since the fork (see ``zygote.py``); the shim may run for months
    shim.run(control, attach_sock)
    return 0

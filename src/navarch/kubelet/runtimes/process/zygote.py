"""The zygote: one long-lived process per runtime root dir that forks a shim for each container start.

Starting a Python process costs a tenth of a second of CPU; forking one that has already imported the
shim costs about a millisecond. So the runtime starts ``python -m navarch.kubelet.runtimes.process.zygote
<root dir>`` once, and every container start is a request to it:

- it listens on the abstract unix socket ``socket_name(root)`` (no file to clean up; both sides check
  the peer's uid with SO_PEERCRED, since abstract sockets have no permissions). Binding that name is
  also the lock that keeps two zygotes off one root dir;
- requests are JSON lines. ``{"op": "hello"}`` answers ``{"pid", "fingerprint"}`` and keeps the
  connection as the runtime's presence; ``{"op": "spawn", "dir": D}`` forks once, the child starts a
  session of its own and becomes the shim, which answers the runtime on the very connection the
  request came on (``{"pid": N}`` or ``{"error": ...}``, see ``shim.py``). Shims stay the zygote's
  children (it ignores SIGCHLD, so the kernel reaps them) rather than being double-forked away: a
  fork costs a millisecond, and an orphaned shim (the zygote died) is reparented and carries on;
  ``{"op": "exit"}`` makes it leave (a runtime whose code changed replaces it: ``fingerprint``);
- it is single-threaded and imports neither asyncio nor the kubelet, so forking it is safe and cheap
  (the shim runs a ``selectors`` loop of its own);
- it survives the kubelet (its own session, started detached) so a restarted kubelet finds it again;
  if it dies, the next runtime call starts another, and running shims never notice: they do not
  depend on it after the fork. It exits by itself when its root dir disappears, or when no runtime
  has been connected for ``ORPHAN_EXIT`` seconds.

``{root}/zygote.json`` records its pid and /proc start time (for tools and tests that must find it).
"""

from __future__ import annotations

import errno
import gc
import hashlib
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from navarch.kubelet.runtimes.process import state

ZYGOTE_FILE = "zygote.json"
ZYGOTE_LOG_FILE = "zygote.log"
MAX_REQUEST = 64 * 1024
MAX_FD = 65536
# How often the zygote checks that its root dir still exists.
ROOT_CHECK = 5.0
# With no runtime connected for this long (the node agent is gone for good), the zygote leaves.
ORPHAN_EXIT = 60.0


def socket_name(root: Path) -> str:
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:32]
    return f"\0navarch-zygote/{digest}"


def fingerprint() -> str:
    """Which code a zygote runs: the interpreter and this package's source files. A runtime whose
    fingerprint differs (navarch was upgraded, or edited in place) replaces the zygote, so new shims
    always run the runtime's own code."""
    h = hashlib.sha256(sys.executable.encode())
    here = Path(__file__).parent
    for path in sorted(here.glob("*.py")):
        st = path.stat()
        h.update(f"{path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:32]


class Zygote:
    def __init__(self, root: Path, listener: socket.socket, fingerprint: str) -> None:
        self.root = root
        self.containers = os.path.realpath(root / state.CONTAINERS)
        self.listener = listener
        self.fingerprint = fingerprint
        self.selector = selectors.DefaultSelector()
        self.pending: dict[socket.socket, bytearray] = {}  # every open connection: what it sent so far
        self.runtimes: set[socket.socket] = set()  # connections that said hello
        self.alone_since = time.monotonic()
        self.running = True

    def serve(self) -> None:
        self.listener.setblocking(False)
        self.selector.register(self.listener, selectors.EVENT_READ)
        next_check = time.monotonic() + ROOT_CHECK
        while self.running:
            for key, _ in self.selector.select(max(0.0, next_check - time.monotonic())):
                if not self.running:
                    break
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    self._accept()
                else:
                    self._readable(sock)
            now = time.monotonic()
            if now >= next_check:
                next_check = now + ROOT_CHECK
                if not os.path.isdir(self.containers):
                    print(f"zygote {os.getpid()}: {self.containers} is gone; exiting", file=sys.stderr)
                    break
                if not self.runtimes and now - self.alone_since > ORPHAN_EXIT:
                    print(f"zygote {os.getpid()}: no runtime for {ORPHAN_EXIT:.0f}s; exiting", file=sys.stderr)
                    break
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # EMFILE and the like: drop this one, keep serving
                print(f"zygote: accept: {e}", file=sys.stderr)
                return
            if not state.trusted_peer(conn):
                conn.close()
                continue
            conn.setblocking(False)
            self.pending[conn] = bytearray()
            self.selector.register(conn, selectors.EVENT_READ)

    def _readable(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(MAX_REQUEST)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buf = self.pending[conn]
        buf += data
        if not data or len(buf) > MAX_REQUEST:
            self._drop(conn)  # end of stream: a runtime went away, or a client gave up
            return
        while conn in self.pending:
            line, sep, rest = self.pending[conn].partition(b"\n")
            if not sep:
                return
            self.pending[conn] = bytearray(rest)
            try:
                request = json.loads(line)
            except ValueError:
                request = {}
            self._handle(conn, request if isinstance(request, dict) else {})

    def _handle(self, conn: socket.socket, request: dict) -> None:
        op = request.get("op")
        if op == "hello":
            self.runtimes.add(conn)
            self._reply(conn, {"pid": os.getpid(), "fingerprint": self.fingerprint})
            return
        if op == "exit":
            self.selector.unregister(self.listener)
            self.listener.close()  # free the name at once, for the replacement
            self._reply(conn, {"ok": True})
            self._drop(conn)
            self.running = False
            return
        if op != "spawn":
            self._reply(conn, {"error": f"unknown op {op!r}"})
        elif conn in self.runtimes:
            self._reply(conn, {"error": "spawn needs a connection of its own"})
        else:
            # Plain strings, not pathlib: this runs for every start, in a process whose every
            # touched page is copied again after each fork.
            cdir = os.path.realpath(str(request.get("dir", "")))
            if os.path.dirname(cdir) != self.containers:
                self._reply(conn, {"error": f"{cdir} is not a container dir of {self.root}"})
            else:
                self.pending.pop(conn, None)
                self.selector.unregister(conn)
                self._fork_shim(conn, cdir)
                conn.close()  # the shim holds its own copy of the connection and answers on it
                return
        self._drop(conn)

    def _reply(self, conn: socket.socket, value: dict) -> None:
        try:
            conn.setblocking(True)  # a short answer to a fresh connection: the buffer has room
            conn.sendall(json.dumps(value).encode() + b"\n")
            conn.setblocking(False)
        except OSError:
            pass

    def _drop(self, conn: socket.socket) -> None:
        self.pending.pop(conn, None)
        self.runtimes.discard(conn)
        if not self.runtimes:
            self.alone_since = time.monotonic()
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _fork_shim(self, conn: socket.socket, cdir: str) -> None:
        sys.stderr.flush()
        if os.fork():
            return  # SIGCHLD is ignored: the kernel reaps our shims when they end
        # No collection while the shim starts: a collection walks (and so copies on write) pages
        # shared with the zygote, for no gain in a process this young. ``shim.serve`` turns it
        # back on once the container runs.
        gc.disable()
        code = 1
        try:
            os.setsid()  # a session of its own: no terminal, no signals meant for the zygote's group
            code = self._become_shim(conn, cdir)
        except BaseException:  # noqa: BLE001 - whatever happens, never return into the zygote's loop
            traceback.print_exc()
        finally:
            os._exit(code)

    def _become_shim(self, conn: socket.socket, cdir: str) -> int:
        # Loaded before the fork. ``from ... import shim`` would run importlib's ``_handle_fromlist``
        # (Python code, so copied pages); this form is resolved in C from sys.modules.
        import navarch.kubelet.runtimes.process.shim as shim  # noqa: PLR0402

        set_comm("navarch-shim")  # ps shows the zygote's command line; the name tells them apart
        # The zygote's descriptors (listener, epoll, other connections) are dropped by number: closing
        # them through their Python objects would copy those objects' pages into this process for
        # nothing. The objects stay referenced (by this very frame's ``self``) until ``os._exit``,
        # so no finalizer ever closes a number the shim has reused.
        keep = conn.fileno()
        os.closerange(3, keep)
        os.closerange(keep + 1, MAX_FD)
        log_fd = os.open(os.path.join(cdir, state.SHIM_LOG_FILE), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        conn.setblocking(True)
        report = conn
        return shim.serve(cdir, report)


def set_comm(name: str) -> None:
    """The process name in /proc/PID/comm (``ps -o comm``, ``pgrep``); best effort."""
    try:
        fd = os.open("/proc/self/comm", os.O_WRONLY)
    except OSError:
        return
    try:
        os.write(fd, name.encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    """``zygote ROOT FINGERPRINT``, started by the runtime in a new session: bind (or find the name
    taken: another zygote is there), fork the daemon, record it, print ``{"pid": N}`` and exit. The
    fingerprint is the runtime's (computed from the code it is about to run), reported by ``hello``."""
    root = Path(argv[1]).resolve()
    code_fingerprint = argv[2] if len(argv) > 2 else fingerprint()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(socket_name(root))
    except OSError as e:
        if e.errno != errno.EADDRINUSE:
            raise
        return 0
    listener.listen(512)
    # Imported before the fork, so that every shim forked later starts with them loaded.
    from navarch.kubelet.runtimes.process import shim  # noqa: F401

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        listener.close()
        state.write_json(root / ZYGOTE_FILE, {
            "pid": pid, "start_time": state.proc_start_time(pid), "fingerprint": code_fingerprint})
        return 0
    # Whatever the launching process let us inherit (uvloop's children keep its descriptors) must
    # not be held open for the zygote's life, nor passed on to every shim.
    keep = listener.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, MAX_FD)
    set_comm("navarch-zygote")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # Shims are our children (one fork is half the cost of a double fork); ignoring SIGCHLD makes
    # the kernel reap them, and if we die they are reparented like any orphan and go on unharmed.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.chdir("/")
    gc.freeze()  # the imported modules stay shared with every shim instead of being copied on write
    code = 0
    try:
        Zygote(root, listener, code_fingerprint).serve()
    except BaseException:  # noqa: BLE001 - logged to zygote.log
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

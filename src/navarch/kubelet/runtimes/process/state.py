"""The on-disk layout of the process runtime, shared by the runtime and the shims.

Everything a restarted kubelet needs to adopt running containers lives in files, each written by
exactly one party and replaced atomically (write to a temp file, rename), so a reader never sees half
a record and no two writers ever race on one file:

    {root}/zygote.json                           zygote launcher: the zygote's pid and /proc start time
    {root}/zygote.log                            the zygote's own stderr
    {root}/logs/{container id}.log               shim: the CRI-format log (rotated as .log.1, .2, ...)
    {root}/state/                                a tmpfs as root (see below)
    {root}/state/sandboxes/{sandbox id}/sandbox.json   runtime: the sandbox config, IP and state
    {root}/state/containers/{container id}/
        config.json     runtime, at create: what to run and how (immutable afterwards)
        started.json    shim, once the process runs: pid, its /proc start time, start time, and the
                        shim's own pid and start time
        exit.json       shim, after the process ended and its output is fully logged: exit code,
                        finish time, OOM kill (or the runtime, when the shim itself died)
        reported        runtime: the exit was delivered to subscribers (adoption replays the rest)
        shim.log        the shim's own stderr, for debugging

``state/`` holds only what describes live processes, so it lives in memory as containerd's and runc's
state does (``/run``): it must outlive the kubelet, not the host, whose reboot ends the processes
too. On disk, each of its records cost a new inode, and on an ext4 without a journal every inode
allocation skips over the inodes freed in the last one to six minutes (``recently_deleted``), so a
burst of pod starts right after a burst of deletions spent most of the kubelet's kernel time in
``mkdir`` (docs/adr/0009). Logs stay on disk: they can be large.

Only the standard library is imported: the zygote and the shims use this module.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATE = "state"
SANDBOXES = "state/sandboxes"
CONTAINERS = "state/containers"
LOGS = "logs"
# Where records lived before ``state/`` (navarch 0.x): containers started then are still adopted.
LEGACY_SANDBOXES = "sandboxes"
LEGACY_CONTAINERS = "containers"
SANDBOX_FILE = "sandbox.json"
CONFIG_FILE = "config.json"
STARTED_FILE = "started.json"
EXIT_FILE = "exit.json"
REPORTED_FILE = "reported"
SHIM_LOG_FILE = "shim.log"


def write_json(path: Path | str, value: Any, dumps: Callable[[Any], bytes] | None = None) -> None:
    """Replace ``path`` atomically and durably enough for a crash of the writer (not of the host).
    (Plain ``os`` calls, no file objects: the shims write these while the burst of a pod start is
    on, and every layer of Python touched in a freshly forked shim costs copied pages.)

    ``dumps`` encodes (keys sorted): the runtime passes orjson's, ~10x faster than the standard
    library's, which shims keep using because the zygote already shares its code with them."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    data = dumps(value) if dumps is not None else json.dumps(value, sort_keys=True).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_file(path: Path | str) -> bytes:
    """The whole of a (small) file; raises FileNotFoundError like open()."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def read_json(path: Path | str, loads: Callable[[bytes], Any] | None = None) -> Any | None:
    """The record, or None when it is not there (yet, or any more); ``loads`` as ``write_json``'s
    ``dumps``."""
    try:
        if loads is not None:
            return loads(read_file(path))
        return json.loads(read_file(path).decode())  # str: no encoding detection in Python code
    except FileNotFoundError:
        return None


def shim_socket_name(container_id: str) -> str:
    """The shim's control socket, in the abstract namespace: no file to clean up and no 108-byte
    limit on the path of the root dir. Shims check the peer's uid (SO_PEERCRED) on every connection,
    since abstract sockets have no file permissions."""
    return f"\0navarch-shim/{container_id}/control"


def attach_socket_name(container_id: str) -> str:
    return f"\0navarch-shim/{container_id}/attach"


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def trusted_peer(sock: socket.socket) -> bool:
    """Abstract sockets have no file permissions: only our own user (or root) may talk to a shim or
    a zygote (whatever a zygote forks runs as its user)."""
    return peer_uid(sock) in (0, os.getuid())


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks since boot), which tells a live process
    from a later one that reused its pid; None when no such process exists."""
    try:
        data = read_file(f"/proc/{pid}/stat")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ")".
    fields = data[data.rindex(b")") + 2:].split()
    return int(fields[19])


def same_process(pid: int, start_time: int | None) -> bool:
    current = proc_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def container_env(envs: dict[str, str]) -> dict[str, str]:
    """The container's environment: exactly its own variables, plus the PATH an image would give
    (containerd adds the image's; without an image, the usual default)."""
    env = dict(envs)
    env.setdefault("PATH", DEFAULT_PATH)
    return env

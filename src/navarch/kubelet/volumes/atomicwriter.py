"""Project a set of files into a directory so readers never see a half-updated volume.

Upstream's AtomicWriter layout (pkg/volume/util/atomic_writer.go), which applications rely on (they
watch ``..data`` with inotify to reload configuration):

    target/..2024_01_01_00_00_00.123456789/key    the real files, one directory per version
    target/..data -> ..2024_01_01_00_00_00.123456789
    target/key -> ..data/key                      one link per top-level user-visible name

A new version is written into a fresh timestamped directory, a ``..data_tmp`` link to it is renamed
over ``..data`` (rename is atomic), the old version is removed. Nothing is written when the content is
unchanged. Paths starting with ``..`` are reserved. Not safe for concurrent writers to one target:
the volume manager serialises per pod.
Blocking (file I/O): call through ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int = 0o644


def write(target_dir: str, payload: Mapping[str, FileProjection], log_context: str = "") -> bool:
    """Make ``target_dir`` hold exactly ``payload``; True when a new version was written."""
    if not os.path.isdir(target_dir):
        raise FileNotFoundError(f"stat {target_dir}: no such file or directory")
    clean = {os.path.normpath(path): content for path, content in _validated(payload)}
    data_link = os.path.join(target_dir, DATA_DIR)
    try:
        old_version = os.readlink(data_link)
    except FileNotFoundError:
        old_version = ""
    old_path = os.path.join(target_dir, old_version) if old_version else ""

    stale: set[str] = set()
    if old_path:
        stale = _paths_to_remove(clean, old_path)
        if not stale and not _changed(clean, old_path):
            return False

    version_dir = _new_version_dir(target_dir)
    try:
        _write_files(clean, version_dir)
        tmp_link = os.path.join(target_dir, NEW_DATA_DIR)
        if os.path.lexists(tmp_link):  # left by a writer that died between its two steps
            os.unlink(tmp_link)
        os.symlink(os.path.basename(version_dir), tmp_link)
        os.rename(tmp_link, data_link)
    except BaseException:
        shutil.rmtree(version_dir, ignore_errors=True)
        raise
    # The user-visible links are made after the swap, so a new name never points at missing data.
    _link_visible(clean, target_dir)
    for path in stale:
        if "/" not in path:  # only top-level names have links of their own
            try:
                os.unlink(os.path.join(target_dir, path))
            except FileNotFoundError:
                pass
    if old_path and os.path.realpath(old_path) != os.path.realpath(version_dir):
        shutil.rmtree(old_path, ignore_errors=True)
    log.debug("%s: wrote %s (%d files)", log_context or target_dir, os.path.basename(version_dir), len(clean))
    return True


def _validated(payload: Mapping[str, FileProjection]) -> list[tuple[str, FileProjection]]:
    """upstream validatePath: relative, no ``..`` element, no leading ``..``, bounded lengths."""
    out = []
    for path, content in payload.items():
        if path == "":
            raise ValueError(f'invalid path: must not be empty: "{path}"')
        if os.path.isabs(path):
            raise ValueError(f"invalid path: must be relative path: {path}")
        if len(path) > MAX_PATH:
            raise ValueError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
        items = path.split("/")
        for item in items:
            if item == "..":
                raise ValueError(f"invalid path: must not contain '..': {path}")
            if len(item) > MAX_FILE_NAME:
                raise ValueError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters")
        if items[0].startswith("..") and len(items[0]) > 2:
            raise ValueError(f"invalid path: must not start with '..': {path}")
        out.append((path, content))
    return out


def _changed(payload: Mapping[str, FileProjection], old_dir: str) -> bool:
    for path, content in payload.items():
        full = os.path.join(old_dir, path)
        if not os.path.lexists(full):
            return True
        with open(full, "rb") as f:
            if f.read() != content.data:
                return True
    return False


def _paths_to_remove(payload: Mapping[str, FileProjection], old_dir: str) -> set[str]:
    """Paths of the old version that the new payload no longer has (directories of kept files kept)."""
    present: set[str] = set()
    for root, dirs, files in os.walk(old_dir):
        rel_root = os.path.relpath(root, old_dir)
        for name in dirs + files:
            present.add(name if rel_root == "." else os.path.join(rel_root, name))
    wanted: set[str] = set()
    for path in payload:
        while path:
            wanted.add(path)
            path = os.path.dirname(path)
    return present - wanted


def _new_version_dir(target_dir: str) -> str:
    # Go's os.MkdirTemp: the prefix (UTC time) plus a random decimal number.
    prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    for _ in range(100):
        path = os.path.join(target_dir, prefix + str(random.getrandbits(32)))
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            continue
        # Group and others must be able to traverse, whatever the umask.
        os.chmod(path, 0o755)
        return path
    raise FileExistsError(f"could not create a new version directory in {target_dir}")


def _write_files(payload: Mapping[str, FileProjection], directory: str) -> None:
    for path, content in payload.items():
        full = os.path.join(directory, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, content.mode)
        try:
            view = memoryview(content.data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        # The umask applied at open; the spec's mode is what the reader must see.
        os.chmod(full, content.mode)


def _link_visible(payload: Mapping[str, FileProjection], target_dir: str) -> None:
    for path in payload:
        top = path.split("/", 1)[0]
        visible = os.path.join(target_dir, top)
        if not os.path.lexists(visible):
            os.symlink(os.path.join(DATA_DIR, top), visible)

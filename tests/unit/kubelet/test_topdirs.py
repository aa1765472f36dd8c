"""The "top directory" attribute, read back from the kernel."""

from __future__ import annotations

import fcntl
import os
import struct
from pathlib import Path

from navarch.kubelet import topdirs


def flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return struct.unpack("l", fcntl.ioctl(fd, topdirs.FS_IOC_GETFLAGS, struct.pack("l", 0)))[0]
    except OSError:
        return 0
    finally:
        os.close(fd)


def filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on (the longest mount point above it)."""
    best, fstype = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            _, point, kind, *_ = line.split()
            if str(path).startswith(point.rstrip("/") + "/") and len(point) > len(best):
                best, fstype = point, kind
    return fstype


def test_a_directory_gets_the_attribute_where_the_filesystem_has_it(tmp_path: Path) -> None:
    d = tmp_path / "pods"
    d.mkdir()
    before = flags(d)
    marked = topdirs.mark_top(str(d))
    assert marked == bool(flags(d) & topdirs.FS_TOPDIR_FL)
    if filesystem(d) in ("ext2", "ext3", "ext4"):
        assert marked and flags(d) == before | topdirs.FS_TOPDIR_FL
    assert topdirs.mark_top(str(d)) == marked  # again: nothing changes


def test_what_is_not_a_directory_is_left_alone(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert not topdirs.mark_top(str(f))
    assert not topdirs.mark_top(str(tmp_path / "missing"))

"""Marks the kubelet's directories as tops of directory hierarchies for ext4's inode allocator.

ext4 puts a new directory in its parent's block group, except under the filesystem root or under a
directory with the "top" attribute (``chattr +T``), where the Orlov allocator spreads them over
groups. Without a journal, every inode allocation skips the group's inodes freed in the last one to
six minutes, reading each one's inode table block (``recently_deleted``). So the directories of
every pod, in the group of the kubelet's root dir (which, under ``/tmp``, holds every other
program's temporary files too), made each pod start pay for every inode freed nearby just before:
a 4-level pod directory took ~1 ms of CPU to make after a burst of deletions, ~0.3 ms with pods
spread (docs/adr/0009). Other filesystems have no such attribute, and need none.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct

log = logging.getLogger(__name__)

# linux/fs.h
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000
_FLAGS = struct.Struct("l")


def mark_top(path: str) -> bool:
    """Give the directory at ``path`` the "top" attribute; whether it has it (False where the
    filesystem has no such attribute, or we may not set it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = _FLAGS.unpack(fcntl.ioctl(fd, FS_IOC_GETFLAGS, _FLAGS.pack(0)))[0]
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, _FLAGS.pack(flags | FS_TOPDIR_FL))
        return True
    except OSError as e:  # ENOTTY / EOPNOTSUPP: not ext2/3/4; EPERM: not ours
        log.debug("%s: no top-directory attribute: %s", path, e.strerror)
        return False
    finally:
        os.close(fd)

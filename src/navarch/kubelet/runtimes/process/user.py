"""A container's process under the uid, gid and groups its securityContext asks for: its command
prefixed with util-linux's ``setpriv``, which the shim (starting the container) and ``exec`` both run
while still root. Standard library only: the shim imports it."""

from __future__ import annotations

from typing import Any


def as_user(user: dict[str, Any] | None, argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (a container record's ``user``: uid, gid, groups, setpriv); as is
    without one."""
    if not user:
        return argv
    groups = ",".join(str(g) for g in user["groups"])
    return [user["setpriv"], f"--reuid={user['uid']}", f"--regid={user['gid']}",
            f"--groups={groups}" if groups else "--clear-groups", "--", *argv]

"""What every probe handler shares: its outcome, its error, and the small formatting rules that make
probe messages read as upstream's (``k8s.io/kubernetes/pkg/probe``).

A handler returns an ``Outcome`` when it could judge the container (success, failure, or a
success with a warning, such as an HTTP redirect it did not follow) and raises ``ProbeError``
when the probe itself could not be run (a named port the container does not declare, a runtime
that cannot exec): upstream throws such results away instead of counting them as failures.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Mapping

import navarch
from navarch.api.durations import go_seconds

# Upstream reads at most 10 KiB of an exec probe's output or an HTTP probe's body.
MAX_OUTPUT = 10 * 1024


class Result(enum.Enum):
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Outcome:
    result: Result
    output: str = ""


class ProbeError(Exception):
    """The probe could not be run; its result is unknown."""


def user_agent(version: tuple[int, ...] = navarch.KUBE_VERSION) -> str:
    """``kube-probe/1.33``: what upstream's HTTP and gRPC probes announce."""
    return f"kube-probe/{version[0]}.{version[1]}"


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """A probe's ``port``: a number, or the name of one of the container's ports (upstream
    ``ResolveContainerPort``, including its last-ditch reading of a numeric string)."""
    if isinstance(port, bool) or port is None:
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if isinstance(port, int):
        number = port
    else:
        name = str(port)
        found = [p.get("containerPort") for p in container.get("ports") or [] if p.get("name") == name]
        if found and isinstance(found[0], int):
            number = found[0]
        else:
            try:
                number = int(name, 10)
            except ValueError:
                raise ProbeError(f'strconv.Atoi: parsing {go_quote(name)}: invalid syntax') from None
    if 0 < number < 65536:
        return number
    raise ProbeError(f"invalid port number: {number}")


def join_host_port(host: str, port: int) -> str:
    """Go's ``net.JoinHostPort``: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def go_quote(text: str) -> str:
    """Go's ``%q`` for the strings probes print (JSON's escaping agrees for printable text)."""
    return json.dumps(text, ensure_ascii=False)


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration`` text of a probe's timeout."""
    return go_seconds(seconds)

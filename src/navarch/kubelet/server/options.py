"""Query parameters of the kubelet's streaming endpoints, parsed as upstream's query decoding does
(Go ``strconv.ParseBool`` for booleans, RFC 3339 for times)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from multidict import MultiMapping

from navarch.kubelet.runtimes.interface import LogOptions

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


class OptionError(ValueError):
    """A query parameter that does not parse; the server answers 400 with its message."""


def parse_bool(query: Mapping[str, str], key: str) -> bool:
    value = query.get(key)
    if value is None:
        return False
    if value == "" or value in _TRUE:
        # ``?stdin`` alone means true, as a present flag does for upstream's stream options.
        return True
    if value in _FALSE:
        return False
    raise OptionError(f"invalid value {value!r} for {key}: want a boolean")


def _parse_int(query: Mapping[str, str], key: str) -> int | None:
    value = query.get(key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise OptionError(f"invalid value {value!r} for {key}: want an integer") from None


def parse_time(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise OptionError(f"invalid value {value!r} for sinceTime: want an RFC 3339 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


@dataclass(frozen=True)
class LogRequest:
    options: LogOptions
    previous: bool


def log_request(query: Mapping[str, str], now: dt.datetime | None = None) -> LogRequest:
    """The runtime's LogOptions from ``/containerLogs`` query parameters (upstream PodLogOptions
    names: follow, previous, timestamps, tailLines, sinceSeconds, sinceTime, limitBytes)."""
    tail = _parse_int(query, "tailLines")
    limit = _parse_int(query, "limitBytes")
    since_seconds = _parse_int(query, "sinceSeconds")
    since_time = query.get("sinceTime") or None
    if tail is not None and tail < 0:
        raise OptionError("tailLines: Invalid value: must be greater than or equal to 0")
    if limit is not None and limit < 1:
        raise OptionError("limitBytes: Invalid value: must be greater than 0")
    if since_seconds is not None and since_seconds < 1:
        raise OptionError("sinceSeconds: Invalid value: must be greater than 0")
    if since_seconds is not None and since_time is not None:
        raise OptionError("at most one of `sinceTime` or `sinceSeconds` may be specified")
    since: dt.datetime | None = None
    if since_seconds is not None:
        since = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(seconds=since_seconds)
    elif since_time is not None:
        since = parse_time(since_time)
    options = LogOptions(follow=parse_bool(query, "follow"), tail_lines=tail, limit_bytes=limit, since=since,
                         timestamps=parse_bool(query, "timestamps"))
    return LogRequest(options, previous=parse_bool(query, "previous"))


@dataclass(frozen=True)
class StreamRequest:
    """What an exec or attach asks for. Upstream drops stderr under a TTY (the terminal merges it)."""

    command: tuple[str, ...]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def stream_request(query: MultiMapping[str], *, exec_: bool) -> StreamRequest:
    # kubectl sends stdin/stdout/stderr/tty; the older attach option names input/output/error are
    # accepted too, as upstream's conversion does.
    stdin = parse_bool(query, "stdin") or parse_bool(query, "input")
    stdout = parse_bool(query, "stdout") or parse_bool(query, "output")
    stderr = parse_bool(query, "stderr") or parse_bool(query, "error")
    tty = parse_bool(query, "tty")
    command = tuple(query.getall("command", [])) if exec_ else ()
    if exec_ and not command:
        raise OptionError("you must specify at least 1 command")
    if not (stdin or stdout or stderr):
        raise OptionError("you must specify at least 1 of stdin, stdout, stderr")
    return StreamRequest(command, stdin, stdout, stderr and not tty, tty)

import datetime as dt

import pytest
from multidict import MultiDict

from navarch.kubelet.server.options import OptionError, log_request, stream_request

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def test_log_request_maps_every_option() -> None:
    req = log_request({"follow": "true", "previous": "1", "timestamps": "true", "tailLines": "5",
                       "limitBytes": "100", "sinceSeconds": "60"}, now=NOW)
    assert req.previous
    o = req.options
    assert (o.follow, o.timestamps, o.tail_lines, o.limit_bytes) == (True, True, 5, 100)
    assert o.since == NOW - dt.timedelta(seconds=60)


def test_log_request_since_time() -> None:
    req = log_request({"sinceTime": "2026-01-01T11:00:00Z"})
    assert req.options.since == dt.datetime(2026, 1, 1, 11, 0, tzinfo=dt.UTC)


def test_log_request_defaults() -> None:
    req = log_request({})
    assert not req.previous and not req.options.follow and req.options.tail_lines is None


@pytest.mark.parametrize("query", [
    {"tailLines": "-1"}, {"limitBytes": "0"}, {"sinceSeconds": "0"}, {"tailLines": "x"},
    {"follow": "maybe"}, {"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, {"sinceTime": "yesterday"},
], ids=["neg-tail", "zero-limit", "zero-since", "nan", "bad-bool", "both-since", "bad-time"])
def test_log_request_rejects(query: dict[str, str]) -> None:
    with pytest.raises(OptionError):
        log_request(query)


def test_stream_request_exec() -> None:
    q = MultiDict([("command", "sh"), ("command", "-c"), ("command", "echo"), ("stdout", "true"),
                   ("stderr", "true"), ("tty", "true")])
    req = stream_request(q, exec_=True)
    assert req.command == ("sh", "-c", "echo")
    # Under a TTY there is no separate stderr, as upstream.
    assert (req.stdin, req.stdout, req.stderr, req.tty) == (False, True, False, True)


@pytest.mark.parametrize("pairs, exec_", [
    ([("stdout", "true")], True),
    ([("command", "ls")], True),
    ([], False),
], ids=["no-command", "no-streams", "attach-no-streams"])
def test_stream_request_rejects(pairs: list[tuple[str, str]], exec_: bool) -> None:
    with pytest.raises(OptionError):
        stream_request(MultiDict(pairs), exec_=exec_)

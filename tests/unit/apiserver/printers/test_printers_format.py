from __future__ import annotations

import pytest

from navarch.apiserver.printers import format as f

S, M, H, D = 1, 60, 3600, 86400


@pytest.mark.parametrize(("seconds", "want"), [
    (0, "0s"),
    (1, "1s"),
    (70, "70s"),
    (119, "119s"),
    (120, "2m"),
    (190, "3m10s"),
    (599, "9m59s"),
    (600, "10m"),
    (70 * M, "70m"),
    (179 * M + 59, "179m"),
    (3 * H, "3h"),
    (3 * H + 5 * M + 20, "3h5m"),
    (8 * H + 30 * M, "8h"),
    (47 * H, "47h"),
    (48 * H, "2d"),
    (49 * H, "2d1h"),
    (8 * D + 2 * H, "8d"),
    (367 * D, "367d"),
    (2 * 365 * D, "2y"),
    (2 * 365 * D + 25 * H, "2y1d"),
    (8 * 365 * D + 2 * H, "8y"),
    (20 * 365 * D, "20y"),
    (-1.5, "0s"),   # clock skew under 2s reads as now
    (-0.2, "0s"),
    (-2.5, "<invalid>"),
    (59.9, "59s"),  # truncated, never rounded
], ids=lambda v: str(v))
def test_human_duration(seconds: float, want: str) -> None:
    assert f.human_duration(seconds) == want


def test_since_uses_now_and_handles_unset_and_fractions() -> None:
    now = f.epoch("2024-01-01T00:10:00Z")
    assert now is not None
    assert f.since("2024-01-01T00:00:00Z", now) == "10m"
    assert f.since("2024-01-01T00:09:58.500000Z", now) == "1s"
    assert f.since(None, now) == "<unknown>"
    assert f.since("0001-01-01T00:00:00Z", now) == "<unknown>"
    assert f.since("2024-01-01T01:00:00+01:00", now) == "10m"


def test_rfc3339_whole_seconds_utc() -> None:
    assert f.rfc3339("2024-03-04T05:06:07.891Z") == "2024-03-04T05:06:07Z"
    assert f.rfc3339("2024-03-04T07:06:07+02:00") == "2024-03-04T05:06:07Z"
    assert f.rfc3339(None) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(("selector", "want"), [
    (None, "<none>"),
    ({}, "<none>"),
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchLabels": {"app": "web"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["fe", "be"]},
                           {"key": "env", "operator": "NotIn", "values": ["prod"]},
                           {"key": "zz", "operator": "Exists"},
                           {"key": "canary", "operator": "DoesNotExist"}]},
     "app=web,!canary,env notin (prod),tier in (be,fe),zz"),
    ({"matchExpressions": [{"key": "a", "operator": "Bogus"}]}, "<error>"),
], ids=["nil", "empty", "labels", "expressions", "invalid"])
def test_format_label_selector(selector: dict | None, want: str) -> None:
    assert f.format_label_selector(selector) == want


def test_selector_string_keeps_empty_for_deployments() -> None:
    assert f.selector_string({}) == ""
    assert f.selector_string({"matchExpressions": [{"key": "a", "operator": "In"}]}) is None


def test_format_labels() -> None:
    assert f.format_labels({"z": "1", "a": "2"}) == "a=2,z=1"
    assert f.format_labels({}) == "<none>"
    assert f.format_labels(None) == "<none>"


def test_list_with_more() -> None:
    assert f.list_with_more(["a", "b", "c"], 5, 3) == "a,b,c + 2 more..."
    assert f.list_with_more(["a"], 1, 3) == "a"
    assert f.list_with_more([], 0, 3) == "<unset>"


def test_join_host_port_brackets_ipv6() -> None:
    assert f.join_host_port("10.0.0.1", 80) == "10.0.0.1:80"
    assert f.join_host_port("fd00::1", 80) == "[fd00::1]:80"

"""Shared probe helpers: port resolution and Go's formatting."""

from __future__ import annotations

from typing import Any

import pytest

from navarch.kubelet.prober.probe import ProbeError, go_duration, go_quote, join_host_port, resolve_port, user_agent

CONTAINER = {"name": "c", "ports": [{"name": "http", "containerPort": 8080}, {"name": "grpc", "containerPort": 9090}]}


@pytest.mark.parametrize("port,expected", [(80, 80), ("http", 8080), ("grpc", 9090), ("8081", 8081)],
                         ids=["number", "name", "other-name", "numeric-string"])
def test_resolve_port(port: Any, expected: int) -> None:
    assert resolve_port(port, CONTAINER) == expected


@pytest.mark.parametrize("port", ["metrics", -1, 65536, None], ids=["unknown-name", "negative", "too-big", "missing"])
def test_unresolvable_ports(port: Any) -> None:
    with pytest.raises(ProbeError):
        resolve_port(port, CONTAINER)


@pytest.mark.parametrize("seconds,text", [(1, "1s"), (30, "30s"), (60, "1m0s"), (90, "1m30s"), (3600, "1h0m0s"),
                                          (0.5, "500ms"), (1.5, "1.5s")])
def test_go_duration(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_small_formats() -> None:
    assert join_host_port("10.0.0.1", 80) == "10.0.0.1:80"
    assert join_host_port("fd00::1", 80) == "[fd00::1]:80"
    assert go_quote('sh -c "x"') == '"sh -c \\"x\\""'
    assert user_agent((1, 34, 2)) == "kube-probe/1.34"

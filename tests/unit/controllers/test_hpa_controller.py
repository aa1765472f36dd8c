"""Replica arithmetic of the HorizontalPodAutoscaler controller."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from navarch.controllers import hpa
from navarch.controllers.hpa import PodSample

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def ready(usage, request=100.0, name="p"):
    return PodSample(name, "ready", usage, request)


@pytest.mark.parametrize("current,pods,target,want", [
    (3, [ready(100), ready(100), ready(100)], 50, 6),          # 200% of target: double
    (3, [ready(52), ready(52), ready(52)], 50, 3),             # within tolerance
    (4, [ready(10), ready(10), ready(10), ready(10)], 50, 1),  # 20% of target
    (2, [ready(90), PodSample("m", "ready", None, 100)], 50, 2),  # missing pod assumed 0% blocks the doubling? no: reduces
    (2, [ready(10), PodSample("m", "ready", None, 100)], 50, 2),  # missing pod assumed 100% reverses the scale down
    (2, [ready(100), PodSample("u", "unready", None, 100)], 50, 2),  # unready at 0% makes 100% of target
], ids=["double", "tolerance", "scale-down", "missing-up", "missing-down", "unready-up"])
def test_resource_replicas_utilization(current, pods, target, want):
    replicas, _ = hpa.resource_replicas(current, pods, target, True)
    assert replicas == want


def test_resource_replicas_needs_metrics():
    with pytest.raises(hpa.MetricsError):
        hpa.resource_replicas(2, [PodSample("u", "unready", None, 100)], 50, True)


def test_average_value_target():
    replicas, value = hpa.resource_replicas(2, [ready(300), ready(300)], 100, False)
    assert replicas == 6 and value == 300


def test_stabilization_holds_scale_down_for_the_window():
    recs = [(NOW - timedelta(seconds=200), 8), (NOW - timedelta(seconds=400), 10)]
    assert hpa.stabilize(recs, NOW, current=8, desired=2, up_window=0, down_window=300) == 8
    assert hpa.stabilize(recs, NOW + timedelta(seconds=200), current=8, desired=2, up_window=0, down_window=300) == 2
    assert hpa.stabilize(recs, NOW, current=8, desired=12, up_window=0, down_window=300) == 12


@pytest.mark.parametrize("desired,current,behavior,want,reason", [
    (20, 3, False, 6, "ScaleUpLimit"), (20, 3, True, 10, "TooManyReplicas"), (0, 3, False, 2, "TooFewReplicas"),
    (5, 3, False, 5, "DesiredWithinRange")])
def test_clamp(desired, current, behavior, want, reason):
    assert hpa.clamp(desired, current, 2, 10, behavior)[:2] == (want, reason)


@pytest.mark.parametrize("text,want", [("250m", "0.25"), ("1", "1"), ("1Ki", "1024"), ("1.5G", "1500000000"),
                                       ("100n", "0.0000001"), ("1e3", "1000")])
def test_parse_quantity(text, want):
    assert hpa.parse_quantity(text) == Decimal(want)

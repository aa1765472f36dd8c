import pytest

from navarch.api.durations import go_duration, go_seconds


@pytest.mark.parametrize("ns,want", [
    (0, "0s"), (1, "1ns"), (5190, "5.19µs"), (1_500_000, "1.5ms"), (300_000_000, "300ms"),
    (1_500_000_000, "1.5s"), (60_000_000_000, "1m0s"), (3_600_000_000_000, "1h0m0s"),
    (3_723_500_000_000, "1h2m3.5s"), (-2_000_000_000, "-2s")])
def test_go_duration(ns, want):
    assert go_duration(ns) == want


def test_go_seconds_rounds_to_the_nanosecond():
    assert go_seconds(5.19e-06) == "5.19µs"
    assert go_seconds(10) == "10s"

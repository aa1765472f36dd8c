"""Go's ``time.Duration.String()``, which upstream prints into messages clients see (events,
probe failures, protobuf-decoded durations): ``1h0m0s``, ``1.5s``, ``300ms``, ``5.19µs``, ``0s``."""

from __future__ import annotations


def go_duration(nanoseconds: int) -> str:
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    n = abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _fraction(n, size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return sign + text + _fraction(rest, 1_000_000_000) + "s"


def go_seconds(seconds: float) -> str:
    """``go_duration`` of a float number of seconds (rounded to the nanosecond)."""
    return go_duration(round(seconds * 1_000_000_000))


def _fraction(n: int, unit: int) -> str:
    whole, part = divmod(n, unit)
    if not part:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")

"""Go's ``fmt`` ``%v`` of a decoded JSON value and ``%q`` of a string, for upstream's messages.

Go decodes JSON into ``map[string]interface{}``, ``[]interface{}``, ``string``, ``float64``, ``bool``
and ``nil``; ``%v`` prints maps with their keys sorted (``map[a:1 b:[x y]]``), slices space-separated,
strings bare, ``nil`` as ``<nil>`` and every number as a float64 (``3``, ``1.5``, ``1e+06``).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def value(v: Any) -> str:
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{value(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(value(x) for x in v) + "]"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _float(float(v))
    return str(v)


def _float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64): the shortest digits, in exponent form when the exponent
    is below -4 or at least 6 (Go's threshold for the shortest form)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if str(f).startswith("-") else "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    text = "".join(map(str, digits))
    exp10 = len(text) + int(exp) - 1
    minus = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    point = exp10 + 1
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return minus + text + "0" * (point - len(text))
    return f"{minus}{text[:point]}.{text[point:]}"


def quote(text: str) -> str:
    """``%q``: quoted, with quotes, backslashes and control characters escaped (JSON's escaping, which
    agrees with Go's for printable text)."""
    return json.dumps(text, ensure_ascii=False)

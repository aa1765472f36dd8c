"""Resource quantities (``250m``, ``1Gi``, ``1e3``) as exact decimals, and as the integers the
scheduler and the kubelet count with: CPU in millicores, everything else in units. Rounding follows
apimachinery's ``Quantity.MilliValue``/``Value``: up, towards the next integer.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
_RE = re.compile(r"^([+-]?[0-9.]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


def parse(q: Any) -> Decimal:
    """A quantity (string or number) as an exact decimal; ValueError if it is not one."""
    if isinstance(q, (int, float)):
        return Decimal(str(q))
    return _parse_text(str(q).strip())


# Pods of one template repeat the same few quantities: the scheduler and the kubelet parse every
# pod's requests on each change, so parsed text is remembered (Decimals and ints are immutable).
@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> Decimal:
    m = _RE.match(text)
    if not m:
        raise ValueError("quantities must match the regular expression "
                         f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {text!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        raise ValueError(f"unable to parse numeric part of quantity {text!r}") from None
    suffix = m.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number.scaleb(int(suffix[1:]))


def ceil(d: Decimal) -> int:
    i = int(d)
    return i + 1 if d > i else i


def milli_value(q: Any) -> int:
    return _milli_text(q) if isinstance(q, str) else ceil(parse(q) * 1000)


def value(q: Any) -> int:
    return _value_text(q) if isinstance(q, str) else ceil(parse(q))


@functools.lru_cache(maxsize=4096)
def _milli_text(text: str) -> int:
    return ceil(parse(text) * 1000)


@functools.lru_cache(maxsize=4096)
def _value_text(text: str) -> int:
    return ceil(parse(text))

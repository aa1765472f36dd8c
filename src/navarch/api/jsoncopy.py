"""Deep copies of JSON-shaped objects, the kind every API object is.

``copy.deepcopy`` is generic: it keeps a memo of every object it visits and dispatches per type,
which makes it ~4x slower than a walk that knows objects are dicts, lists and scalars. Write paths
copy whole objects (a pod with its managedFields is ~50 containers), so the difference shows in
the API server's CPU.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

T = TypeVar("T")

_ATOMS = frozenset((str, int, float, bool, type(None)))


def deep_copy(value: T) -> T:
    """A deep copy of ``value``: dicts and lists are rebuilt, JSON scalars shared (they are
    immutable); anything else (a tuple, a datetime a YAML body produced...) goes through
    ``copy.deepcopy``. Unlike ``copy.deepcopy``, a container reached twice is copied twice, which
    is the same thing for JSON."""
    return _copy(value)  # type: ignore[no-any-return]


def _copy(value: Any, _atoms: frozenset = _ATOMS, _dict: type = dict, _list: type = list) -> Any:
    t = type(value)
    if t is _dict:
        out = {}
        for k, v in value.items():
            out[k] = v if type(v) in _atoms else _copy(v)
        return out
    if t is _list:
        return [v if type(v) in _atoms else _copy(v) for v in value]
    if t in _atoms:
        return value
    return copy.deepcopy(value)

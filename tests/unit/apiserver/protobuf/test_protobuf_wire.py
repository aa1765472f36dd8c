"""The protobuf wire reader: varints, fixed widths, packed fields and malformed input."""

from __future__ import annotations

import pytest

from navarch.apiserver.protobuf import wire


@pytest.mark.parametrize(("data", "value"), [
    (b"\x00", 0), (b"\x7f", 127), (b"\x96\x01", 150), (b"\xff" * 9 + b"\x01", (1 << 64) - 1),
], ids=["zero", "one-byte", "two-bytes", "max"])
def test_read_varint(data: bytes, value: int) -> None:
    assert wire.read_varint(data, 0) == (value, len(data))


@pytest.mark.parametrize("data", [b"\x80", b"\xff" * 11], ids=["truncated", "too-long"])
def test_bad_varints(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.read_varint(data, 0)


def test_fields_of_every_wire_type() -> None:
    data = b"\x08\x96\x01" + b"\x12\x02hi" + b"\x19" + (7).to_bytes(8, "little") + b"\x25" + (9).to_bytes(4, "little")
    assert list(wire.fields(data)) == [(1, 0, 150), (2, 2, b"hi"), (3, 1, 7), (4, 5, 9)]


@pytest.mark.parametrize("data", [b"\x12\x05hi", b"\x19\x00", b"\x25\x00", b"\x00\x01", b"\x0b"],
                         ids=["short-length", "short-fixed64", "short-fixed32", "field-zero", "group"])
def test_malformed_fields(data: bytes) -> None:
    with pytest.raises(wire.WireError):
        list(wire.fields(data))


def test_packed_and_conversions() -> None:
    assert wire.packed(b"\x01\x96\x01", wire.VARINT) == [1, 150]
    assert wire.packed((5).to_bytes(4, "little") * 2, wire.FIXED32) == [5, 5]
    with pytest.raises(wire.WireError):
        wire.packed(b"\x00\x00\x00", wire.FIXED32)
    assert wire.signed((1 << 64) - 5, 32) == -5
    assert wire.signed((1 << 64) - 1, 64) == -1
    assert [wire.zigzag(v) for v in (0, 1, 2, 3)] == [0, -1, 1, -2]
    assert wire.as_double(0x3FF8000000000000) == 1.5
    assert wire.as_float(0x3FC00000) == 1.5

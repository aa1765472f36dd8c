"""The protobuf wire format, read field by field (no schema, no generated classes).

Kubernetes messages use only varints, 64- and 32-bit fixed values and length-delimited fields (proto2,
no groups), so a reader of those four wire types is all the decoder needs; every malformed input raises
``WireError`` rather than an IndexError deep in the decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

_U64 = 1 << 64


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise WireError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & (_U64 - 1), pos
        shift += 7
        if shift >= 70:
            raise WireError("varint longer than 10 bytes")


def fields(buf: bytes | memoryview) -> Iterator[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` in wire order: ints for varint and fixed types, bytes for LENGTH."""
    view = memoryview(buf)
    pos, end = 0, len(view)
    while pos < end:
        key, pos = read_varint(view, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire_type == VARINT:
            value, pos = read_varint(view, pos)
            yield number, wire_type, value
        elif wire_type == LENGTH:
            size, pos = read_varint(view, pos)
            if pos + size > end:
                raise WireError(f"field {number}: length {size} runs past the end of the message")
            yield number, wire_type, bytes(view[pos:pos + size])
            pos += size
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise WireError(f"field {number}: truncated 64-bit value")
            yield number, wire_type, int.from_bytes(view[pos:pos + 8], "little")
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise WireError(f"field {number}: truncated 32-bit value")
            yield number, wire_type, int.from_bytes(view[pos:pos + 4], "little")
            pos += 4
        else:
            raise WireError(f"field {number}: unsupported wire type {wire_type}")


def packed(data: bytes, wire_type: int) -> list[int]:
    """The elements of a packed repeated scalar field, each as its raw integer."""
    if wire_type == VARINT:
        out, pos = [], 0
        while pos < len(data):
            value, pos = read_varint(data, pos)
            out.append(value)
        return out
    width = 8 if wire_type == FIXED64 else 4
    if len(data) % width:
        raise WireError("packed fixed-width field with a partial element")
    return [int.from_bytes(data[i:i + width], "little") for i in range(0, len(data), width)]


def signed(value: int, bits: int) -> int:
    """Two's complement reading of an int32/int64 varint or sfixed value."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def zigzag(value: int) -> int:
    return (value >> 1) ^ -(value & 1)


def as_double(value: int) -> float:
    return float(struct.unpack("<d", value.to_bytes(8, "little"))[0])


def as_float(value: int) -> float:
    return float(struct.unpack("<f", value.to_bytes(4, "little"))[0])

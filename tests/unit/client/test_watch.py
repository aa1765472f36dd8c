import pytest

from navarch.client.watch import decode_event, split_lines


async def chunks(*parts: bytes):
    for p in parts:
        yield p


@pytest.mark.parametrize("parts,lines", [
    ([b'{"a":1}\n{"b":2}\n'], [b'{"a":1}', b'{"b":2}']),
    ([b'{"a"', b':1}\n{"b', b'":2}\n'], [b'{"a":1}', b'{"b":2}']),
    ([b'{"a":1}\n\n', b'\r\n', b'{"b":2}'], [b'{"a":1}', b'{"b":2}']),
    ([b"x" * 200_000 + b"\n"], [b"x" * 200_000]),
], ids=["whole", "split-mid-object", "blank-lines-and-no-final-newline", "huge-line"])
async def test_split_lines(parts, lines):
    assert [line async for line in split_lines(chunks(*parts))] == lines


def test_decode_event():
    ev = decode_event(b'{"type":"ADDED","object":{"metadata":{"resourceVersion":"5"}}}')
    assert ev.type == "ADDED" and ev.resource_version == "5"
    with pytest.raises(ValueError):
        decode_event(b'{"object":{}}')

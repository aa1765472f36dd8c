import orjson
import pytest

from navarch.kubelet.server import channels


@pytest.mark.parametrize("name, channel, data, wire", [
    (channels.V5, channels.STDOUT, b"hi\n", b"\x01hi\n"),
    (channels.V4, channels.STDERR, b"", b"\x02"),
    (channels.V1, channels.ERROR, b"x", b"\x03x"),
    (channels.V4_BASE64, channels.STDOUT, b"hi\n", "1aGkK"),
    (channels.V1_BASE64, channels.STDIN, b"\x00\xff", "0AP8="),
], ids=["v5", "v4-empty", "v1", "v4-base64", "base64"])
def test_encode_decode_round_trip(name: str, channel: int, data: bytes, wire: bytes | str) -> None:
    proto = channels.PROTOCOLS[name]
    assert proto.encode(channel, data) == wire
    assert proto.decode(wire) == (channel, data)


def test_v5_close_signal_frame() -> None:
    proto = channels.PROTOCOLS[channels.V5]
    assert proto.close_signal
    assert proto.decode(b"\xff\x00") == (channels.CLOSE, b"\x00")
    assert not channels.PROTOCOLS[channels.V4].close_signal


@pytest.mark.parametrize("name, message", [
    (channels.V5, b""),
    (channels.V4_BASE64, ""),
    (channels.V4_BASE64, "x"),
    (channels.V4_BASE64, "1!!!"),
], ids=["binary-empty", "base64-empty", "base64-bad-channel", "base64-bad-data"])
def test_bad_frames(name: str, message: bytes | str) -> None:
    with pytest.raises(channels.FrameError):
        channels.PROTOCOLS[name].decode(message)


@pytest.mark.parametrize("offered, chosen", [
    (["v5.channel.k8s.io"], channels.V5),
    (["v4.channel.k8s.io", "v5.channel.k8s.io"], channels.V4),
    (["SPDY/3.1+portforward.k8s.io", "base64.channel.k8s.io"], channels.V1_BASE64),
    (["v9.channel.k8s.io"], None),
], ids=["v5", "client-order", "skips-unknown", "none"])
def test_negotiate(offered: list[str], chosen: str | None) -> None:
    proto = channels.negotiate(offered)
    assert (proto.name if proto else None) == chosen


def test_exit_code_status_is_what_kubectl_reads() -> None:
    status = channels.exit_code_status(3, ["sh", "-c", "echo hi; exit 3"])
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert status["message"].startswith("command terminated with non-zero exit code: ")


def test_status_payload_per_version() -> None:
    v4, v1 = channels.PROTOCOLS[channels.V4], channels.PROTOCOLS[channels.V1]
    assert orjson.loads(v4.status(channels.success_status()))["status"] == "Success"
    assert v1.status(channels.success_status()) == b""
    assert v1.status(channels.failure_status("boom")) == b"boom"


@pytest.mark.parametrize("data, size", [
    (b'{"Width":80,"Height":24}', (80, 24)),
    (b'{"width":80}', None),
    (b"nope", None),
    (b'{"Width":-1,"Height":2}', None),
], ids=["ok", "lowercase", "not-json", "negative"])
def test_parse_resize(data: bytes, size: tuple[int, int] | None) -> None:
    assert channels.parse_resize(data) == size

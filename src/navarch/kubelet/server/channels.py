"""The WebSocket channel protocols of ``kubectl exec/attach`` (k8s.io/apimachinery wsstream and
client-go tools/remotecommand).

Every WebSocket message carries one channel: byte 0 is the channel number, the rest its data. The
base64 variants send text messages whose first character is the channel digit and whose rest is the
base64 of the data. Versions differ in what the error channel carries and whether the client may
half-close stdin:
- ``channel.k8s.io`` / ``base64.channel.k8s.io`` (v1): the error channel carries plain text;
- ``v4.channel.k8s.io`` / ``v4.base64.channel.k8s.io``: a ``metav1.Status`` JSON, with the exit code;
- ``v5.channel.k8s.io``: as v4, plus channel 255 on which the client signals that a stream ended
  (``[255, 0]``: stdin reached EOF), which ``kubectl cp`` into a pod relies on.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"

# The real kubelet's reason and cause type for a command that exited non-zero
# (k8s.io/apimachinery/pkg/util/remotecommand/constants.go).
NON_ZERO_EXIT_CODE = "NonZeroExitCode"
EXIT_CODE_CAUSE = "ExitCode"


class FrameError(ValueError):
    """A message that does not follow the negotiated channel protocol."""


@dataclass(frozen=True)
class ChannelProtocol:
    name: str
    base64: bool
    status_json: bool
    close_signal: bool

    def encode(self, channel: int, data: bytes) -> bytes | str:
        if self.base64:
            return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
        return bytes((channel,)) + data

    def decode(self, message: bytes | str) -> tuple[int, bytes]:
        """(channel, data) of one received message."""
        if self.base64:
            text = message.decode("ascii", "replace") if isinstance(message, bytes) else message
            if not text:
                raise FrameError("empty message")
            channel = ord(text[0]) - ord("0")
            if not 0 <= channel <= 9:
                raise FrameError(f"bad channel character {text[0]!r}")
            try:
                return channel, base64.b64decode(text[1:], validate=True)
            except (binascii.Error, ValueError) as e:
                raise FrameError(f"bad base64 data: {e}") from None
        if isinstance(message, str):
            message = message.encode()
        if not message:
            raise FrameError("empty message")
        return message[0], message[1:]

    def status(self, status: dict[str, Any]) -> bytes:
        """What goes on the error channel at the end: the Status JSON for v4+, and for v1 only the
        failure message (nothing at all on success)."""
        if self.status_json:
            return orjson.dumps(status)
        if status.get("status") == "Success":
            return b""
        return str(status.get("message", "")).encode()


PROTOCOLS: dict[str, ChannelProtocol] = {
    V5: ChannelProtocol(V5, base64=False, status_json=True, close_signal=True),
    V4: ChannelProtocol(V4, base64=False, status_json=True, close_signal=False),
    V4_BASE64: ChannelProtocol(V4_BASE64, base64=True, status_json=True, close_signal=False),
    V1: ChannelProtocol(V1, base64=False, status_json=False, close_signal=False),
    V1_BASE64: ChannelProtocol(V1_BASE64, base64=True, status_json=False, close_signal=False),
}


def negotiate(offered: Sequence[str]) -> ChannelProtocol | None:
    """The first protocol the client offers that we speak (the client lists its preference first)."""
    for name in offered:
        proto = PROTOCOLS.get(name.strip())
        if proto is not None:
            return proto
    return None


def success_status() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def exit_code_status(exit_code: int, command: Sequence[str]) -> dict[str, Any]:
    """The Failure Status kubectl turns into ``command terminated with exit code N`` and exit N."""
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
                   f"[{' '.join(command)}], exit code {exit_code}",
        "reason": NON_ZERO_EXIT_CODE,
        "details": {"causes": [{"reason": EXIT_CODE_CAUSE, "message": str(exit_code)}]},
    }


def failure_status(message: str, reason: str = "InternalError", code: int = 500) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def parse_resize(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a resize event ``{"Width":W,"Height":H}``; None when malformed."""
    try:
        return resize_size(orjson.loads(data))
    except orjson.JSONDecodeError:
        return None


def resize_size(event: Any) -> tuple[int, int] | None:
    """(width, height) of a decoded resize event; None when it is not one."""
    try:
        width, height = int(event["Width"]), int(event["Height"])
    except (KeyError, TypeError, ValueError):
        return None
    if width < 0 or height < 0:
        return None
    return width, height

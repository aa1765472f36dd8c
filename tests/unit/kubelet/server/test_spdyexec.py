import pytest

from navarch.kubelet.server import spdyexec
from navarch.kubelet.server.options import StreamRequest


@pytest.mark.parametrize("offered,chosen", [
    (["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io"], "v5.channel.k8s.io"),  # kubectl 1.29
    (["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"], "v4.channel.k8s.io"),
    (["v9.channel.k8s.io", "v2.channel.k8s.io"], "v2.channel.k8s.io"),
    ([], "channel.k8s.io"),  # no header: upstream's handshake falls back to v1
    (["portforward.k8s.io"], None),
])
def test_the_first_offered_version_we_speak_is_chosen(offered, chosen):
    assert spdyexec.negotiate(offered) == chosen


def request(**flags: bool) -> StreamRequest:
    return StreamRequest(command=("sh",), stdin=flags.get("stdin", False), stdout=flags.get("stdout", False),
                         stderr=flags.get("stderr", False), tty=flags.get("tty", False))


@pytest.mark.parametrize("protocol,flags,streams", [
    ("v4.channel.k8s.io", {"stdout": True, "stderr": True}, {"error", "stdout", "stderr"}),
    ("v4.channel.k8s.io", {"stdin": True, "stdout": True, "stderr": True, "tty": True},
     {"error", "stdin", "stdout", "resize"}),  # a terminal merges stderr and has a size
    ("v2.channel.k8s.io", {"stdin": True, "stdout": True, "tty": True}, {"error", "stdin", "stdout"}),
    ("v5.channel.k8s.io", {}, {"error"}),
])
def test_the_streams_a_session_waits_for(protocol, flags, streams):
    assert spdyexec.expected_streams(protocol, request(**flags)) == streams

"""SPDY/3.1 framing, header compression and the asyncio connection, over in-memory pipes."""

from __future__ import annotations

import asyncio
import hashlib
import struct
import zlib

import pytest

from navarch.kubelet.server import spdy

# ---- helpers --------------------------------------------------------------------------------------

class Pipe:
    """One direction of an in-memory byte transport."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.log: list[bytes] = []

    async def read(self) -> bytes:
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        self.log.append(data)
        await self.queue.put(data)

    def eof(self) -> None:
        self.queue.put_nowait(b"")


def roundtrip(frames: list[spdy.Frame], chunk: int | None = None) -> list[spdy.Frame]:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(encoder.encode(f) for f in frames)
    if chunk is None:
        return decoder.feed(wire)
    out: list[spdy.Frame] = []
    for i in range(0, len(wire), chunk):
        out += decoder.feed(wire[i:i + chunk])
    return out


class Peers:
    """A client and a server connection joined by two pipes, both running."""

    def __init__(self, on_stream=None, **server_kwargs) -> None:
        self.up, self.down = Pipe(), Pipe()
        self.client = spdy.SpdyConnection(self.down.read, self.up.write, server=False)
        self.server = spdy.SpdyConnection(self.up.read, self.down.write, server=True, on_stream=on_stream,
                                          **server_kwargs)
        self.tasks = [asyncio.create_task(self.client.run()), asyncio.create_task(self.server.run())]

    async def stop(self) -> None:
        self.up.eof()
        self.down.eof()
        await asyncio.wait_for(asyncio.gather(*self.tasks), 5)


async def accept_all(stream: spdy.SpdyStream) -> None:
    await stream.reply({"accepted": "yes"})


# ---- framing ----------------------------------------------------------------------------------------

def test_dictionary_is_the_spdy3_one() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    # The digest moby/spdystream's headerDictionary has: a drifted byte would break every Go peer.
    assert hashlib.sha256(spdy.DICTIONARY).hexdigest() == \
        "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02"


FRAMES: list[spdy.Frame] = [
    spdy.DataFrame(1, b"hello"),
    spdy.DataFrame(3, b"", spdy.FLAG_FIN),
    spdy.DataFrame(0x7FFFFFFF, bytes(range(256)) * 300),
    spdy.SynStreamFrame(1, {"streamtype": ["error"], "port": ["8080"], "requestid": ["0"]}),
    spdy.SynStreamFrame(5, {"a": ["x", "y"]}, associated_stream_id=3, priority=7, slot=2,
                        flags=spdy.FLAG_FIN | spdy.FLAG_UNIDIRECTIONAL),
    spdy.SynReplyFrame(1, {}),
    spdy.SynReplyFrame(7, {"x-stream-protocol-version": ["portforward.k8s.io"]}, spdy.FLAG_FIN),
    spdy.HeadersFrame(9, {"k": ["v"]}, spdy.FLAG_FIN),
    spdy.RstStreamFrame(11, spdy.RstStatus.CANCEL),
    spdy.SettingsFrame((spdy.Setting(spdy.SettingId.INITIAL_WINDOW_SIZE, 1 << 20, 1),
                        spdy.Setting(spdy.SettingId.MAX_CONCURRENT_STREAMS, 100))),
    spdy.SettingsFrame(),
    spdy.PingFrame(1),
    spdy.PingFrame(0xFFFFFFFF),
    spdy.GoAwayFrame(13, spdy.GoAwayStatus.PROTOCOL_ERROR),
    spdy.WindowUpdateFrame(1, 65536),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_frame_round_trip(frame: spdy.Frame) -> None:
    assert roundtrip([frame]) == [frame]


def test_frames_survive_arbitrary_chunking() -> None:
    assert roundtrip(FRAMES, chunk=1) == FRAMES
    assert roundtrip(FRAMES, chunk=7) == FRAMES


def test_control_frame_layout_matches_the_draft() -> None:
    wire = spdy.FrameEncoder().encode(spdy.RstStreamFrame(5, spdy.RstStatus.CANCEL))
    # control bit + version 3, type 3, flags 0, length 8, stream id, status
    assert wire == bytes.fromhex("80030003" "00000008" "00000005" "00000005")
    wire = spdy.FrameEncoder().encode(spdy.DataFrame(3, b"ab", spdy.FLAG_FIN))
    assert wire == bytes.fromhex("00000003" "01000002") + b"ab"
    wire = spdy.FrameEncoder().encode(spdy.PingFrame(2))
    assert wire == bytes.fromhex("80030006" "00000004" "00000002")


def test_unknown_control_frames_are_skipped() -> None:
    credential = struct.pack(">HHI", 0x8003, 10, 3) + b"abc"
    ping = spdy.FrameEncoder().encode(spdy.PingFrame(3))
    assert spdy.FrameDecoder().feed(credential + ping) == [spdy.PingFrame(3)]


def test_wrong_version_is_a_protocol_error() -> None:
    wire = struct.pack(">HHI", 0x8002, 6, 4) + b"\0\0\0\1"
    with pytest.raises(spdy.SpdyError):
        spdy.FrameDecoder().feed(wire)


def test_header_names_are_lower_cased_and_values_nul_joined() -> None:
    block = spdy.encode_header_block({"StreamType": "data", "X-Multi": ["a", "b"]})
    assert spdy.decode_header_block(block) == {"streamtype": ["data"], "x-multi": ["a", "b"]}
    assert b"a\0b" in block
    assert spdy.first_header({"requestid": ["4"]}, "requestID") == "4"
    assert spdy.first_header({}, "port") == ""


def test_duplicate_header_names_are_refused() -> None:
    pair = struct.pack(">I", 1) + b"a" + struct.pack(">I", 1) + b"x"
    with pytest.raises(spdy.SpdyError):
        spdy.decode_header_block(struct.pack(">I", 2) + pair + pair)


# ---- header compression ---------------------------------------------------------------------------

def test_header_blocks_use_the_dictionary() -> None:
    wire = spdy.FrameEncoder().encode(spdy.SynReplyFrame(1, {"content-type": ["text/plain"]}))
    block = wire[12:]
    cmf, flg = block[0], block[1]
    assert cmf & 0x0F == 8 and (cmf << 8 | flg) % 31 == 0
    assert flg & 0x20, "FDICT must be set"
    # Go's zlib reader refuses a stream whose dictionary id differs from adler32 of its dictionary.
    assert block[2:6] == struct.pack(">I", zlib.adler32(spdy.DICTIONARY))


def test_one_compression_context_spans_all_frames() -> None:
    headers = {"streamtype": ["data"], "port": ["8080"], "requestid": ["0"]}
    encoder = spdy.FrameEncoder()
    wires = [encoder.encode(spdy.SynStreamFrame(2 * i + 1, {**headers, "requestid": [str(i)]}))
             for i in range(4)]
    # Later blocks back-reference earlier ones, so they shrink.
    assert len(wires[1]) < len(wires[0])
    decoder = spdy.FrameDecoder()
    decoded = [decoder.feed(w)[0] for w in wires]
    assert [f.headers["requestid"] for f in decoded] == [["0"], ["1"], ["2"], ["3"]]
    # A frame cannot be decoded out of its context: a fresh decoder fails on the second one.
    with pytest.raises(spdy.SpdyError):
        spdy.FrameDecoder().feed(wires[1])


def test_each_direction_has_its_own_context_and_mixes_with_data() -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    frames: list[spdy.Frame] = []
    for i in range(1, 20, 2):
        frames += [spdy.SynStreamFrame(i, {"n": [str(i)]}), spdy.DataFrame(i, b"x" * i),
                   spdy.SynReplyFrame(i, {"ok": ["1"]}), spdy.HeadersFrame(i, {"t": [str(i)]})]
    wire = b"".join(encoder.encode(f) for f in frames)
    assert decoder.feed(wire) == frames


def test_oversized_header_block_is_refused() -> None:
    decoder = spdy.FrameDecoder()
    decoder._headers = spdy.HeaderDecompressor(max_block=64)
    wire = spdy.FrameEncoder().encode(spdy.SynStreamFrame(1, {"big": ["x" * 1000]}))
    with pytest.raises(spdy.SpdyError):
        decoder.feed(wire)


# ---- connection ---------------------------------------------------------------------------------------

async def test_streams_carry_data_both_ways_and_half_close() -> None:
    seen: list[spdy.SpdyStream] = []

    async def on_stream(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        await stream.reply()

    peers = Peers(on_stream)
    try:
        stream = await peers.client.open_stream({"streamType": "data", "port": "80"})
        await stream.wait_reply(timeout=5)
        assert stream.id == 1
        server_side = seen[0]
        assert server_side.headers["streamtype"] == ["data"]
        await stream.write(b"ping " * 40000)  # larger than one DATA frame and than the 64 KiB window
        await stream.close()
        received = await asyncio.wait_for(server_side.read_all(), 5)
        assert received == b"ping " * 40000
        await server_side.write(b"pong")
        await server_side.close()
        assert await asyncio.wait_for(stream.read_all(), 5) == b"pong"
        # both sides closed: neither connection remembers the stream
        assert peers.client.streams == [] and peers.server.streams == []
        with pytest.raises(spdy.StreamClosedError):
            await stream.write(b"late")
    finally:
        await peers.stop()


async def test_second_stream_gets_next_odd_id_and_reset_ends_reads() -> None:
    seen: list[spdy.SpdyStream] = []

    async def on_stream(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        await stream.reply()

    peers = Peers(on_stream)
    try:
        first = await peers.client.open_stream({"a": "1"})
        second = await peers.client.open_stream({"a": "2"})
        await second.wait_reply(timeout=5)
        assert (first.id, second.id) == (1, 3)
        await second.reset()
        assert await asyncio.wait_for(seen[1].read(), 5) == b""
        assert seen[1].was_reset and seen[1].reset_status == spdy.RstStatus.CANCEL
        with pytest.raises(spdy.StreamClosedError):
            await seen[1].write(b"x")
    finally:
        await peers.stop()


async def test_rejected_stream_fails_wait_reply() -> None:
    async def on_stream(stream: spdy.SpdyStream) -> None:
        await stream.reset(spdy.RstStatus.REFUSED_STREAM)

    peers = Peers(on_stream)
    try:
        stream = await peers.client.open_stream({"a": "1"})
        with pytest.raises(spdy.SpdyError):
            await stream.wait_reply(timeout=5)
        assert stream.reset_status == spdy.RstStatus.REFUSED_STREAM
    finally:
        await peers.stop()


async def test_pings_are_answered_both_ways() -> None:
    peers = Peers(accept_all)
    try:
        assert await peers.client.ping(timeout=5) >= 0
        assert await peers.server.ping(timeout=5) >= 0
    finally:
        await peers.stop()


async def test_settings_and_window_updates_are_accepted_not_enforced() -> None:
    seen: list[spdy.SpdyStream] = []

    async def on_stream(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        await stream.reply()

    peers = Peers(on_stream)
    try:
        await peers.client.send_settings([spdy.Setting(spdy.SettingId.INITIAL_WINDOW_SIZE, 1024)])
        stream = await peers.client.open_stream({"a": "1"})
        await stream.wait_reply(timeout=5)
        assert peers.server.peer_settings[spdy.SettingId.INITIAL_WINDOW_SIZE] == 1024
        # spdystream never sends WINDOW_UPDATE: the server must keep sending past any window.
        await seen[0].write(b"z" * 200_000)
        await seen[0].close()
        assert len(await asyncio.wait_for(stream.read_all(), 5)) == 200_000
    finally:
        await peers.stop()


async def test_stream_ids_from_the_wrong_side_are_reset() -> None:
    up, down = Pipe(), Pipe()
    server = spdy.SpdyConnection(up.read, down.write, server=True, on_stream=accept_all)
    task = asyncio.create_task(server.run())
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    try:
        await up.write(encoder.encode(spdy.SynStreamFrame(2, {"a": ["1"]})))  # even: a server id
        frames = decoder.feed(await asyncio.wait_for(down.read(), 5))
        assert frames == [spdy.RstStreamFrame(2, spdy.RstStatus.PROTOCOL_ERROR)]
        await up.write(encoder.encode(spdy.SynStreamFrame(5, {"a": ["1"]})))
        reply = decoder.feed(await asyncio.wait_for(down.read(), 5))[0]
        assert isinstance(reply, spdy.SynReplyFrame) and reply.stream_id == 5
        await up.write(encoder.encode(spdy.SynStreamFrame(3, {"a": ["1"]})))  # going backwards
        assert decoder.feed(await asyncio.wait_for(down.read(), 5)) == \
            [spdy.RstStreamFrame(3, spdy.RstStatus.PROTOCOL_ERROR)]
        # data for a stream nobody knows is dropped, and the session goes on
        await up.write(encoder.encode(spdy.DataFrame(99, b"stray")))
        await up.write(encoder.encode(spdy.PingFrame(7)))
        assert decoder.feed(await asyncio.wait_for(down.read(), 5)) == [spdy.PingFrame(7)]
    finally:
        up.eof()
        await asyncio.wait_for(task, 5)


async def test_transport_eof_ends_streams_and_run() -> None:
    seen: list[spdy.SpdyStream] = []

    async def on_stream(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        await stream.reply()

    peers = Peers(on_stream)
    stream = await peers.client.open_stream({"a": "1"})
    await stream.wait_reply(timeout=5)
    reader = asyncio.create_task(seen[0].read())
    await peers.stop()
    assert await asyncio.wait_for(reader, 5) == b""
    assert peers.server.closed and peers.client.closed
    with pytest.raises(spdy.SpdyError):
        await peers.client.open_stream({"a": "2"})


async def test_protocol_error_sends_goaway_and_stops() -> None:
    up, down = Pipe(), Pipe()
    server = spdy.SpdyConnection(up.read, down.write, server=True, on_stream=accept_all)
    task = asyncio.create_task(server.run())
    await up.write(struct.pack(">HHI", 0x8002, 6, 4) + b"\0\0\0\1")  # SPDY/2 ping
    await asyncio.wait_for(task, 5)
    frames = spdy.FrameDecoder().feed(await asyncio.wait_for(down.read(), 5))
    assert frames == [spdy.GoAwayFrame(0, spdy.GoAwayStatus.PROTOCOL_ERROR)]


async def test_slow_reader_pauses_the_read_loop() -> None:
    seen: list[spdy.SpdyStream] = []

    async def on_stream(stream: spdy.SpdyStream) -> None:
        seen.append(stream)
        await stream.reply()

    peers = Peers(on_stream, max_stream_buffer=1000)
    try:
        stream = await peers.client.open_stream({"a": "1"})
        await stream.wait_reply(timeout=5)
        for _ in range(5):
            await stream.write(b"x" * 600)
        # let the server consume what it can: it stops after the buffer passes the limit
        for _ in range(20):
            await asyncio.sleep(0)
        assert peers.up.queue.qsize() > 0, "frames beyond the buffer limit stay unread in the transport"
        total = 0
        while total < 3000:
            total += len(await asyncio.wait_for(seen[0].read(), 5))
        assert total == 3000
    finally:
        await peers.stop()

"""Frames: u32 big-endian length prefix, 16 MiB ceiling, incremental decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.errors import DecodeError, LocalProtocolError
from cocoon.wire.frames import MAX_PAYLOAD, FrameDecoder, encode_frame


def test_header_is_big_endian_length() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert FrameDecoder().feed(b"\x00\x00\x01\x00" + b"z" * 256) == [b"z" * 256]


def test_byte_by_byte_feeding_yields_each_frame_once() -> None:
    wire = encode_frame(b"first") + encode_frame(b"") + encode_frame(b"third")
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(len(wire)):
        out += decoder.feed(wire[i : i + 1])
    assert out == [b"first", b"", b"third"]
    assert decoder.buffered == 0


def test_oversize_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder()
    header = (MAX_PAYLOAD + 1).to_bytes(4, "big")
    with pytest.raises(DecodeError, match="above the 16777216-byte limit"):
        decoder.feed(header)  # no payload byte was sent, nothing was buffered beyond the header
    with pytest.raises(DecodeError):
        decoder.feed(b"\x00\x00\x00\x00")  # poisoned: the stream position is lost


def test_exact_maximum_is_accepted_with_a_custom_limit() -> None:
    decoder = FrameDecoder(max_payload=10)
    assert decoder.feed(encode_frame(b"0123456789", max_payload=10)) == [b"0123456789"]
    with pytest.raises(DecodeError):
        decoder.feed(b"\x00\x00\x00\x0b")


def test_encoding_an_oversize_payload_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="split the data"):
        encode_frame(b"x" * 11, max_payload=10)


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_any_chunking_reassembles_the_same_payloads(payloads: list[bytes], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    decoder = FrameDecoder()
    out: list[bytes] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        out += decoder.feed(wire[start:cut])
        start = cut
    assert out == payloads
    assert decoder.buffered == 0


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_random_bytes_raise_only_decode_error(chunks: list[bytes]) -> None:
    decoder = FrameDecoder(max_payload=1024)
    try:
        for chunk in chunks:
            for payload in decoder.feed(chunk):
                assert len(payload) <= 1024
    except DecodeError:
        pass

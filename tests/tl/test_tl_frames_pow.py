"""TCP frames and the connection proof of work."""

from __future__ import annotations

import hashlib
import struct

import pytest

from cocoon.tl import pow
from cocoon.tl.errors import PowNotFoundError, TLDecodeError, TLEncodeError
from cocoon.tl.frames import MAX_FRAME, FrameDecoder, FrameEncoder, encode_frame


def test_frame_bytes() -> None:
    assert encode_frame(3, b"\x01\x02\x03\x04\x05") == bytes.fromhex("05000000030000000102030405")


def test_encoder_numbers_frames_and_decoder_checks_them() -> None:
    encoder, decoder = FrameEncoder(), FrameDecoder()
    stream = b"".join(encoder.encode(bytes([i]) * (4 + i)) for i in range(5))
    assert encoder.seqno == 5
    bodies = []
    for i in range(0, len(stream), 3):  # delivered in awkward pieces
        bodies += decoder.feed(stream[i : i + 3])
    assert bodies == [bytes([i]) * (4 + i) for i in range(5)]
    assert decoder.seqno == 5
    assert decoder.buffered == 0


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (struct.pack("<Ii", 3, 0) + b"abc", "length 3"),
        (struct.pack("<Ii", MAX_FRAME + 1, 0), "length 16777217"),
        (struct.pack("<Ii", 4, 1) + b"abcd", "seqno 1, expected 0"),
        (struct.pack("<Ii", 4, -1) + b"abcd", "seqno -1"),
    ],
)
def test_bad_frames_poison_the_decoder(frame: bytes, message: str) -> None:
    decoder = FrameDecoder()
    with pytest.raises(TLDecodeError, match=message):
        decoder.feed(frame)
    with pytest.raises(TLDecodeError, match="already broken"):
        decoder.feed(encode_frame(0, b"abcd"))


def test_an_oversized_header_is_refused_before_its_body_arrives() -> None:
    with pytest.raises(TLDecodeError):
        FrameDecoder().feed(struct.pack("<Ii", 0xFFFFFFFF, 0))


def test_replayed_seqno_is_refused() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(0, b"abcd")
    assert decoder.feed(frame) == [b"abcd"]
    with pytest.raises(TLDecodeError, match="seqno 0, expected 1"):
        decoder.feed(frame)


@pytest.mark.parametrize("body", [b"", b"abc", b"x" * (MAX_FRAME + 1)])
def test_encode_frame_refuses_bad_bodies(body: bytes) -> None:
    with pytest.raises(TLEncodeError):
        encode_frame(0, body)
    encoder = FrameEncoder()
    with pytest.raises(TLEncodeError):
        encoder.encode(body)
    assert encoder.seqno == 0


def test_max_frame_is_accepted() -> None:
    body = b"\x00" * MAX_FRAME
    assert FrameDecoder().feed(encode_frame(0, body)) == [body]


SALT = bytes(range(16))


def test_challenge_and_answer_bytes() -> None:
    challenge = pow.encode_challenge(20, SALT)
    assert challenge == bytes.fromhex("91128e4114000000") + SALT
    assert len(challenge) == pow.CHALLENGE_SIZE
    assert pow.decode_challenge(challenge) == pow.Challenge(20, SALT)
    answer = pow.encode_answer(0x0102030405060708)
    assert answer == bytes.fromhex("197382010807060504030201")
    assert len(answer) == pow.ANSWER_SIZE
    assert pow.decode_answer(answer) == 0x0102030405060708


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00" * 23, "24 bytes"),
        (b"\x00" * 24, "magic"),
        (struct.pack("<Ii", pow.CHALLENGE_MAGIC, -1) + SALT, "difficulty -1"),
        (struct.pack("<Ii", pow.CHALLENGE_MAGIC, 65) + SALT, "difficulty 65"),
    ],
)
def test_bad_challenges(data: bytes, message: str) -> None:
    with pytest.raises(TLDecodeError, match=message):
        pow.decode_challenge(data)


@pytest.mark.parametrize(("data", "message"), [(b"\x00" * 11, "12 bytes"), (b"\x00" * 12, "magic")])
def test_bad_answers(data: bytes, message: str) -> None:
    with pytest.raises(TLDecodeError, match=message):
        pow.decode_answer(data)


def leading_zero_bits(salt: bytes, nonce: int) -> int:
    digest = hashlib.sha256(salt + nonce.to_bytes(8, "little")).digest()
    return 64 - int.from_bytes(digest[:8], "little").bit_length()


@pytest.mark.parametrize("difficulty", [0, 1, 8, 14])
def test_solve_finds_the_first_valid_nonce(difficulty: int) -> None:
    nonce = pow.solve(SALT, difficulty)
    assert pow.check(SALT, nonce, difficulty)
    assert leading_zero_bits(SALT, nonce) >= difficulty
    assert all(leading_zero_bits(SALT, n) < difficulty for n in range(nonce))
    assert not pow.check(SALT, nonce, leading_zero_bits(SALT, nonce) + 1)


def test_solve_in_slices() -> None:
    first = pow.solve(SALT, 12)
    with pytest.raises(PowNotFoundError):
        pow.solve(SALT, 12, start=0, limit=first)
    assert pow.solve(SALT, 12, start=first, limit=1) == first
    assert pow.solve(SALT, 12, start=first + 1) > first


def test_check_refuses_out_of_range_nonces() -> None:
    assert not pow.check(SALT, -1, 0)
    assert not pow.check(SALT, 1 << 64, 0)
    with pytest.raises(TLEncodeError):
        pow.encode_answer(1 << 64)
    with pytest.raises(TLEncodeError):
        pow.encode_challenge(20, b"short")


def test_solve_refuses_negative_ranges() -> None:
    with pytest.raises(TLEncodeError):
        pow.solve(SALT, 1, start=-1)
    with pytest.raises(TLEncodeError):
        pow.solve(SALT, 1, limit=-1)

"""Response frames of `cocoon-e2e/1`: order, integrity, splitting, padding and the frame log the
receipt covers. Every refusal by the opener is ``e2e_frame_invalid``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given
from hypothesis import strategies as st

from cocoon.e2e import kdf
from cocoon.e2e.envelope import ISSUE_WINDOW_S, RequestSecret, Routing, open_request, seal_request
from cocoon.e2e.frames import (
    MAX_FRAME_PAYLOAD,
    FrameLog,
    FrameOpener,
    FrameSealer,
    FrameType,
    OpenedFrame,
)
from cocoon.e2e.keyring import Keyring
from cocoon.e2e.padding import FRAME_BUCKET
from cocoon.e2e.replay import ReplayCache
from cocoon.errors import E2EError

TAG = 16
SSE_1 = b'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n'
SSE_2 = b'data: {"choices":[{"delta":{"content":"lo"}}]}\n\n'
DONE = b"data: [DONE]\n\n"


def _secret() -> RequestSecret:
    return RequestSecret(h=os.urandom(32), rs=os.urandom(32))


def _answer(sealer: FrameSealer) -> list[bytes]:
    """A streamed answer: head, three data frames, final."""
    return [
        sealer.head(200, "text/event-stream"),
        *sealer.data(SSE_1),
        *sealer.data(SSE_2),
        *sealer.data(DONE),
        sealer.final(),
    ]


def _pair() -> tuple[FrameSealer, FrameOpener]:
    secret, rn = _secret(), os.urandom(32)
    return FrameSealer(secret, rn), FrameOpener(secret, rn)


def _refused(opener: FrameOpener, frame: bytes) -> None:
    with pytest.raises(E2EError) as caught:
        opener.open(frame)
    assert caught.value.code == "e2e_frame_invalid"


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _spec_keys(secret: RequestSecret, rn: bytes) -> tuple[bytes, int]:
    """``prk_r = HKDF-Extract(h ‖ rn, rs)``, ``k_resp``, ``nb`` as the spec derives them."""
    prk = kdf.extract(secret.h + rn, secret.rs)
    return kdf.expand(prk, b"resp key", 32), int.from_bytes(kdf.expand(prk, b"resp nonce", 12), "big")


def _forge(secret: RequestSecret, rn: bytes, index: int, kind: FrameType, plain: bytes) -> bytes:
    """A frame sealed by the spec's formula around an arbitrary (already padded) plaintext."""
    key, base = _spec_keys(secret, rn)
    nonce = (base ^ index).to_bytes(12, "big")
    return bytes([kind]) + ChaCha20Poly1305(key).encrypt(nonce, plain, kind.name.lower().encode())


# --- round trips ------------------------------------------------------------------------------------


def test_stream_round_trip() -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    opened = [opener.open(frame) for frame in frames]
    assert [frame.kind for frame in opened] == [
        FrameType.HEAD,
        FrameType.DATA,
        FrameType.DATA,
        FrameType.DATA,
        FrameType.FINAL,
    ]
    assert [frame.payload for frame in opened[1:]] == [SSE_1, SSE_2, DONE, b""]
    assert (opener.status, opener.content_type) == (200, "text/event-stream")
    assert opener.finished and sealer.finished
    for frame in frames:
        assert SSE_1 not in frame and b"Hel" not in frame


def test_error_answer_round_trip() -> None:
    body = b'{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}'
    sealer, opener = _pair()
    frames = [sealer.head(400, "application/json"), *sealer.error(body), sealer.final(b"trailer")]
    opened = [opener.open(frame) for frame in frames]
    assert opened[1] == OpenedFrame(FrameType.ERROR, body)
    assert opened[2] == OpenedFrame(FrameType.FINAL, b"trailer")
    assert (opener.status, opener.content_type) == (400, "application/json")
    assert opener.finished


def test_request_and_answer_end_to_end() -> None:
    """The worker answers with the secret it opened; the client opens with the secret it sealed."""
    keyring = Keyring(os.urandom)
    pair = keyring.rotate(not_after=2_000_000_000)
    routing = Routing("00000000000000ab", "m", "/v1/chat/completions", 100, 1, 1000)
    sealed = seal_request(
        b"{}", routing, [(pair.key_id, pair.public_key)], issued_at=1_750_000_000, random_bytes=os.urandom
    )
    opened = open_request(sealed.envelope, routing, keyring, ReplayCache(2 * ISSUE_WINDOW_S), 1_750_000_000)
    rn = os.urandom(32)
    sealer, opener = FrameSealer(opened.secret, rn), FrameOpener(sealed.secret, rn)
    assert [opener.open(frame).payload for frame in _answer(sealer)][1:] == [SSE_1, SSE_2, DONE, b""]
    assert opener.log.digest() == sealer.log.digest()


def test_frames_follow_the_spec_layout() -> None:
    """``frame_i = type ‖ ChaCha20-Poly1305(k_resp, nb XOR i, aad = type name, pad64(u16 len ‖ payload))``."""
    secret, rn = _secret(), os.urandom(32)
    frames = _answer(FrameSealer(secret, rn))
    key, base = _spec_keys(secret, rn)
    payloads = [msgspec.msgpack.encode([200, "text/event-stream"]), SSE_1, SSE_2, DONE, b""]
    for index, (frame, payload) in enumerate(zip(frames, payloads, strict=True)):
        kind = FrameType(frame[0])
        nonce = (base ^ index).to_bytes(12, "big")
        plain = ChaCha20Poly1305(key).decrypt(nonce, frame[1:], kind.name.lower().encode())
        assert plain[:2] == len(payload).to_bytes(2, "big")
        assert plain[2 : 2 + len(payload)] == payload
        assert not any(plain[2 + len(payload) :])
    assert frames[0][0] == FrameType.HEAD
    assert [t.aad for t in FrameType] == [b"head", b"data", b"error", b"final"]


# --- order and integrity ----------------------------------------------------------------------------


def test_head_must_come_first() -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    _refused(opener, frames[1])
    _refused(opener, frames[-1])


def test_head_only_once() -> None:
    sealer, opener = _pair()
    opener.open(sealer.head(200, "text/event-stream"))
    _refused(opener, sealer.head(200, "text/event-stream"))


def test_reordered_frames_fail() -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    opener.open(frames[0])
    _refused(opener, frames[2])


def test_dropped_frame_fails() -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    opener.open(frames[0])
    opener.open(frames[1])
    _refused(opener, frames[3])


def test_duplicated_frame_fails() -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    opener.open(frames[0])
    opener.open(frames[1])
    _refused(opener, frames[1])


def test_dropped_final_frame_leaves_the_answer_unfinished() -> None:
    sealer, opener = _pair()
    for frame in _answer(sealer)[:-1]:
        opener.open(frame)
    assert not opener.finished
    assert not opener.log.final


def test_frame_spliced_from_another_answer_fails() -> None:
    """Same request, another ``rn`` (a retry on another worker): its frames do not open here."""
    secret = _secret()
    rn, other_rn = os.urandom(32), os.urandom(32)
    ours, theirs = _answer(FrameSealer(secret, rn)), _answer(FrameSealer(secret, other_rn))
    opener = FrameOpener(secret, rn)
    opener.open(ours[0])
    _refused(opener, theirs[1])
    # ... nor does the other answer's head start this one.
    _refused(FrameOpener(secret, rn), theirs[0])


def test_frame_from_another_request_fails() -> None:
    rn = os.urandom(32)
    ours, theirs = _answer(FrameSealer(_secret(), rn)), _answer(FrameSealer(_secret(), rn))
    opener = FrameOpener(_secret(), rn)
    _refused(opener, theirs[0])
    assert ours != theirs


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda f: f[:-1], id="last-byte-dropped"),
        pytest.param(lambda f: f[: 1 + FRAME_BUCKET], id="tag-dropped"),
        pytest.param(lambda f: f[:1], id="type-only"),
        pytest.param(lambda f: b"", id="empty"),
        pytest.param(lambda f: f + b"\x00", id="extended"),
        pytest.param(lambda f: _flip(f, 1), id="first-ciphertext-bit"),
        pytest.param(lambda f: _flip(f, 30), id="middle-bit"),
        pytest.param(lambda f: _flip(f, len(f) - 1), id="tag-bit"),
    ],
)
def test_truncated_or_flipped_data_frame_fails(mangle: Callable[[bytes], bytes]) -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    opener.open(frames[0])
    _refused(opener, mangle(frames[1]))


@pytest.mark.parametrize("index", [0, 4])
def test_flipped_head_or_final_fails(index: int) -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    for frame in frames[:index]:
        opener.open(frame)
    _refused(opener, _flip(frames[index], len(frames[index]) // 2))


@pytest.mark.parametrize(
    ("position", "new_type"),
    [
        pytest.param(1, FrameType.ERROR, id="data-as-error"),
        pytest.param(1, FrameType.FINAL, id="data-as-final"),
        pytest.param(1, FrameType.HEAD, id="data-as-head"),
        pytest.param(4, FrameType.DATA, id="final-as-data"),
        pytest.param(0, FrameType.DATA, id="head-as-data"),
        pytest.param(1, 0, id="data-as-0"),
        pytest.param(1, 5, id="data-as-5"),
        pytest.param(1, 255, id="data-as-255"),
    ],
)
def test_altered_type_byte_fails(position: int, new_type: int) -> None:
    sealer, opener = _pair()
    frames = _answer(sealer)
    for frame in frames[:position]:
        opener.open(frame)
    _refused(opener, bytes([new_type]) + frames[position][1:])


def test_nothing_opens_after_final() -> None:
    secret, rn = _secret(), os.urandom(32)
    frames = _answer(FrameSealer(secret, rn))
    opener = FrameOpener(secret, rn)
    for frame in frames:
        opener.open(frame)
    _refused(opener, frames[-1])
    _refused(opener, frames[1])
    # Even a frame that authenticates at the next position (the sealer refuses to make one).
    plain = (1).to_bytes(2, "big") + b"x" + bytes(FRAME_BUCKET - 3)
    _refused(opener, _forge(secret, rn, len(frames), FrameType.DATA, plain))


def test_nothing_is_sealed_after_final() -> None:
    sealer, _ = _pair()
    _answer(sealer)
    count = sealer.log.count
    for seal in (
        lambda: sealer.final(),
        lambda: sealer.head(200, "x"),
        lambda: list(sealer.data(b"x")),
        lambda: list(sealer.error(b"x")),
    ):
        with pytest.raises(E2EError) as caught:
            seal()
        assert caught.value.code == "e2e_frame_invalid"
    assert sealer.log.count == count


@pytest.mark.parametrize("status", [99, 600, 0])
def test_head_status_must_be_http(status: int) -> None:
    sealer, opener = _pair()
    _refused(opener, sealer.head(status, "application/json"))


def test_head_must_decode() -> None:
    secret, rn = _secret(), os.urandom(32)
    plain = (1).to_bytes(2, "big") + b"\xc1"
    frame = _forge(secret, rn, 0, FrameType.HEAD, plain + bytes(FRAME_BUCKET - len(plain)))
    _refused(FrameOpener(secret, rn), frame)


@pytest.mark.parametrize(
    "plain",
    [
        pytest.param((63).to_bytes(2, "big") + bytes(62), id="length-past-the-end"),
        pytest.param((3).to_bytes(2, "big") + b"abc" + bytes(58) + b"\x01", id="nonzero-padding"),
        pytest.param((2).to_bytes(2, "big") + b"abc" + bytes(59), id="first-padding-byte-nonzero"),
        pytest.param(b"\x00", id="shorter-than-length"),
    ],
)
def test_inner_length_and_padding_are_checked(plain: bytes) -> None:
    """A frame that authenticates but whose padded plaintext is malformed is refused too."""
    secret, rn = _secret(), os.urandom(32)
    sealer, opener = FrameSealer(secret, rn), FrameOpener(secret, rn)
    opener.open(sealer.head(200, "text/plain"))
    _refused(opener, _forge(secret, rn, 1, FrameType.DATA, plain))


def test_a_forged_frame_with_good_padding_opens() -> None:
    """The forging helper itself is right (so the two tests above fail for the reason they name)."""
    secret, rn = _secret(), os.urandom(32)
    sealer, opener = FrameSealer(secret, rn), FrameOpener(secret, rn)
    opener.open(sealer.head(200, "text/plain"))
    plain = (3).to_bytes(2, "big") + b"abc" + bytes(59)
    assert opener.open(_forge(secret, rn, 1, FrameType.DATA, plain)) == OpenedFrame(FrameType.DATA, b"abc")


@pytest.mark.parametrize("size", [0, 31, 33])
def test_rn_must_be_32_bytes(size: int) -> None:
    for side in (FrameSealer, FrameOpener):
        with pytest.raises(E2EError) as caught:
            side(_secret(), bytes(size))
        assert caught.value.code == "e2e_frame_invalid"


# --- splitting and padding --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "parts"),
    [
        (1, [1]),
        (MAX_FRAME_PAYLOAD, [MAX_FRAME_PAYLOAD]),
        (MAX_FRAME_PAYLOAD + 1, [MAX_FRAME_PAYLOAD, 1]),
        (2 * MAX_FRAME_PAYLOAD + 10, [MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, 10]),
    ],
)
def test_long_data_is_split(size: int, parts: list[int]) -> None:
    assert MAX_FRAME_PAYLOAD == 65535
    payload = os.urandom(size)
    sealer, opener = _pair()
    opener.open(sealer.head(200, "application/json"))
    frames = list(sealer.data(payload))
    opened = [opener.open(frame) for frame in frames]
    assert [len(frame.payload) for frame in opened] == parts
    assert all(frame.kind is FrameType.DATA for frame in opened)
    assert b"".join(frame.payload for frame in opened) == payload
    opener.open(sealer.final())
    assert opener.finished


def test_long_error_is_split() -> None:
    body = b"e" * (MAX_FRAME_PAYLOAD + 5)
    sealer, opener = _pair()
    opener.open(sealer.head(500, "application/json"))
    opened = [opener.open(frame) for frame in sealer.error(body)]
    assert [(frame.kind, len(frame.payload)) for frame in opened] == [
        (FrameType.ERROR, MAX_FRAME_PAYLOAD),
        (FrameType.ERROR, 5),
    ]


@pytest.mark.parametrize("size", [1, 62, 63, 1000, MAX_FRAME_PAYLOAD])
def test_data_frame_is_the_frame_data_yields(size: int) -> None:
    """The one-frame path of a streamed event seals the same bytes, and logs them the same way."""
    secret, rn, payload = _secret(), os.urandom(32), os.urandom(size)
    split, single = FrameSealer(secret, rn), FrameSealer(secret, rn)
    assert split.head(200, "text/event-stream") == single.head(200, "text/event-stream")
    assert list(split.data(payload)) == [single.data_frame(payload)]
    assert list(split.data(SSE_1)) == [single.data_frame(SSE_1)]
    assert split.final() == single.final()
    assert (single.log.digest(), single.log.count, single.log.final) == (
        split.log.digest(),
        split.log.count,
        split.log.final,
    )


@pytest.mark.parametrize("size", [0, MAX_FRAME_PAYLOAD + 1])
def test_data_frame_takes_one_frame_of_data(size: int) -> None:
    sealer, _ = _pair()
    sealer.head(200, "text/event-stream")
    with pytest.raises(E2EError):
        sealer.data_frame(bytes(size))
    assert sealer.log.count == 1


def test_empty_data_seals_no_frame() -> None:
    sealer, _ = _pair()
    sealer.head(200, "text/event-stream")
    assert list(sealer.data(b"")) == []
    assert sealer.log.count == 1


@pytest.mark.parametrize(
    ("size", "buckets"),
    [(1, 1), (62, 1), (63, 2), (126, 2), (127, 3), (MAX_FRAME_PAYLOAD - 2, 1024), (MAX_FRAME_PAYLOAD, 1025)],
)
def test_frames_are_padded_to_64_byte_buckets(size: int, buckets: int) -> None:
    sealer, _ = _pair()
    sealer.head(200, "text/event-stream")
    (frame,) = list(sealer.data(b"z" * size))
    assert len(frame) == 1 + buckets * FRAME_BUCKET + TAG


def test_sizes_within_a_bucket_are_hidden() -> None:
    sealer, _ = _pair()
    sealer.head(200, "text/event-stream")
    sizes = {len(frame) for size in (1, 10, 40, 62) for frame in sealer.data(b"q" * size)}
    assert sizes == {1 + FRAME_BUCKET + TAG}
    assert len(sealer.final()) == 1 + FRAME_BUCKET + TAG


# --- the frame log ----------------------------------------------------------------------------------


def test_logs_agree_on_both_sides_and_at_the_relay() -> None:
    sealer, opener = _pair()
    relay = FrameLog()
    for frame in _answer(sealer):
        relay.add(frame)
        opener.open(frame)
    assert sealer.log.digest() == opener.log.digest() == relay.digest()
    assert sealer.log.count == opener.log.count == relay.count == 5
    assert sealer.log.final and opener.log.final and relay.final


def test_log_digest_is_over_length_prefixed_frames() -> None:
    sealer, _ = _pair()
    frames = _answer(sealer)
    expected = hashlib.sha256(b"".join(len(f).to_bytes(4, "big") + f for f in frames)).digest()
    assert sealer.log.digest() == expected


def test_log_tells_frame_boundaries_and_order_apart() -> None:
    whole, split, swapped = FrameLog(), FrameLog(), FrameLog()
    whole.add(b"\x02abcd")
    split.add(b"\x02ab")
    split.add(b"cd")
    swapped.add(b"cd")
    swapped.add(b"\x02ab")
    assert len({whole.digest(), split.digest(), swapped.digest()}) == 3


def test_log_final_is_whether_the_last_frame_was_final() -> None:
    log = FrameLog()
    assert (log.count, log.final) == (0, False)
    log.add(bytes([FrameType.FINAL]) + b"x")
    assert log.final
    log.add(bytes([FrameType.DATA]) + b"x")
    assert not log.final
    log.add(b"")
    assert (log.count, log.final) == (3, False)


def test_partial_answer_log_is_not_final() -> None:
    """A worker that breaks after some data: its log (what a partial receipt signs) is not final."""
    sealer, opener = _pair()
    frames = [sealer.head(200, "text/event-stream"), *sealer.data(SSE_1), *sealer.error(b'{"error":{}}')]
    for frame in frames:
        opener.open(frame)
    assert not sealer.finished and not sealer.log.final
    assert opener.log.digest() == sealer.log.digest()
    assert opener.log.count == 3


@given(st.lists(st.binary(max_size=300), max_size=8), st.binary(max_size=70))
def test_any_stream_round_trips(chunks: list[bytes], trailer: bytes) -> None:
    sealer, opener = _pair()
    frames = [sealer.head(200, "text/event-stream")]
    for chunk in chunks:
        frames.extend(sealer.data(chunk))
    frames.append(sealer.final(trailer))
    opened = [opener.open(frame) for frame in frames]
    assert b"".join(f.payload for f in opened if f.kind is FrameType.DATA) == b"".join(chunks)
    assert opened[-1] == OpenedFrame(FrameType.FINAL, trailer)
    assert opener.log.digest() == sealer.log.digest()
    assert opener.log.count == len(frames) == 2 + sum(1 for chunk in chunks if chunk)

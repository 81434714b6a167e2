"""The msgpack codec: every message round-trips; malformed input raises only our DecodeError."""

from __future__ import annotations

import contextlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.errors import DecodeError
from cocoon.usage import Usage
from cocoon.wire.codec import decode_message, encode_message, encode_message_frame
from cocoon.wire.control import GetPaymentStatus, GetWorkerTypes, PaymentStatus, WorkerType, WorkerTypes
from cocoon.wire.frames import FrameDecoder
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    Cancel,
    Close,
    CloseCode,
    Hello,
    HelloAck,
    Message,
    PaymentUpdate,
    Ping,
    Pong,
    Query,
    QueryAnswer,
    QueryError,
    Role,
    RunQuery,
    Timings,
    WorkerState,
)

SAMPLES: list[Message] = [
    Hello(1, 2, Role.WORKER, "worker-7", "cocoon 0.1.0"),
    HelloAck(2, Role.PROXY, "proxy-1", "cocoon 0.1.0"),
    Ping(1),
    Pong(2**63),
    Close(CloseCode.PROTOCOL_ERROR, "AnswerChunk before AnswerHead"),
    Query(1, GetWorkerTypes()),
    Query(2, GetPaymentStatus()),
    QueryAnswer(1, WorkerTypes((WorkerType("qwen", 3, 900, 1100, 2, 12),))),
    QueryAnswer(2, PaymentStatus(10**15, 10**12, 10**9, b"\x01" * 64)),
    QueryError(3, "unsupported", "not here"),
    RunQuery(5, "Qwen/Qwen3-0.6B", b'{"messages": []}', 1500, 4096, 120_000, 1000, "/v1/completions", True),
    AnswerHead(5, 200, (("content-type", "text/event-stream"), ("x-a", "1"))),
    AnswerChunk(5, b"data: {}\n\n"),
    AnswerEnd(5, Usage(10, 2, 30, 4), Timings(5, 200, 3000), 1500, 30_000, b"receipt"),
    AnswerError(6, 504, "timeout", "worker: timeout", Usage(completion_tokens=7)),
    Cancel(6, "the app disconnected"),
    PaymentUpdate("EQowner", 10**15, 10**12, 10**9, b"sig", 5, 44),
    WorkerState(True, "qwen@rev:abc", 1000, 8, 3),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(message: Message) -> None:
    assert decode_message(encode_message(message)) == message
    assert FrameDecoder().feed(encode_message_frame(message)) == [encode_message(message)]


def test_every_message_type_is_sampled() -> None:
    members = set(Message.__args__)  # type: ignore[attr-defined]
    assert {type(m) for m in SAMPLES} == members


def test_defaults_may_be_omitted_and_extra_trailing_fields_are_ignored() -> None:
    # An older peer leaves out trailing optional fields; a newer one appends fields we do not know.
    assert decode_message(msgspec.msgpack.encode([23, 9])) == AnswerEnd(9)
    assert decode_message(msgspec.msgpack.encode([25, 9, "bye", "future field"])) == Cancel(9, "bye")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "truncated"),
        (b"\xc1", "malformed"),
        (msgspec.msgpack.encode([99, 1]), "Invalid value 99"),
        (msgspec.msgpack.encode([3, "one"]), "Expected `int`"),
        (msgspec.msgpack.encode([3, -1]), ">= 0"),
        (msgspec.msgpack.encode([22, 1, "text, not bytes"]), "Expected `bytes`"),
        (msgspec.msgpack.encode({"ping_id": 1}), "Expected `array`"),
        (msgspec.msgpack.encode([10, 1, [999]]), "Invalid value 999"),
        (msgspec.msgpack.encode([5, 42, "no such close code"]), "Invalid enum value 42"),
        # A worker's usage that cannot be is refused where it enters, not clamped later.
        (msgspec.msgpack.encode([23, 1, [1, 2, 0, 0]]), r"cached_tokens \(2\) exceeds prompt_tokens \(1\)"),
        (msgspec.msgpack.encode([24, 1, 502, "c", "m", [0, 0, 1, 3]]), r"reasoning_tokens \(3\) exceeds"),
    ],
)
def test_malformed_messages_raise_decode_error(raw: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_message(raw)


def test_usage_is_an_array_of_prompt_cached_completion_reasoning() -> None:
    # The wire layout of usage is part of the protocol: field order never changes.
    raw = encode_message(AnswerEnd(5, Usage(10, 2, 30, 4)))
    assert msgspec.msgpack.decode(raw)[:3] == [23, 5, [10, 2, 30, 4]]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_truncation_raises_decode_error(message: Message) -> None:
    raw = encode_message(message)
    for end in range(len(raw)):
        with pytest.raises(DecodeError):
            decode_message(raw[:end])


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_message(raw)


_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.text(max_size=8), st.binary(max_size=8)
)
_values = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=5), max_leaves=12)


@given(
    st.sampled_from([1, 2, 3, 5, 10, 11, 12, 20, 21, 22, 23, 24, 25, 30, 31]), st.lists(_values, max_size=10)
)
def test_plausible_arrays_decode_or_raise_decode_error(tag: int, fields: list[object]) -> None:
    # Arrays that start with a real tag reach the field validation, which random bytes rarely do.
    try:
        message = decode_message(msgspec.msgpack.encode([tag, *fields]))
    except DecodeError:
        return
    assert decode_message(encode_message(message)) == message

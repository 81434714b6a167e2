"""Every protocol violation closes the session with a reason; bad input never raises."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.wire.codec import decode_message, encode_message_frame
from cocoon.wire.control import GetWorkerTypes, WorkerTypes
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import ConnectionTerminated, Event
from cocoon.wire.frames import FrameDecoder, encode_frame
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerHead,
    Close,
    CloseCode,
    Hello,
    HelloAck,
    Message,
    Ping,
    Query,
    QueryAnswer,
    Role,
    RunQuery,
)
from cocoon.wire.session import EndpointConfig


def fresh(initiator: bool) -> RpcEndpoint:
    endpoint = RpcEndpoint(EndpointConfig(Role.PROXY, "me"), initiator=initiator, now=0.0)
    endpoint.data_to_send()
    return endpoint


def opened_client() -> RpcEndpoint:
    """An initiator after the hello exchange, with request 1 and query 1 outstanding."""
    client = fresh(initiator=True)
    client.receive_data(encode_message_frame(HelloAck(1, Role.PROXY, "p", "x")), 0.0)
    client.send_run_query(RunQuery(1, "m", b"{}", 1, 1, 1))
    client.send_query(GetWorkerTypes())
    client.data_to_send()
    return client


def opened_server() -> RpcEndpoint:
    """An acceptor after the hello exchange that serves request 1 and owes an answer to query 1."""
    server = fresh(initiator=False)
    server.receive_data(encode_message_frame(Hello(1, 1, Role.CLIENT, "c", "x")), 0.0)
    server.receive_data(frames(RunQuery(1, "m", b"{}", 1, 1, 1), Query(1, GetWorkerTypes())), 0.0)
    server.data_to_send()
    return server


def frames(*messages: Message) -> bytes:
    return b"".join(encode_message_frame(m) for m in messages)


HEAD = AnswerHead(1, 200)
CASES: list[tuple[str, Callable[[], RpcEndpoint], bytes, str]] = [
    ("oversized frame", opened_client, (2**24 + 1).to_bytes(4, "big"), "above the 16777216-byte limit"),
    ("malformed msgpack", opened_client, encode_frame(b"\xc1"), "not valid msgpack"),
    ("empty frame", opened_client, encode_frame(b""), "truncated"),
    (
        "unknown message type",
        opened_client,
        encode_frame(msgspec.msgpack.encode([77, 1])),
        "Invalid value 77",
    ),
    ("wrong field type", opened_client, encode_frame(msgspec.msgpack.encode([3, "x"])), "Expected `int`"),
    ("query before hello", lambda: fresh(False), frames(Query(1, GetWorkerTypes())), "before the hello"),
    ("chunk before hello", lambda: fresh(True), frames(AnswerChunk(1, b"")), "before the hello"),
    ("ping before hello", lambda: fresh(False), frames(Ping(1)), "before the hello"),
    ("ack to the acceptor", lambda: fresh(False), frames(HelloAck(1, Role.PROXY, "p", "x")), "where Hello"),
    (
        "hello to the initiator",
        lambda: fresh(True),
        frames(Hello(1, 1, Role.PROXY, "p", "x")),
        "where HelloAck",
    ),
    ("second hello", opened_server, frames(Hello(1, 1, Role.CLIENT, "c", "x")), "already finished"),
    ("chunk before head", opened_client, frames(AnswerChunk(1, b"x")), "AnswerChunk for request id 1 before"),
    ("end before head", opened_client, frames(AnswerEnd(1)), "AnswerEnd for request id 1 before"),
    ("second head", opened_client, frames(HEAD, HEAD), "after its AnswerHead was already sent"),
    (
        "chunk after end",
        opened_client,
        frames(HEAD, AnswerEnd(1), AnswerChunk(1, b"")),
        "unknown request id 1",
    ),
    (
        "chunk for unknown id",
        opened_client,
        frames(AnswerChunk(9, b"")),
        "AnswerChunk for unknown request id 9",
    ),
    ("answer to unknown query", opened_client, frames(QueryAnswer(5, WorkerTypes())), "unknown query id 5"),
    ("duplicate RunQuery", opened_server, frames(RunQuery(1, "m", b"", 1, 1, 1)), "reuses request id 1"),
    ("duplicate query id", opened_server, frames(Query(1, GetWorkerTypes())), "Query reuses id 1"),
]


@pytest.mark.parametrize(("make", "data", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_violation_closes_with_reason(make: Callable[[], RpcEndpoint], data: bytes, reason: str) -> None:
    endpoint = make()
    events = endpoint.receive_data(data, 1.0)
    ended = events[-1]
    assert isinstance(ended, ConnectionTerminated), events
    assert ended.local and ended.code is CloseCode.PROTOCOL_ERROR
    assert reason in ended.reason
    [payload] = FrameDecoder().feed(endpoint.data_to_send())
    assert decode_message(payload) == Close(CloseCode.PROTOCOL_ERROR, ended.reason)  # the peer learns why
    assert endpoint.terminated == ended and not endpoint.is_open
    assert endpoint.receive_data(frames(Ping(1)), 2.0) == []


def test_ack_with_a_version_we_do_not_speak() -> None:
    client = fresh(initiator=True)
    [ended] = client.receive_data(frames(HelloAck(7, Role.PROXY, "p", "x")), 0.0)
    assert isinstance(ended, ConnectionTerminated) and ended.code is CloseCode.VERSION_MISMATCH
    assert "peer chose protocol version 7" in ended.reason


def test_a_violation_after_good_frames_keeps_their_events() -> None:
    client = opened_client()
    events = client.receive_data(frames(HEAD, AnswerChunk(1, b"ok"), AnswerChunk(2, b"bad")), 1.0)
    assert events[:2] == [HEAD, AnswerChunk(1, b"ok")]
    assert isinstance(events[2], ConnectionTerminated) and len(events) == 3


_valid = st.sampled_from(
    [frames(HEAD), frames(AnswerChunk(1, b"c")), frames(AnswerEnd(1)), frames(Ping(3)), frames(HEAD)[:3]]
)


@given(st.lists(st.one_of(st.binary(max_size=40), _valid), max_size=12))
def test_random_input_never_raises(chunks: list[bytes]) -> None:
    for make in (opened_client, opened_server, lambda: fresh(False)):
        endpoint = make()
        events: list[Event] = []
        for i, chunk in enumerate(chunks):
            events += endpoint.receive_data(chunk, float(i))
        ends = [e for e in events if isinstance(e, ConnectionTerminated)]
        assert len(ends) <= 1
        if ends:
            assert events[-1] is ends[0]  # nothing is reported after the end
            assert endpoint.terminated is ends[0]

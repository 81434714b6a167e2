"""The per-request answer rules: the full (state, part) table, cancel tombstones and a random walk."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import Event
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart, Role, RunQuery
from cocoon.wire.session import EndpointConfig
from cocoon.wire.streams import StreamState, StreamTable

PARTS: dict[str, AnswerPart] = {
    "head": AnswerHead(1, 200),
    "chunk": AnswerChunk(1, b"x"),
    "end": AnswerEnd(1),
    "error": AnswerError(1, 500, "e", "m"),
}


def table_in(state: StreamState) -> StreamTable:
    table = StreamTable()
    if state is not StreamState.DONE:
        assert table.open(1) is None
    if state is StreamState.HEADED:
        assert table.advance(PARTS["head"]) == (True, None)
    if state is StreamState.CANCELLED:
        assert table.cancel(1)
    return table


# (state, part) -> (delivered, state after) or None for a violation.
EXPECTED: dict[tuple[StreamState, str], tuple[bool, StreamState] | None] = {
    (StreamState.OPEN, "head"): (True, StreamState.HEADED),
    (StreamState.OPEN, "chunk"): None,
    (StreamState.OPEN, "end"): None,
    (StreamState.OPEN, "error"): (True, StreamState.DONE),
    (StreamState.HEADED, "head"): None,
    (StreamState.HEADED, "chunk"): (True, StreamState.HEADED),
    (StreamState.HEADED, "end"): (True, StreamState.DONE),
    (StreamState.HEADED, "error"): (True, StreamState.DONE),
    (StreamState.CANCELLED, "head"): (False, StreamState.CANCELLED),
    (StreamState.CANCELLED, "chunk"): (False, StreamState.CANCELLED),
    (StreamState.CANCELLED, "end"): (True, StreamState.DONE),
    (StreamState.CANCELLED, "error"): (True, StreamState.DONE),
    (StreamState.DONE, "head"): None,
    (StreamState.DONE, "chunk"): None,
    (StreamState.DONE, "end"): None,
    (StreamState.DONE, "error"): None,
}


@pytest.mark.parametrize(("state", "part"), list(EXPECTED), ids=lambda v: getattr(v, "name", v))
def test_transition_table(state: StreamState, part: str) -> None:
    table = table_in(state)
    deliver, violation = table.advance(PARTS[part])
    expected = EXPECTED[(state, part)]
    if expected is None:
        assert violation is not None and not deliver
        assert table.state(1) is state  # a refused part changes nothing
    else:
        assert violation is None and (deliver, table.state(1)) == expected


def test_cancelled_streams_are_bounded() -> None:
    table = StreamTable(max_cancelled=2)
    for request_id in (1, 2, 3):
        table.open(request_id)
        table.cancel(request_id)
    assert table.active_ids() == [2, 3]  # the oldest tombstone was evicted
    assert table.advance(AnswerChunk(1, b"late"))[1] == "AnswerChunk for unknown request id 1"


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2)), max_size=60))
def test_random_interleavings_deliver_each_stream_intact(steps: list[tuple[int, int]]) -> None:
    """Legal moves on up to four requests, in a random order: each arrives complete and in order."""
    client = RpcEndpoint(EndpointConfig(Role.CLIENT, "c"), initiator=True, now=0.0)
    proxy = RpcEndpoint(EndpointConfig(Role.PROXY, "p"), initiator=False, now=0.0)
    proxy.receive_data(client.data_to_send(), 0.0)
    client.receive_data(proxy.data_to_send(), 0.0)
    sent: dict[int, list[AnswerPart]] = {}
    received: list[Event] = []
    for request_id, move in steps:
        if request_id not in sent:
            client.send_run_query(RunQuery(request_id, "m", b"", 0, 0, 0))
            proxy.receive_data(client.data_to_send(), 0.0)
            sent[request_id] = []
        history = sent[request_id]
        if history and isinstance(history[-1], (AnswerEnd, AnswerError)):
            continue
        part: AnswerPart
        if not history:
            part = AnswerHead(request_id, 200) if move else AnswerError(request_id, 503, "busy", "no worker")
        elif move == 2:
            part = AnswerEnd(request_id)
        else:
            part = AnswerChunk(request_id, b"%d" % len(history))
        assert proxy.send_part(part)
        history.append(part)
        if move == 1:  # deliver now and then, so frames arrive in varied batches
            received += client.receive_data(proxy.data_to_send(), 0.0)
    received += client.receive_data(proxy.data_to_send(), 0.0)
    for request_id, history in sent.items():
        assert [e for e in received if getattr(e, "request_id", None) == request_id] == history
    finished = {rid for rid, h in sent.items() if h and isinstance(h[-1], (AnswerEnd, AnswerError))}
    assert set(client.active_requests()) == set(sent) - finished
    assert client.is_open and proxy.is_open

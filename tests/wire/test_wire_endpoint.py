"""RpcEndpoint pairs joined in memory: handshake, queries, interleaved streams, cancel, close."""

from __future__ import annotations

import pytest

from cocoon.errors import ConnectionClosedError, LocalProtocolError
from cocoon.usage import Usage
from cocoon.wire.control import GetPaymentStatus, GetWorkerTypes, PaymentStatus, WorkerTypes
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import ConnectionTerminated, Event, HandshakeCompleted
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    Cancel,
    CloseCode,
    PaymentUpdate,
    Query,
    QueryAnswer,
    QueryError,
    Role,
    RunQuery,
    WorkerState,
)
from cocoon.wire.session import EndpointConfig


def run_query(request_id: int) -> RunQuery:
    return RunQuery(request_id, "m", b"{}", max_coefficient=1000, max_tokens=64, timeout_ms=1000)


class Pair:
    """A client (initiator) and a proxy endpoint; `deliver` moves queued bytes across."""

    def __init__(self, client: EndpointConfig | None = None, proxy: EndpointConfig | None = None) -> None:
        self.now = 0.0
        self.client = RpcEndpoint(client or EndpointConfig(Role.CLIENT, "c"), initiator=True, now=0.0)
        self.proxy = RpcEndpoint(proxy or EndpointConfig(Role.PROXY, "p"), initiator=False, now=0.0)

    def to_proxy(self) -> list[Event]:
        return self.proxy.receive_data(self.client.data_to_send(), self.now)

    def to_client(self) -> list[Event]:
        return self.client.receive_data(self.proxy.data_to_send(), self.now)

    def open(self) -> Pair:
        assert isinstance(self.to_proxy()[0], HandshakeCompleted)
        assert isinstance(self.to_client()[0], HandshakeCompleted)
        return self


def test_handshake_negotiates_highest_common_version_and_identities() -> None:
    pair = Pair(
        EndpointConfig(Role.WORKER, "w-1", "cocoon 0.2", min_version=1, max_version=3),
        EndpointConfig(Role.PROXY, "p-1", "cocoon 0.1", min_version=2, max_version=2),
    )
    assert not pair.client.is_open
    [seen_by_proxy] = pair.to_proxy()
    [seen_by_client] = pair.to_client()
    assert seen_by_proxy == HandshakeCompleted(2, Role.WORKER, "w-1", "cocoon 0.2")
    assert seen_by_client == HandshakeCompleted(2, Role.PROXY, "p-1", "cocoon 0.1")
    assert pair.client.version == pair.proxy.version == 2 and pair.client.is_open


def test_no_common_version_closes_with_version_mismatch() -> None:
    pair = Pair(EndpointConfig(Role.CLIENT, "c", min_version=3, max_version=4), None)
    [ended] = pair.to_proxy()
    assert isinstance(ended, ConnectionTerminated) and ended.code is CloseCode.VERSION_MISMATCH
    assert ended.local and "we speak 1..1, the peer 3..4" in ended.reason
    [remote] = pair.to_client()
    assert remote == ConnectionTerminated(ended.reason, local=False, code=CloseCode.VERSION_MISMATCH)


@pytest.mark.parametrize("refusing_side", ["acceptor", "initiator"])
def test_unaccepted_peer_role_is_refused(refusing_side: str) -> None:
    workers_only = EndpointConfig(Role.PROXY, "p", accept_roles=frozenset({Role.WORKER}))
    proxies_only = EndpointConfig(Role.CLIENT, "c", accept_roles=frozenset({Role.PROXY, Role.WORKER}))
    if refusing_side == "acceptor":
        pair = Pair(EndpointConfig(Role.CLIENT, "c"), workers_only)
        [ended] = pair.to_proxy()
        expected = "this endpoint accepts worker peers, not a client"
    else:
        pair = Pair(proxies_only, EndpointConfig(Role.CLIENT, "another client"))
        pair.to_proxy()
        [ended] = pair.to_client()
        expected = "this endpoint accepts proxy, worker peers, not a client"
    assert isinstance(ended, ConnectionTerminated) and ended.code is CloseCode.REFUSED
    assert ended.local and expected in ended.reason


def test_sending_before_the_handshake_is_refused() -> None:
    pair = Pair()
    with pytest.raises(LocalProtocolError, match="hello exchange has not finished"):
        pair.client.send_query(GetWorkerTypes())


def test_queries_in_both_directions() -> None:
    pair = Pair().open()
    first = pair.client.send_query(GetWorkerTypes())
    second = pair.client.send_query(GetPaymentStatus())
    assert pair.to_proxy() == [Query(first, GetWorkerTypes()), Query(second, GetPaymentStatus())]
    pair.proxy.send_query_error(second, "no_channel", "no payment channel yet")  # answers out of order
    pair.proxy.send_answer(first, WorkerTypes())
    assert pair.to_client() == [
        QueryError(second, "no_channel", "no payment channel yet"),
        QueryAnswer(first, WorkerTypes()),
    ]
    back = pair.proxy.send_query(GetPaymentStatus())
    [query] = pair.to_client()
    assert query == Query(back, GetPaymentStatus())
    pair.client.send_answer(back, PaymentStatus(100, 10, 1))
    assert pair.to_proxy() == [QueryAnswer(back, PaymentStatus(100, 10, 1))]
    with pytest.raises(LocalProtocolError, match="unknown or already answered"):
        pair.client.send_answer(back, PaymentStatus(100, 10, 1))


@pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
def test_interleaved_streams(reverse: bool) -> None:
    pair = Pair().open()
    ids = [3, 1, 7]
    for rid in ids:
        pair.client.send_run_query(run_query(rid))
    assert [e.request_id for e in pair.to_proxy() if isinstance(e, RunQuery)] == ids
    order = list(reversed(ids)) if reverse else ids
    for rid in order:
        assert pair.proxy.send_head(rid, 200)
    for i in range(3):
        for rid in order:
            assert pair.proxy.send_chunk(rid, b"%d-%d" % (rid, i))
    for rid in order:
        assert pair.proxy.send_end(rid, Usage(completion_tokens=rid))
    events = pair.to_client()
    for rid in ids:
        mine = [e for e in events if getattr(e, "request_id", None) == rid]
        assert [type(e) for e in mine] == [AnswerHead, AnswerChunk, AnswerChunk, AnswerChunk, AnswerEnd]
        assert [e.data for e in mine if isinstance(e, AnswerChunk)] == [b"%d-%d" % (rid, i) for i in range(3)]
    assert pair.client.active_requests() == [] and pair.proxy.serving_requests() == []


def test_cancel_then_leftovers_are_dropped_and_the_final_usage_arrives() -> None:
    pair = Pair().open()
    pair.client.send_run_query(run_query(1))
    pair.to_proxy()
    pair.proxy.send_head(1, 200)
    pair.proxy.send_chunk(1, b"in flight")
    assert pair.client.cancel(1, "app disconnected")
    assert not pair.client.cancel(1, "again")
    # The proxy's head and chunk cross the Cancel on the wire: dropped silently, no protocol error.
    assert pair.to_client() == []
    assert pair.to_proxy() == [Cancel(1, "app disconnected")]
    assert not pair.proxy.send_chunk(1, b"after cancel")  # dropped locally
    assert pair.proxy.send_end(1, Usage(completion_tokens=2))  # the final usage still goes out
    [end] = pair.to_client()
    assert isinstance(end, AnswerEnd) and end.usage.completion_tokens == 2
    assert pair.client.active_requests() == [] and pair.client.is_open


def test_cancel_crossing_the_end_is_ignored() -> None:
    pair = Pair().open()
    pair.client.send_run_query(run_query(1))
    pair.to_proxy()
    pair.proxy.send_answer_error(1, 503, "no_worker", "no worker for model m")
    pair.client.cancel(1, "timeout")  # sent before the error arrived
    assert pair.to_proxy() == []  # the proxy already forgot request 1
    [error] = pair.to_client()
    assert isinstance(error, AnswerError) and error.code == "no_worker"
    assert pair.proxy.is_open and pair.client.is_open


def test_local_stream_misuse_raises() -> None:
    pair = Pair().open()
    pair.client.send_run_query(run_query(1))
    with pytest.raises(LocalProtocolError, match="reuses request id 1"):
        pair.client.send_run_query(run_query(1))
    pair.to_proxy()
    with pytest.raises(LocalProtocolError, match="before its AnswerHead"):
        pair.proxy.send_chunk(1, b"x")
    with pytest.raises(LocalProtocolError, match="unknown request id 2"):
        pair.proxy.send_head(2, 200)


def test_payment_and_worker_state_pass_through() -> None:
    pair = Pair().open()
    update = PaymentUpdate("EQc", 1000, 10, 5, b"sig", 4, 17)
    state = WorkerState(False, "m", 1000, 4, 0)
    pair.proxy.send_payment_update(update)
    pair.client.send_worker_state(state)
    assert pair.to_client() == [update]
    assert pair.to_proxy() == [state]


def test_close_is_reported_to_both_sides_and_blocks_sending() -> None:
    pair = Pair().open()
    [mine] = pair.client.close("shutting down", CloseCode.GOING_AWAY)
    assert mine == ConnectionTerminated("shutting down", local=True, code=CloseCode.GOING_AWAY)
    assert pair.client.close("again") == []
    [theirs] = pair.to_proxy()
    assert theirs == ConnectionTerminated("shutting down", local=False, code=CloseCode.GOING_AWAY)
    with pytest.raises(ConnectionClosedError, match="shutting down"):
        pair.proxy.send_query(GetWorkerTypes())
    assert pair.proxy.receive_data(b"garbage", 1.0) == []  # a closed endpoint ignores input
    assert pair.proxy.next_deadline() is None


def test_eof_without_close_is_abnormal() -> None:
    pair = Pair().open()
    [ended] = pair.client.receive_eof()
    assert ended.code is CloseCode.ABNORMAL and not ended.local
    assert pair.client.receive_eof() == []

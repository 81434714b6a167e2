"""RpcConnection over PlainStream on 127.0.0.1 (port 0) and over the in-memory stream pair:
queries, interleaved streams, cancel, slow-reader overflow, peer loss, keepalive, clean close."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from cocoon.errors import (
    ConnectionClosedError,
    InsufficientFundsError,
    PeerClosedError,
    RemoteQueryError,
    RequestCancelledError,
    RpcTimeoutError,
)
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.net.stream import ByteStream, PlainStream, memory_stream_pair
from cocoon.usage import Usage
from cocoon.wire.codec import decode_message, encode_message_frame
from cocoon.wire.control import ControlBody, GetPaymentStatus, GetWorkerTypes, WorkerType, WorkerTypes
from cocoon.wire.frames import FrameDecoder
from cocoon.wire.messages import (
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    Close,
    CloseCode,
    HelloAck,
    PaymentUpdate,
    Role,
    RunQuery,
    WorkerState,
)
from cocoon.wire.session import EndpointConfig
from waiting import wait_until

WAIT = 5.0  # every network wait in these tests is bounded by this


@asynccontextmanager
async def plain_streams() -> AsyncIterator[tuple[PlainStream, PlainStream]]:
    """A connected (client, server) pair of PlainStreams over loopback TCP."""
    accepted: asyncio.Queue[PlainStream] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(PlainStream(reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    client = PlainStream(reader, writer)
    served = await asyncio.wait_for(accepted.get(), WAIT)
    try:
        yield client, served
    finally:
        await client.aclose()
        await served.aclose()
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def memory_streams(limit: int = 64 * 1024) -> AsyncIterator[tuple[ByteStream, ByteStream]]:
    """A connected (client, server) pair of in-memory streams buffering up to `limit` bytes."""
    client, server = memory_stream_pair(limit)
    try:
        yield client, server
    finally:
        await client.aclose()
        await server.aclose()


TRANSPORTS: dict[str, Callable[[], AbstractAsyncContextManager[tuple[ByteStream, ByteStream]]]] = {
    "plain": plain_streams,
    "memory": memory_streams,
    # A deep pipe: the sender can queue megabytes before the receiving side gets to run.
    "memory-deep": lambda: memory_streams(8 << 20),
}


@pytest.fixture(params=["memory", "plain"])
def transport(request: pytest.FixtureRequest) -> str:
    """Runs a test over each transport."""
    return str(request.param)


@asynccontextmanager
async def rpc_pair(
    server_handlers: Handlers | None = None,
    client_handlers: Handlers | None = None,
    *,
    stream_buffer: int = 1 << 20,
    ping_interval: float = 10.0,
    transport: str = "plain",
) -> AsyncIterator[tuple[RpcConnection, RpcConnection, ByteStream]]:
    """(client, server, server's raw stream) with the hello exchange done."""
    streams = TRANSPORTS[transport]()
    async with streams as (client_stream, server_stream):
        cfg_client = EndpointConfig(Role.CLIENT, "client-1", ping_interval=ping_interval)
        cfg_server = EndpointConfig(Role.PROXY, "proxy-1", ping_interval=ping_interval)
        opening = asyncio.ensure_future(
            RpcConnection.open(
                client_stream,
                cfg_client,
                initiator=True,
                handlers=client_handlers,
                stream_buffer=stream_buffer,
            )
        )
        server = await RpcConnection.open(
            server_stream, cfg_server, initiator=False, handlers=server_handlers
        )
        client = await asyncio.wait_for(opening, WAIT)
        try:
            yield client, server, server_stream
        finally:
            await asyncio.wait_for(client.aclose("test over"), WAIT)
            await asyncio.wait_for(server.aclose("test over"), WAIT)


def request(request_id: int, body: bytes = b"{}") -> RunQuery:
    """A RunQuery with plausible limits."""
    return RunQuery(request_id, "m", body, max_coefficient=1000, max_tokens=100, timeout_ms=5000)


async def worker_types(body: ControlBody) -> ControlBody:
    if isinstance(body, GetWorkerTypes):
        return WorkerTypes((WorkerType("qwen", workers=2, coefficient_min=900, coefficient_max=1100),))
    raise RemoteQueryError(f"{type(body).__name__} is not served here", "unsupported_query")


async def test_handshake_reports_peer_identity() -> None:
    async with rpc_pair() as (client, server, _):
        assert client.peer is not None and client.peer.role is Role.PROXY
        assert server.peer is not None and server.peer.node_id == "client-1"


async def test_query_answer(transport: str) -> None:
    async with rpc_pair(Handlers(on_query=worker_types), transport=transport) as (client, _, _):
        answer = await client.query(GetWorkerTypes(), timeout=WAIT)
        assert isinstance(answer, WorkerTypes)
        assert answer.types[0].model == "qwen" and answer.types[0].workers == 2


async def test_query_error_raises_remote_query_error_with_code() -> None:
    async with rpc_pair(Handlers(on_query=worker_types)) as (client, server, _):
        with pytest.raises(RemoteQueryError) as info:
            await client.query(GetPaymentStatus(), timeout=WAIT)
        assert info.value.code == "unsupported_query"
        assert "GetPaymentStatus is not served here" in str(info.value)
        # The side without a handler refuses with "unsupported".
        with pytest.raises(RemoteQueryError) as info:
            await server.query(GetWorkerTypes(), timeout=WAIT)
        assert info.value.code == "unsupported"


async def test_query_handler_failures_are_mapped_to_codes(caplog: pytest.LogCaptureFixture) -> None:
    async def failing(body: ControlBody) -> ControlBody:
        if isinstance(body, GetWorkerTypes):
            raise InsufficientFundsError("balance 5 is below the reservation 9; top up the client contract")
        raise RuntimeError("bug")

    async with rpc_pair(Handlers(on_query=failing)) as (client, _, _):
        with pytest.raises(RemoteQueryError, match="top up the client contract") as info:
            await client.query(GetWorkerTypes(), timeout=WAIT)
        assert info.value.code == "error"
        with pytest.raises(RemoteQueryError, match="see its log") as info:
            await client.query(GetPaymentStatus(), timeout=WAIT)
        assert info.value.code == "internal"
        assert "bug" not in str(info.value)  # internals stay on the serving side
    assert any("control query handler failed" in r.getMessage() for r in caplog.records)


async def test_query_timeout() -> None:
    async def never(body: ControlBody) -> ControlBody:
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    async with rpc_pair(Handlers(on_query=never)) as (client, _, _):
        with pytest.raises(RpcTimeoutError, match="no answer to GetWorkerTypes"):
            await client.query(GetWorkerTypes(), timeout=0.1)


async def test_twenty_interleaved_streams(transport: str) -> None:
    order: list[int] = []

    async def serve(req: RunQuery, responder: Responder) -> None:
        await responder.head(200, (("content-type", "text/event-stream"),))
        for i in range(10):
            order.append(req.request_id)
            await responder.chunk(b"%d:%d;" % (req.request_id, i))
            await asyncio.sleep(0)  # a handler that yields between chunks: the behaviour under test
        await responder.end(Usage(prompt_tokens=req.request_id, completion_tokens=10))

    async with rpc_pair(Handlers(on_run_query=serve), transport=transport) as (client, _, _):
        streams = [await client.run_query(request(rid)) for rid in range(1, 21)]
        answers = await asyncio.wait_for(asyncio.gather(*(s.collect() for s in streams)), WAIT)
    for rid, answer in enumerate(answers, start=1):
        assert answer.head is not None and answer.head.status == 200
        assert answer.body == b"".join(b"%d:%d;" % (rid, i) for i in range(10))
        assert isinstance(answer.final, AnswerEnd) and answer.final.usage.prompt_tokens == rid
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > 20, "the streams were served one after another, not interleaved"


async def test_cancel_reaches_server_handler(transport: str) -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def serve(req: RunQuery, responder: Responder) -> None:
        await responder.head(200)
        started.set()
        try:
            await asyncio.Event().wait()  # busy until cancelled
        except asyncio.CancelledError:
            assert responder.cancelled.is_set() and "app went away" in responder.cancel_reason
            cancelled.set()
            await responder.end(Usage(completion_tokens=3))  # report usage after the cancel
            raise

    async with rpc_pair(Handlers(on_run_query=serve), transport=transport) as (client, server, _):
        stream = await client.run_query(request(7))
        assert isinstance(await asyncio.wait_for(anext(stream), WAIT), AnswerHead)
        await asyncio.wait_for(started.wait(), WAIT)
        assert stream.cancel("app went away")
        await asyncio.wait_for(cancelled.wait(), WAIT)
        with pytest.raises(RequestCancelledError, match="app went away"):
            await asyncio.wait_for(anext(stream), WAIT)
        assert not stream.cancel("twice")
        # The connection is still healthy for other work.
        with pytest.raises(RemoteQueryError):
            await client.query(GetWorkerTypes(), timeout=WAIT)
        assert server.active_streams == 0


async def test_cancel_arriving_with_the_request_still_cleans_up() -> None:
    started: list[int] = []

    async def serve(req: RunQuery, responder: Responder) -> None:
        started.append(req.request_id)
        await responder.head(200)

    async with rpc_pair(Handlers(on_run_query=serve)) as (client, server, _):
        stream = await client.run_query(request(5))
        stream.cancel("changed my mind")  # same loop iteration: both frames arrive in one read
        await wait_until(lambda: server.active_streams == 0, WAIT)
        assert server.active_streams == 0 and started == []
        assert client.terminated is None and server.terminated is None


async def test_slow_reader_overflow_cancels_only_its_request(transport: str) -> None:
    handler_saw_cancel = asyncio.Event()

    async def serve(req: RunQuery, responder: Responder) -> None:
        await responder.head(200)
        count = 200 if req.body == b"flood" else 5
        try:
            for i in range(count):
                await responder.chunk(b"x%d" % i)
                await asyncio.sleep(0)  # yields between chunks as a real engine does: not synchronisation
        except asyncio.CancelledError:
            handler_saw_cancel.set()
            raise
        await responder.end()

    async with rpc_pair(
        Handlers(on_run_query=serve, on_query=worker_types), stream_buffer=1024, transport=transport
    ) as conns:
        client, _, _ = conns
        flood = await client.run_query(request(1, b"flood"))
        calm = await client.run_query(request(2, b"calm"))
        calm_answer = await asyncio.wait_for(calm.collect(), WAIT)  # never touches `flood`
        assert calm_answer.body == b"x0x1x2x3x4" and isinstance(calm_answer.final, AnswerEnd)
        await asyncio.wait_for(handler_saw_cancel.wait(), WAIT)
        parts = []
        with pytest.raises(RequestCancelledError, match="reader too slow"):
            async for part in flood:
                parts.append(part)
        assert 1 <= len(parts) <= 1024 // 64  # what was buffered is still delivered, then the error
        answer = await client.query(GetWorkerTypes(), timeout=WAIT)  # the shared connection lives on
        assert isinstance(answer, WorkerTypes)


@pytest.mark.parametrize("pipe", ["plain", "memory-deep"])
async def test_a_reader_that_keeps_up_is_never_cancelled_by_bursts(pipe: str) -> None:
    async def burst(req: RunQuery, responder: Responder) -> None:
        await responder.head(200)
        for _ in range(3000):  # far more than the buffer, sent as fast as the connection takes it
            await responder.chunk(b"y" * 100)
        await responder.end()

    async with rpc_pair(Handlers(on_run_query=burst), stream_buffer=256 * 1024, transport=pipe) as conns:
        answer = await asyncio.wait_for((await conns[0].run_query(request(1))).collect(), WAIT)
    assert len(answer.body) == 300_000 and isinstance(answer.final, AnswerEnd)


async def test_handler_failures_become_answer_errors() -> None:
    async def serve(req: RunQuery, responder: Responder) -> None:
        if req.request_id == 1:
            raise RuntimeError("boom")
        await responder.head(200)  # returns without ending the stream

    async with rpc_pair(Handlers(on_run_query=serve)) as (client, _, _):
        first = await (await client.run_query(request(1))).collect()
        second = await (await client.run_query(request(2))).collect()
    assert isinstance(first.final, AnswerError) and first.final.status == 500
    assert first.final.code == "internal"
    assert isinstance(second.final, AnswerError) and second.final.code == "unfinished"
    assert second.head is not None


async def test_no_inference_handler_answers_501() -> None:
    async with rpc_pair() as (client, _, _):
        answer = await asyncio.wait_for((await client.run_query(request(1))).collect(), WAIT)
    assert isinstance(answer.final, AnswerError) and answer.final.status == 501


async def test_peer_disappearing_fails_pending_work_promptly(transport: str) -> None:
    query_arrived, stream_arrived = asyncio.Event(), asyncio.Event()

    async def stall(body: ControlBody) -> ControlBody:
        query_arrived.set()
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")

    async def stall_stream(req: RunQuery, responder: Responder) -> None:
        await responder.head(200)
        stream_arrived.set()
        await asyncio.Event().wait()  # never ends the stream

    handlers = Handlers(on_query=stall, on_run_query=stall_stream)
    async with rpc_pair(handlers, transport=transport) as (client, _, server_stream):
        stream = await client.run_query(request(3))
        pending = asyncio.ensure_future(client.query(GetWorkerTypes(), timeout=30))
        async with asyncio.timeout(WAIT):  # both requests are with the server: both are pending
            await query_arrived.wait()
            await stream_arrived.wait()
        await server_stream.aclose()  # the peer vanishes without a Close
        with pytest.raises(ConnectionClosedError, match="without a Close") as vanished:
            await asyncio.wait_for(pending, 1.0)
        assert not isinstance(vanished.value, PeerClosedError)  # no reason came from the peer
        with pytest.raises(ConnectionClosedError):
            async with asyncio.timeout(1.0):
                async for _ in stream:
                    pass
        ended = await asyncio.wait_for(client.wait_closed(), 1.0)
        assert ended.code is CloseCode.ABNORMAL and not ended.local
        with pytest.raises(ConnectionClosedError):
            await client.query(GetWorkerTypes(), timeout=1)


async def test_silent_peer_is_declared_dead_by_keepalive() -> None:
    async with plain_streams() as (client_stream, server_stream):
        config = EndpointConfig(Role.CLIENT, "c", ping_interval=0.05, silence_timeout=0.2)
        opening = asyncio.ensure_future(RpcConnection.open(client_stream, config, initiator=True))
        await asyncio.wait_for(server_stream.read(), WAIT)  # the Hello; answer it, then go silent
        server_stream.write(encode_message_frame(HelloAck(1, Role.PROXY, "mute", "x")))
        client = await asyncio.wait_for(opening, WAIT)
        with pytest.raises(ConnectionClosedError, match="no data from the peer"):
            await client.query(GetWorkerTypes(), timeout=WAIT)
        ended = client.terminated
        assert ended is not None and ended.code is CloseCode.KEEPALIVE_TIMEOUT


async def test_protocol_violation_sends_close_with_reason_then_closes() -> None:
    async with plain_streams() as (client_stream, server_stream):
        config = EndpointConfig(Role.CLIENT, "c")
        opening = asyncio.ensure_future(RpcConnection.open(client_stream, config, initiator=True))
        await asyncio.wait_for(server_stream.read(), WAIT)  # the Hello
        server_stream.write(encode_message_frame(HelloAck(1, Role.PROXY, "rogue", "x")))
        client = await asyncio.wait_for(opening, WAIT)
        server_stream.write(encode_message_frame(AnswerChunk(77, b"never asked for")))
        received = b""
        async with asyncio.timeout(WAIT):
            while chunk := await server_stream.read():
                received += chunk  # until the client closes its side
        [payload] = FrameDecoder().feed(received)
        close = decode_message(payload)
        assert isinstance(close, Close) and close.code is CloseCode.PROTOCOL_ERROR
        assert "AnswerChunk for unknown request id 77" in close.reason
        ended = client.terminated
        assert ended is not None and ended.local and ended.reason == close.reason


async def test_clean_close_reaches_peer_with_reason(transport: str) -> None:
    async with rpc_pair(transport=transport) as (client, server, _):
        await client.aclose("maintenance", CloseCode.GOING_AWAY)
        ended = await asyncio.wait_for(server.wait_closed(), WAIT)
        assert ended.reason == "maintenance" and ended.code is CloseCode.GOING_AWAY and not ended.local
        mine = client.terminated
        assert mine is not None and mine.local
        await client.aclose("again")  # idempotent


async def test_a_close_from_the_peer_fails_pending_work_with_its_reason() -> None:
    arrived = asyncio.Event()

    async def stall(body: ControlBody) -> ControlBody:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with rpc_pair(Handlers(on_query=stall)) as (client, server, _):
        pending = asyncio.ensure_future(client.query(GetWorkerTypes(), timeout=30))
        await asyncio.wait_for(arrived.wait(), WAIT)
        await server.aclose("maintenance", CloseCode.GOING_AWAY)
        with pytest.raises(PeerClosedError, match="closed by the peer: maintenance"):
            await asyncio.wait_for(pending, WAIT)


async def test_async_with_closes_the_connection() -> None:
    async with rpc_pair() as (client, server, _):
        async with client:
            pass
        ended = await asyncio.wait_for(server.wait_closed(), WAIT)
        assert ended.reason == "closing" and not ended.local


async def test_payment_and_worker_state_callbacks() -> None:
    payments: list[PaymentUpdate] = []
    states: list[WorkerState] = []
    got_both = asyncio.Event()

    def on_payment(update: PaymentUpdate) -> None:
        payments.append(update)

    def on_state(state: WorkerState) -> None:
        states.append(state)
        got_both.set()

    update = PaymentUpdate("EQclient", tokens_max=10**12, committed_to_db=5, committed_to_chain=2)
    state = WorkerState(enabled=True, model="qwen", coefficient=1000, max_active=4, active=1)
    async with rpc_pair(Handlers(on_payment=on_payment, on_worker_state=on_state)) as (client, _, _):
        await client.send_payment_update(update)
        await client.send_worker_state(state)
        await asyncio.wait_for(got_both.wait(), WAIT)
    assert payments == [update] and states == [state]


async def test_keepalive_pings_measure_rtt(transport: str) -> None:
    async with rpc_pair(ping_interval=0.05, transport=transport) as (client, server, _):
        # idle: whichever side's timer fires first pings, the other answers
        await wait_until(lambda: client.rtt is not None or server.rtt is not None, WAIT)
        rtts = [rtt for rtt in (client.rtt, server.rtt) if rtt is not None]
        assert rtts and all(0 <= rtt < 1 for rtt in rtts)
        assert server.terminated is None and client.terminated is None


async def test_version_mismatch_refuses_connection() -> None:
    async with plain_streams() as (client_stream, server_stream):
        new = EndpointConfig(Role.CLIENT, "c", min_version=5, max_version=6)
        old = EndpointConfig(Role.PROXY, "p")
        opening = asyncio.ensure_future(RpcConnection.open(client_stream, new, initiator=True))
        with pytest.raises(ConnectionClosedError, match="no common protocol version"):
            await RpcConnection.open(server_stream, old, initiator=False, handshake_timeout=WAIT)
        with pytest.raises(PeerClosedError, match="no common protocol version"):
            await asyncio.wait_for(opening, WAIT)  # the proxy refused us with a Close and its reason


async def test_parts_of_a_finished_stream_are_typed() -> None:
    async def serve(req: RunQuery, responder: Responder) -> None:
        await responder.head(201, (("x-a", "1"),))
        await responder.chunk(b"abc")
        await responder.end(adjusted_tokens=7, cost=42, receipt=b"sig")

    async with rpc_pair(Handlers(on_run_query=serve)) as (client, _, _):
        stream = await client.run_query(request(9))
        async with stream:
            parts = [part async for part in stream]
    assert [type(p) for p in parts] == [AnswerHead, AnswerChunk, AnswerEnd]
    final = parts[-1]
    assert isinstance(final, AnswerEnd) and final.receipt == b"sig"
    assert (final.adjusted_tokens, final.cost) == (7, 42)

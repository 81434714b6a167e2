"""`RpcConnection`: drives a sans-IO `RpcEndpoint` over a `ByteStream` with asyncio.

The byte and timer plumbing lives in `cocoon.net.rpc_driver`, the requesting side (our queries and
the answers we read) in `cocoon.net.rpc_request`, the serving side (our handlers) in
`cocoon.net.rpc_serve`, the two ends of an answer stream in `cocoon.net.rpc_stream`. This module
ties them into one object: awaitable control queries, inference streams with a bounded per-request
buffer (a reader that falls behind cancels only its own request, never the shared connection),
one-way state messages, keepalive round-trip times and a clean close.

Typical use::

    conn = await RpcConnection.open(stream, EndpointConfig(Role.CLIENT, "me"), initiator=True)
    types = await conn.query(GetWorkerTypes(), timeout=5)
    async with await conn.run_query(request) as answer:
        async for part in answer:
            ...
    await conn.aclose("done")
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ConnectionClosedError, PeerClosedError, RpcTimeoutError
from cocoon.net.rpc_driver import EndpointDriver
from cocoon.net.rpc_request import Requesting
from cocoon.net.rpc_serve import Handlers, QueryHandler, RunQueryHandler, Serving
from cocoon.net.rpc_stream import Answer, Responder, RpcAnswerStream
from cocoon.net.stream import ByteStream
from cocoon.wire.control import ControlBody
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.events import ConnectionTerminated, Event, HandshakeCompleted, PongReceived
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
    RunQuery,
    WorkerState,
)
from cocoon.wire.session import EndpointConfig

__all__ = [
    "DEFAULT_STREAM_BUFFER",
    "Answer",
    "Handlers",
    "QueryHandler",
    "Responder",
    "RpcAnswerStream",
    "RpcConnection",
    "RunQueryHandler",
]

log = logging.getLogger(__name__)

DEFAULT_STREAM_BUFFER = 1 << 20
"""Unread bytes one answer stream may buffer before its request is cancelled (see `RpcAnswerStream`).

Payload bytes plus 64 per part are counted. One 64 KiB read can carry about 100 KiB of accounted
small parts, so keep the limit well above that (a few hundred KiB at least)."""
_CLOSE_FLUSH_TIMEOUT = 2.0


class RpcConnection:
    """One multiplexed RPC session over a byte stream (see the module docstring).

    Construction starts reading at once (inside a running event loop); prefer `open`, which also
    waits for the hello exchange. `stream_buffer` bounds each answer stream we read (see
    `DEFAULT_STREAM_BUFFER`). ``async with conn:`` closes it on exit.
    """

    def __init__(
        self,
        stream: ByteStream,
        endpoint: RpcEndpoint,
        handlers: Handlers | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        stream_buffer: int = DEFAULT_STREAM_BUFFER,
    ) -> None:
        self._endpoint = endpoint
        self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Future[HandshakeCompleted] = self._loop.create_future()
        self._closed: asyncio.Future[ConnectionTerminated] = self._loop.create_future()
        self._tasks: set[asyncio.Task[None]] = set()
        self._close_task: asyncio.Task[None] | None = None
        self.rtt: float | None = None
        """The last measured keepalive round-trip time in seconds."""
        self._io = EndpointDriver(stream, endpoint, self._dispatch_all, clock)
        self._requesting = Requesting(
            endpoint, self._io.flush, self._io.send, self._closed.done, stream_buffer
        )
        self._serving = Serving(handlers or Handlers(), endpoint, self._io.flush, stream.drain, self._spawn)
        self._io.start()

    @classmethod
    async def open(
        cls,
        stream: ByteStream,
        config: EndpointConfig,
        *,
        initiator: bool,
        handlers: Handlers | None = None,
        handshake_timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
        stream_buffer: int = DEFAULT_STREAM_BUFFER,
    ) -> RpcConnection:
        """Start a session on `stream` and wait for the hello exchange (closing the stream on failure).

        Raises `RpcTimeoutError` if the exchange takes longer than `handshake_timeout` seconds and
        `ConnectionClosedError` if the peer refuses it (for example no common protocol version).
        """
        endpoint = RpcEndpoint(config, initiator=initiator, now=clock.monotonic())
        conn = cls(stream, endpoint, handlers, clock=clock, stream_buffer=stream_buffer)
        try:
            async with asyncio.timeout(handshake_timeout):
                await conn.wait_ready()
        except TimeoutError:
            await conn.aclose("hello exchange timed out", CloseCode.REFUSED)
            raise RpcTimeoutError(
                f"the peer did not complete the hello exchange within {handshake_timeout} s; "
                "is it a cocoon node of a compatible version?"
            ) from None
        except BaseException:
            await conn.aclose("hello exchange failed", CloseCode.REFUSED)
            raise
        return conn

    async def __aenter__(self) -> RpcConnection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose("closing" if exc_info[0] is None else f"local failure: {exc_info[1]!r}")

    # --- state ------------------------------------------------------------------------------------

    @property
    def peer(self) -> HandshakeCompleted | None:
        """Who the peer said it is (None before the hello exchange)."""
        return self._ready.result() if self._ready.done() and not self._ready.exception() else None

    @property
    def terminated(self) -> ConnectionTerminated | None:
        """How the session ended, or None while it lives."""
        return self._closed.result() if self._closed.done() else None

    @property
    def active_streams(self) -> int:
        """Answer streams we are reading plus requests we are serving."""
        return len(self._requesting) + len(self._serving)

    async def wait_ready(self) -> HandshakeCompleted:
        """Wait for the hello exchange (bounded by the keepalive silence timeout).

        Raises `ConnectionClosedError` if the session ends first.
        """
        return await asyncio.shield(self._ready)

    async def wait_closed(self) -> ConnectionTerminated:
        """Wait until the session ends and return how it ended."""
        return await asyncio.shield(self._closed)

    def new_request_id(self) -> int:
        """A request id not yet used by this connection for its own `RunQuery`."""
        return self._requesting.new_request_id()

    # --- client side ------------------------------------------------------------------------------

    # The timeout is part of the call, not of the caller's scope: it bounds the query's registration.
    async def query(self, body: ControlBody, timeout: float = 30.0) -> ControlBody:  # noqa: ASYNC109
        """Send a control query and return the answer body.

        Raises `RemoteQueryError` (the peer's code and message), `RpcTimeoutError` or
        `ConnectionClosedError`.
        """
        await self.wait_ready()
        return await self._requesting.query(body, timeout)

    async def run_query(self, request: RunQuery) -> RpcAnswerStream:
        """Start an inference request; read its answer from the returned `RpcAnswerStream`.

        Bound the whole exchange with ``asyncio.timeout`` (and cancel the stream when it fires).
        """
        await self.wait_ready()
        return await self._requesting.run_query(request)

    def cancel(self, request_id: int, reason: str) -> bool:
        """Cancel our request; its `RpcAnswerStream` raises `RequestCancelledError`. False if already over."""
        return self._requesting.cancel(request_id, reason)

    async def send_payment_update(self, update: PaymentUpdate) -> None:
        """Send a payment-channel update to the peer."""
        self._endpoint.send_payment_update(update)
        await self._io.send()

    async def send_worker_state(self, state: WorkerState) -> None:
        """Send the worker's current offer to the peer."""
        self._endpoint.send_worker_state(state)
        await self._io.send()

    async def ping(self) -> None:
        """Send a keepalive ping now (its round-trip time lands in `rtt`)."""
        self._endpoint.ping(self._io.now())
        await self._io.send()

    def close_soon(self, reason: str, code: CloseCode = CloseCode.NORMAL) -> None:
        """Start closing from synchronous code (a callback); `wait_closed` tells when it is done."""
        self._io.handle(self._endpoint.close(reason, code))

    async def aclose(self, reason: str = "closing", code: CloseCode = CloseCode.NORMAL) -> None:
        """Send `Close(reason)`, flush, close the stream and stop the tasks (idempotent)."""
        self._io.handle(self._endpoint.close(reason, code))
        if self._close_task is not None:
            await asyncio.shield(self._close_task)

    # --- events from the endpoint ---------------------------------------------------------------------

    def _dispatch_all(self, events: list[Event]) -> None:
        answer_part = self._requesting.answer_part
        for event in events:
            if type(event) is AnswerChunk:  # the hot path: a relayed token event
                answer_part(event)
            else:
                self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        match event:
            case AnswerHead() | AnswerChunk() | AnswerEnd() | AnswerError():
                self._requesting.answer_part(event)
            case RunQuery():
                self._serving.run_query(event)
            case Cancel():
                self._serving.cancel(event)
            case Query():
                self._serving.query(event)
            case QueryAnswer() | QueryError():
                self._requesting.query_answered(event)
            case PaymentUpdate():
                self._serving.payment(event)
            case WorkerState():
                self._serving.worker_state(event)
            case PongReceived():
                self.rtt = event.rtt
            case HandshakeCompleted():
                self._ready.set_result(event)
            case ConnectionTerminated():
                self._terminate(event)

    # --- helpers ------------------------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _terminate(self, event: ConnectionTerminated) -> None:
        if self._closed.done():
            return
        self._closed.set_result(event)
        error = _closed_error(event)
        if not self._ready.done():
            self._ready.set_exception(error)
            self._ready.exception()  # mark retrieved: nobody may be waiting
        self._requesting.fail_all(error)
        self._serving.stop(f"connection closed: {event.reason}")
        self._close_task = self._loop.create_task(self._shutdown())

    async def _shutdown(self) -> None:
        await self._io.shutdown(_CLOSE_FLUSH_TIMEOUT)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _closed_error(event: ConnectionTerminated) -> ConnectionClosedError:
    """What pending calls raise: `PeerClosedError` when the peer ended the session with a ``Close``."""
    if not event.local and event.code != CloseCode.ABNORMAL:
        return PeerClosedError(f"connection closed by the peer: {event.reason}")
    return ConnectionClosedError(f"connection closed: {event.reason}")

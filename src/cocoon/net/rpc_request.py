"""The requesting side of an `RpcConnection`: what we asked of the peer and are still waiting for.

Control queries wait on a future resolved by the peer's answer or error; inference requests are read
from an `RpcAnswerStream` with a bounded buffer: a reader that falls behind cancels only its own request,
never the shared connection. When the session ends, everything still waiting fails with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cocoon.errors import RemoteQueryError, RpcTimeoutError
from cocoon.net.rpc_stream import RpcAnswerStream
from cocoon.wire.control import ControlBody
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.messages import AnswerEnd, AnswerError, AnswerPart, QueryAnswer, QueryError, RunQuery


class Requesting:
    """Tracks our outstanding control queries and the answer streams we read for one connection.

    `flush` and `send` write the endpoint's queued bytes (without and with waiting for the transport);
    `closed` tells whether the session has ended.
    """

    def __init__(
        self,
        endpoint: RpcEndpoint,
        flush: Callable[[], None],
        send: Callable[[], Awaitable[None]],
        closed: Callable[[], bool],
        stream_buffer: int,
    ) -> None:
        self._endpoint = endpoint
        self._flush, self._send, self._closed = flush, send, closed
        self._stream_buffer = stream_buffer
        self._loop = asyncio.get_running_loop()
        self._queries: dict[int, asyncio.Future[ControlBody]] = {}
        self._answers: dict[int, RpcAnswerStream] = {}
        self._next_request_id = 1

    def __len__(self) -> int:
        """How many answer streams we are reading."""
        return len(self._answers)

    def new_request_id(self) -> int:
        """A request id not yet used by this connection for its own `RunQuery`."""
        request_id = self._next_request_id
        self._next_request_id += 1
        return request_id

    # The timeout is part of the call, not of the caller's scope: it bounds the query's registration.
    async def query(self, body: ControlBody, timeout: float) -> ControlBody:  # noqa: ASYNC109
        """Send a control query and return the answer body (see `RpcConnection.query`)."""
        query_id = self._endpoint.send_query(body)
        future: asyncio.Future[ControlBody] = self._loop.create_future()
        self._queries[query_id] = future
        self._flush()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            what = type(body).__name__
            raise RpcTimeoutError(
                f"no answer to {what} within {timeout} s; the peer is overloaded or stuck"
            ) from None
        finally:
            self._queries.pop(query_id, None)

    async def run_query(self, request: RunQuery) -> RpcAnswerStream:
        """Start an inference request and return the stream its answer parts are fed into."""
        self._endpoint.send_run_query(request)
        answer = RpcAnswerStream(request.request_id, self.cancel)
        self._answers[request.request_id] = answer
        await self._send()
        return answer

    def cancel(self, request_id: int, reason: str) -> bool:
        """Cancel our request; its `RpcAnswerStream` raises `RequestCancelledError`. False if already over."""
        answer = self._answers.pop(request_id, None)
        if answer is not None:
            answer.fail_cancelled(reason)
        if self._closed() or not self._endpoint.cancel(request_id, reason):
            return False
        self._flush()
        return True

    def answer_part(self, part: AnswerPart) -> None:
        """Feed a part of the peer's answer to its stream (cancelling the request if it overflows)."""
        answer = self._answers.get(part.request_id)
        if answer is None:
            return  # we cancelled it; a leftover or its final end
        if answer.feed(part, self._stream_buffer):
            if isinstance(part, (AnswerEnd, AnswerError)):
                del self._answers[part.request_id]
        else:
            limit = self._stream_buffer
            self.cancel(part.request_id, f"reader too slow: over {limit} bytes of the answer unread")

    def query_answered(self, event: QueryAnswer | QueryError) -> None:
        """Resolve the waiting query with the peer's answer or error."""
        future = self._queries.get(event.query_id)
        if future is None or future.done():
            return  # the caller timed out; a late answer is harmless
        if isinstance(event, QueryAnswer):
            future.set_result(event.body)
        else:
            future.set_exception(RemoteQueryError(f"peer refused the query: {event.message}", event.code))

    def fail_all(self, error: Exception) -> None:
        """The session ended: every query and answer stream still waiting fails with ``error``."""
        for future in self._queries.values():
            if not future.done():
                future.set_exception(error)
        for answer in self._answers.values():
            answer.fail(error)
        self._answers.clear()

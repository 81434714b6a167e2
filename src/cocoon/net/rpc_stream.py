"""The two ends of one inference stream on an `RpcConnection`.

`RpcAnswerStream` is what the requester reads: an async iterator over ``AnswerHead``, ``AnswerChunk``s
and the final ``AnswerEnd``/``AnswerError``, fed by the connection into a bounded buffer.
`Responder` is what the serving handler writes with: head, chunks, then end or error, each checked
by the endpoint's stream rules and flushed with back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from cocoon.errors import ConnectionClosedError, ProtocolError, RequestCancelledError
from cocoon.usage import NO_USAGE, Usage
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.messages import (
    NO_TIMINGS,
    AnswerChunk,
    AnswerEnd,
    AnswerError,
    AnswerHead,
    AnswerPart,
    DebugTimings,
    RunQuery,
    Timings,
)

PART_OVERHEAD = 64
"""Bytes charged per buffered answer part on top of its payload (Python object overhead, roughly)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole answer read by `RpcAnswerStream.collect`: head, concatenated body and how it ended."""

    head: AnswerHead | None
    body: bytes
    final: AnswerEnd | AnswerError


class RpcAnswerStream:
    """The requester's view of one answer; iterate it, or `collect` it whole.

    Iteration ends after ``AnswerEnd``/``AnswerError`` (both are yielded). If the connection dies it
    raises `ConnectionClosedError`; if the request was cancelled (by `cancel`, or because this reader
    let more than the connection's per-stream buffer pile up unread) it raises
    `RequestCancelledError`. Parts received before the failure are still yielded first. Leaving
    ``async with`` early cancels.
    """

    def __init__(self, request_id: int, cancel: Callable[[int, str], bool]) -> None:
        self.request_id = request_id
        self.head: AnswerHead | None = None
        self.final: AnswerEnd | AnswerError | None = None
        self._cancel = cancel
        self._parts: deque[AnswerPart] = deque()
        self._buffered = 0  # bytes accounted to the unread parts (see feed)
        self._error: Exception | None = None
        self._ended = False  # the final part was received (it may still sit in the buffer)
        # The reader's wake-up: one plain future while it waits (an asyncio.Event per part costs more).
        self._waiter: asyncio.Future[None] | None = None

    @property
    def ended(self) -> bool:
        """True once the final part was received (it may still be buffered, unread): the whole answer
        is here and nothing more will come."""
        return self._ended

    @property
    def finished(self) -> bool:
        """True once the final part was read or the stream failed."""
        return self.final is not None or (self._error is not None and not self._parts)

    def feed(self, part: AnswerPart, limit: int) -> bool:
        """Buffer a received part; False (part dropped) if it would exceed `limit` unread bytes."""
        # A fixed overhead per part bounds floods of empty chunks, the payload bounds large ones.
        if isinstance(part, AnswerChunk):
            cost = PART_OVERHEAD + len(part.data)
            if self._buffered + cost > limit:
                return False
        else:
            cost = PART_OVERHEAD
            if not isinstance(part, AnswerHead):
                self._ended = True  # the final part is always accepted: it frees the request
            elif self._buffered + cost > limit:
                return False
        self._buffered += cost
        self._parts.append(part)
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # cancelled with its reader
                waiter.set_result(None)

    def fail(self, error: Exception) -> None:
        """End the stream with `error` (raised after the parts already buffered)."""
        if self._error is None and not self._ended:
            self._error = error
            self._wake()

    def fail_cancelled(self, reason: str) -> None:
        """End the stream because the request was cancelled."""
        self.fail(RequestCancelledError(f"request {self.request_id} cancelled: {reason}"))

    def cancel(self, reason: str = "cancelled by the caller") -> bool:
        """Cancel the request (the serving side stops); False if it already finished."""
        return self._cancel(self.request_id, reason)

    def __aiter__(self) -> RpcAnswerStream:
        return self

    async def __anext__(self) -> AnswerPart:
        parts = self._parts
        while True:
            if parts:
                part = parts.popleft()
                if isinstance(part, AnswerChunk):
                    self._buffered -= PART_OVERHEAD + len(part.data)
                else:
                    self._buffered -= PART_OVERHEAD
                    if isinstance(part, AnswerHead):
                        self.head = part
                    else:
                        self.final = part
                return part
            if self.final is not None:
                raise StopAsyncIteration
            if self._error is not None:
                raise self._error
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            await waiter

    async def collect(self) -> Answer:
        """Read the whole answer (bound it with ``asyncio.timeout`` if needed)."""
        body = bytearray()
        async for part in self:
            if isinstance(part, AnswerChunk):
                body += part.data
        assert self.final is not None  # iteration only stops after the final part
        return Answer(self.head, bytes(body), self.final)

    async def __aenter__(self) -> RpcAnswerStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.finished:
            self.cancel("the reader stopped reading" if exc is None else f"the reader failed: {exc!r}")


class Responder:
    """The serving handler's pen for one answer: `head`, `chunk`s, then `end` or `error`.

    Each method returns False when the requester already cancelled (nothing was sent) and raises
    `ConnectionClosedError` when the connection is gone. `cancelled` is set when the requester
    cancels or the connection closes.
    """

    def __init__(
        self,
        request: RunQuery,
        endpoint: RpcEndpoint,
        flush: Callable[[], None],
        drain: Callable[[], Awaitable[None]],
    ) -> None:
        self.request = request
        self.cancelled = asyncio.Event()
        self.cancel_reason = ""
        self._endpoint = endpoint
        self._flush = flush
        self._drain = drain
        self._finished = False
        self._head_sent = False

    @property
    def finished(self) -> bool:
        """True once `end` or `error` was called."""
        return self._finished

    @property
    def head_sent(self) -> bool:
        """True once `head` was called: part of the answer may have reached the requester."""
        return self._head_sent

    async def head(
        self, status: int, headers: tuple[tuple[str, str], ...] = (), *, e2e_nonce: bytes = b""
    ) -> bool:
        """Send the HTTP status and headers (and ``rn`` of an end-to-end answer); must come first."""
        self._head_sent = True
        sent = self._endpoint.send_head(self.request.request_id, status, headers, e2e_nonce=e2e_nonce)
        return await self._after(sent)

    async def chunk(self, data: bytes) -> bool:
        """Send a piece of the body, as soon as it exists."""
        sent = self._endpoint.send_chunk(self.request.request_id, data)
        self._flush()  # as `_after`, inlined: this runs once per relayed token event
        await self._drain()
        return sent

    async def end(
        self,
        usage: Usage = NO_USAGE,
        timings: Timings = NO_TIMINGS,
        adjusted_tokens: int = 0,
        cost: int = 0,
        receipt: bytes | None = None,
        prompt_cost: int = 0,
        *,
        debug: DebugTimings | None = None,
    ) -> bool:
        """Finish successfully with the usage (allowed after a cancel, to report what was consumed)."""
        self._finished = True
        request_id = self.request.request_id
        sent = self._endpoint.send_end(
            request_id, usage, timings, adjusted_tokens, cost, receipt, prompt_cost, debug
        )
        return await self._after(sent)

    async def error(
        self,
        status: int,
        code: str,
        message: str,
        usage: Usage | None = None,
        *,
        param: str | None = None,
        receipt: bytes | None = None,
    ) -> bool:
        """Finish with an error: HTTP `status`, machine-readable `code`, human `message`, the
        request parameter at fault (`param`) when there is one, and a signed partial receipt of an
        end-to-end answer (`receipt`) when there is one."""
        self._finished = True
        request_id = self.request.request_id
        sent = self._endpoint.send_answer_error(request_id, status, code, message, usage, param, receipt)
        return await self._after(sent)

    def send_error_now(self, status: int, code: str, message: str) -> None:
        """Finish with an error without waiting, unless already finished or the connection is gone."""
        if self._finished:
            return
        self._finished = True
        with contextlib.suppress(ConnectionClosedError, ProtocolError):
            self._endpoint.send_answer_error(self.request.request_id, status, code, message)
            self._flush()

    def mark_cancelled(self, reason: str) -> None:
        """Record that the requester cancelled (or the connection closed)."""
        if not self.cancelled.is_set():
            self.cancel_reason = reason
            self.cancelled.set()

    async def _after(self, sent: bool) -> bool:
        self._flush()
        await self._drain()
        return sent

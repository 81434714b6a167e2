"""One answer from the network to the caller: `AnswerRelay` turns its parts into a response value.

It reads the first part (an error before the head becomes an error response), checks the answering
worker's statement, follows the receipt over every chunk, then either collects a whole answer (with
the cost fields and the verified receipt in its JSON) or hands back an `EventStream`: engine events
re-framed as they complete, the usage chunk held until the `AnswerEnd` brings the cost (sent only if
the caller asked for usage), an error event for a late `AnswerError` or a stream that just stops,
and ``[DONE]`` always last. `abandon` cancels the network request once, unless the answer ended.

Every answer tells the app how it travelled: ``X-Cocoon-E2E: 1`` when it was end-to-end encrypted
(`cocoon.client.e2e_answer.E2EAnswer`, whose v2 receipt is checked against its facts), else ``0``;
the header is the client's own, never taken from the network. ``X-Cocoon-Protocol: cocoon`` says that
it came over COCOON's own client protocol, which has neither receipts nor end-to-end encryption; the
request's entry among the recent ones says the same (``protocol``, ``receipt``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from cocoon.api.validation import ValidatedRequest
from cocoon.client.backend import BackendAnswer, Privacy, close_parts, privacy_of, protocol_of
from cocoon.client.e2e_answer import E2E_HEADER, E2EAnswer
from cocoon.client.failover import PrimedAnswer
from cocoon.client.openai_out import (
    EventRelay,
    StreamShape,
    add_cost_to_usage,
    error_event,
    error_from_answer,
    final_event,
)
from cocoon.client.receipts import ReceiptBook, ReceiptCheck, worker_refused
from cocoon.client.responses import STREAM_HEADERS, EventStream, WholeAnswer, error_answer
from cocoon.client.stats import ClientStats
from cocoon.clock import Clock
from cocoon.errors import RequestError, StatementError
from cocoon.wire.hops import debug_json
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart, HopTimings
from cocoon.wire.sse import DONE_EVENT

E2E_RESPONSE_HEADER = "X-Cocoon-E2E"
PROTOCOL_RESPONSE_HEADER = "X-Cocoon-Protocol"
CANCELLED_STATUS = 499
"""The status a request the app abandoned is listed with (nginx's "client closed request")."""

UPSTREAM_GONE = RequestError(
    "The network ended the answer without finishing it; retry the request.",
    status=502,
    error_type="upstream_error",
    code="upstream_error",
)


class AnswerRelay:
    """Relays one answer of request ``request_id``; ``started`` is the clock reading at its arrival."""

    def __init__(
        self,
        answer: BackendAnswer,
        request: ValidatedRequest,
        request_id: int,
        *,
        stats: ClientStats,
        receipts: ReceiptBook,
        clock: Clock,
        started: float,
    ) -> None:
        self.answer = answer
        self.request = request
        self.request_id = request_id
        self.stats = stats
        self.receipts = receipts
        self.clock = clock
        self.started = started
        self._over = False
        self._shape = StreamShape.of(request.endpoint)
        self.e2e = privacy_of(answer) is Privacy.E2E
        self.protocol = protocol_of(answer)
        self._check: ReceiptCheck | None = None
        self._recorded = False
        self._stream: EventStream | None = None
        # ``enable_debug``: the client's own hop, from the request's arrival (``started``); the backend
        # has sent the request when this relay is made (and, across proxies, read its first part:
        # `PrimedAnswer` says when). Not read at all otherwise.
        primed = answer if isinstance(answer, PrimedAnswer) else None
        self._sent = (primed.sent_at if primed else clock.monotonic()) if request.enable_debug else None
        self._first_byte: float | None = primed.first_at if primed and request.enable_debug else None

    def _record(self, status: int, cost_nano: int = 0) -> None:
        """List the request among the last ones, once, with how it ended."""
        if not self._recorded:
            self._recorded = True
            request_id = f"{self.request_id:016x}"
            outcome = self._check.outcome if self._check is not None else None
            self.stats.record(
                request_id,
                self.request.model,
                e2e=self.e2e,
                status=status,
                cost_nano=cost_nano,
                protocol=self.protocol,
                receipt=outcome,
            )

    def _error(self, error: RequestError) -> WholeAnswer:
        """An error response to the app (counted as failed)."""
        self._over = True
        self.stats.failed += 1
        self._record(error.status)
        answer = error_answer(error)
        answer.headers[E2E_RESPONSE_HEADER] = "1" if self.e2e else "0"
        answer.headers[PROTOCOL_RESPONSE_HEADER] = self.protocol
        return answer

    async def abandon(self) -> None:
        """Cancel the network request (the caller went away); once, and never after the end."""
        if self._over:
            return
        self._over = True
        await self.answer.cancel("the caller disconnected")
        self.stats.cancelled += 1
        self._record(CANCELLED_STATUS)

    def _debug(self, end: AnswerEnd) -> dict[str, Any] | None:
        """The ``debug`` object of a request sent with ``enable_debug`` (None otherwise): the client's
        hop, done now, and the proxy's and worker's as the answer's end reports them."""
        if self._sent is None:
            return None
        now = self.clock.monotonic()

        def since(t: float) -> int:
            return max(0, int((t - self.started) * 1e6))

        first = self._first_byte if self._first_byte is not None else now
        return debug_json(HopTimings(since(self._sent), since(first), since(now)), end.debug)

    def observe_latency(self) -> None:
        self.stats.observe_latency(self.clock.monotonic() - self.started)

    async def begin(self) -> WholeAnswer | EventStream:
        """Read up to the head; the whole answer, or the stream of the rest."""
        parts = aiter(self.answer)
        first = await anext(parts, None)
        if self._sent is not None and self._first_byte is None:
            self._first_byte = self.clock.monotonic()
        if isinstance(first, AnswerError) or first is None:
            await close_parts(parts)
            return self._error(error_from_answer(first) if first else UPSTREAM_GONE)
        assert isinstance(first, AnswerHead)
        request_id = f"{self.request_id:016x}"
        e2e = self.answer if isinstance(self.answer, E2EAnswer) else None
        check = self.receipts.start(
            request_id, self.request.engine_body_bytes(), self.request.model, e2e, self.protocol
        )
        self._check = check
        try:
            self.receipts.head(check, first.headers)
        except StatementError as exc:
            self._over = True
            await self.answer.cancel(f"worker refused: {exc}")
            await close_parts(parts)
            return self._error(worker_refused(exc))
        parts = self.receipts.follow(parts, check)
        headers = {
            k: v
            for k, v in first.headers
            if k.lower().startswith("x-cocoon-")
            and k.lower() not in (E2E_HEADER, PROTOCOL_RESPONSE_HEADER.lower())  # ours to say, below
        }
        headers["X-Cocoon-Request-Id"] = request_id
        headers[E2E_RESPONSE_HEADER] = "1" if self.e2e else "0"
        headers[PROTOCOL_RESPONSE_HEADER] = self.protocol
        if first.status != 200 or not self.request.stream:
            try:
                return await self._whole(first, parts, headers, check)
            finally:
                await close_parts(parts)  # ended (or failed): its generators end now, not when dropped
        self._stream = EventStream({**headers, **STREAM_HEADERS}, self._events(parts, check), self.abandon)
        return self._stream

    async def _whole(
        self, head: AnswerHead, parts: AsyncIterator[AnswerPart], headers: dict[str, str], check: ReceiptCheck
    ) -> WholeAnswer:
        body = bytearray()
        async for part in parts:
            if isinstance(part, AnswerChunk):
                body += part.data
            elif isinstance(part, AnswerEnd):
                self._over = True
                self.stats.finished(part)
                self._record(head.status, part.cost)
                payload = bytes(body)
                if head.status == 200:
                    payload = add_cost_to_usage(payload, part, self._debug(part), check.verified)
                content_type = {k.lower(): v for k, v in head.headers}.get("content-type", "application/json")
                return WholeAnswer(head.status, {**headers, "Content-Type": content_type}, payload)
            elif isinstance(part, AnswerError):
                return self._error(error_from_answer(part))
        return self._error(UPSTREAM_GONE)

    async def _events(
        self, parts: AsyncIterator[AnswerPart], check: ReceiptCheck
    ) -> AsyncGenerator[bytes, None]:
        """The SSE chunks to send: relayed events, the usage chunk with its cost, then ``[DONE]``."""
        try:
            async with contextlib.aclosing(self._frames(parts, check)) as frames:
                async for out in frames:
                    yield out
        except BaseException:
            await self.abandon()  # closed or cancelled before the end: stop the work end to end
            raise
        finally:
            await close_parts(parts)  # ended (or closed): its generators end now, not when dropped
        self._over = True  # the network's answer is over: nothing left to cancel
        self.observe_latency()
        if self._shape is StreamShape.CHAT:  # a Responses API stream ends with its last event
            yield DONE_EVENT

    def _ending(self) -> None:
        """The network's answer is over: what the stream has left to send is ready to go at once."""
        if self._stream is not None:
            self._stream.ending = True

    async def _frames(
        self, parts: AsyncIterator[AnswerPart], check: ReceiptCheck
    ) -> AsyncGenerator[bytes, None]:
        held: bytes | None = None
        shape = self._shape
        events = EventRelay(shape)
        async for part in parts:
            if isinstance(part, AnswerChunk):
                out, final = events.feed(part.data)
                held = final or held
                if out:
                    yield out
            elif isinstance(part, AnswerEnd):
                self._ending()
                self.stats.finished(part)
                self._record(200, part.cost)
                debug = self._debug(part)
                if held is not None and (self.request.caller_wants_usage or debug is not None):
                    yield final_event(held, part, shape, check.verified, debug)
                return
            elif isinstance(part, AnswerError):
                self._ending()
                self.stats.failed += 1
                self._record(part.status)
                yield error_event(error_from_answer(part), shape)
                return
        self._ending()
        self.stats.failed += 1
        self._record(UPSTREAM_GONE.status)
        yield error_event(UPSTREAM_GONE, shape)

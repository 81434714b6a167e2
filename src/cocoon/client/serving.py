"""Serving one OpenAI request through the network, as values: no HTTP server in here.

`ClientServing.serve` takes a `ValidatedRequest` (validation is `cocoon.api.validation`'s) and returns
either a `WholeAnswer` (status, headers, body: errors and non-streamed answers) or an `EventStream`
(headers at once, then SSE byte chunks). On the way it resolves short model names, starts the request
on the `InferenceBackend`, checks the answering worker's statement, follows the receipt, holds the
engine's usage chunk until the proxy's `AnswerEnd` brings the cost (sent only if the caller asked for
usage), turns a late `AnswerError` into an error event, and always ends a stream with ``[DONE]``.

Whoever reads the answer may go away at any time: if `serve` is cancelled, or an `EventStream` is
closed or its reader cancelled before the end, the network request is cancelled end to end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from cocoon.api.validation import ValidatedRequest
from cocoon.client.backend import BackendAnswer, InferenceBackend
from cocoon.client.model_names import resolve_model
from cocoon.client.openai_out import add_cost_to_usage, error_event, error_from_answer, relay_events
from cocoon.client.receipts import ReceiptBook, ReceiptCheck, worker_refused
from cocoon.client.stats import ClientStats
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import RequestError, StatementError
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, AnswerPart
from cocoon.wire.sse import DONE_EVENT, SseParser, encode_event

MODELS_TTL_S = 2.0
"""How long the list of served models is reused to resolve short model names."""

JSON_TYPE = "application/json; charset=utf-8"
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

_UPSTREAM_GONE = RequestError(
    "The network ended the answer without finishing it; retry the request.",
    status=502,
    error_type="upstream_error",
    code="upstream_error",
)


@dataclass(frozen=True, slots=True)
class WholeAnswer:
    """A complete HTTP response: an error, a non-streamed answer or a JSON document."""

    status: int
    headers: dict[str, str]
    body: bytes


def json_answer(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> WholeAnswer:
    """``doc`` as a JSON response (the same bytes and type as aiohttp's ``json_response``)."""
    return WholeAnswer(status, {**(headers or {}), "Content-Type": JSON_TYPE}, json.dumps(doc).encode())


def error_answer(error: RequestError) -> WholeAnswer:
    """The OpenAI error response for ``error``."""
    return json_answer(error.to_body(), error.status, error.headers)


class EventStream:
    """A streamed answer: `headers` now, then iterate for SSE byte chunks; ``[DONE]`` comes last.

    `aclose` (or leaving ``contextlib.aclosing``) before the end cancels the network request.
    """

    def __init__(self, headers: dict[str, str], relay: _Relay, events: AsyncGenerator[bytes, None]) -> None:
        self.headers = headers
        self._relay = relay
        self._events = events

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop reading; cancels the request unless the stream already ended."""
        await self._events.aclose()
        await self._relay.abandon()  # a no-op if the stream ended or was abandoned while iterated


class ClientServing:
    """Serves validated requests on one backend, counting into `stats` and verifying into `receipts`."""

    def __init__(
        self,
        backend: InferenceBackend,
        stats: ClientStats | None = None,
        receipts: ReceiptBook | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.backend = backend
        self.stats = stats or ClientStats()
        self.receipts = receipts or ReceiptBook(clock=clock.time)
        self.clock = clock
        self._model_list: list[str] = []
        self._models_at: float | None = None

    def reject(self, error: RequestError) -> WholeAnswer:
        """A request refused before it reached the network (unreadable, too large, invalid)."""
        self.stats.rejected += 1
        return error_answer(error)

    async def serve(
        self, request: ValidatedRequest, *, started: float | None = None
    ) -> WholeAnswer | EventStream:
        """Send ``request`` into the network; its answer as a whole response or as an event stream.

        ``started`` is the `clock` reading when the HTTP request arrived (default: now), for latency.
        """
        started = self.clock.monotonic() if started is None else started
        request = await self._with_full_model(request)
        request_id = secrets.randbits(63)
        self.stats.started += 1
        try:
            answer = await self.backend.run(request, request_id)
        except RequestError as error:
            self.stats.failed += 1
            return error_answer(error)
        relay = _Relay(self, request, request_id, answer, started)
        try:
            result = await relay.begin()
        except BaseException:
            # The caller went away (serve cancelled) or we failed: stop the work end to end.
            await relay.abandon()
            raise
        if isinstance(result, WholeAnswer):
            self.observe_latency(started)
        return result

    def observe_latency(self, started: float) -> None:
        self.stats.observe_latency(self.clock.monotonic() - started)

    async def _with_full_model(self, request: ValidatedRequest) -> ValidatedRequest:
        """``request`` with a short model name replaced by the one full model id it names, if any."""
        if "@" in request.model:
            return request
        full = resolve_model(request.model, await self._model_ids())
        if full == request.model:
            return request
        return dataclasses.replace(request, model=full, engine_body={**request.engine_body, "model": full})

    async def _model_ids(self) -> list[str]:
        """The model ids served now, asked of the network at most every MODELS_TTL_S seconds."""
        now = self.clock.monotonic()
        if self._models_at is None or now - self._models_at > MODELS_TTL_S:
            self._model_list = [str(m["id"]) for m in await self.backend.models()]
            self._models_at = now
        return self._model_list

    def receipt(self, request_id: str) -> WholeAnswer:
        """``GET /v1/receipts/{request_id}``: a recent verified receipt, or a 404 saying why not."""
        found = self.receipts.get(request_id)
        if found is not None:
            return json_answer(found)
        return error_answer(
            RequestError(
                f"No verified receipt for request {request_id!r}: unknown, too old (only the last "
                f"{self.receipts.capacity} are kept) or its receipt did not verify.",
                status=404,
                code="receipt_not_found",
            )
        )

    async def facts(self) -> dict[str, Any]:
        """Everything /jsonstats and the dashboard show."""
        client = {**self.stats.snapshot(), "receipts": asdict(self.receipts.counters)}
        return {"client": client, **(await self.backend.status())}


class _Relay:
    """One answer from its first part to its end; `abandon` cancels it once if it did not end."""

    def __init__(
        self,
        serving: ClientServing,
        request: ValidatedRequest,
        request_id: int,
        answer: BackendAnswer,
        started: float,
    ) -> None:
        self.serving = serving
        self.stats = serving.stats
        self.request = request
        self.request_id = request_id
        self.answer = answer
        self.started = started
        self._over = False

    async def abandon(self) -> None:
        """Cancel the network request (the caller went away); once, and never after the end."""
        if self._over:
            return
        self._over = True
        await self.answer.cancel("the caller disconnected")
        self.stats.cancelled += 1

    async def begin(self) -> WholeAnswer | EventStream:
        parts = aiter(self.answer)
        first = await anext(parts, None)
        if isinstance(first, AnswerError) or first is None:
            self._over = True
            self.stats.failed += 1
            return error_answer(error_from_answer(first) if first else _UPSTREAM_GONE)
        assert isinstance(first, AnswerHead)
        receipts = self.serving.receipts
        check = receipts.start(
            f"{self.request_id:016x}", self.request.engine_body_bytes(), self.request.model
        )
        try:
            receipts.head(check, first.headers)
        except StatementError as exc:
            self._over = True
            await self.answer.cancel(f"worker refused: {exc}")
            self.stats.failed += 1
            return error_answer(worker_refused(exc))
        parts = receipts.follow(parts, check)
        headers = {k: v for k, v in first.headers if k.lower().startswith("x-cocoon-")}
        headers["X-Cocoon-Request-Id"] = f"{self.request_id:016x}"
        if first.status != 200 or not self.request.stream:
            return await self._whole(first, parts, headers, check)
        return EventStream({**headers, **STREAM_HEADERS}, self, self._events(parts, check))

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
                payload = bytes(body)
                if head.status == 200:
                    payload = add_cost_to_usage(payload, part, receipt=check.verified)
                content_type = {k.lower(): v for k, v in head.headers}.get("content-type", "application/json")
                return WholeAnswer(head.status, {**headers, "Content-Type": content_type}, payload)
            elif isinstance(part, AnswerError):
                self._over = True
                self.stats.failed += 1
                return error_answer(error_from_answer(part))
        self._over = True
        self.stats.failed += 1
        return error_answer(_UPSTREAM_GONE)

    async def _events(
        self, parts: AsyncIterator[AnswerPart], check: ReceiptCheck
    ) -> AsyncGenerator[bytes, None]:
        """The SSE chunks to send: relayed events, the usage chunk with its cost, then ``[DONE]``."""
        try:
            async with contextlib.aclosing(self._frames(parts, check)) as frames:
                async for out in frames:
                    yield out
            yield DONE_EVENT
        except BaseException:
            await self.abandon()  # closed or cancelled before the end: stop the work end to end
            raise
        self._over = True
        self.serving.observe_latency(self.started)

    async def _frames(
        self, parts: AsyncIterator[AnswerPart], check: ReceiptCheck
    ) -> AsyncGenerator[bytes, None]:
        usage_chunk: bytes | None = None
        events = SseParser()
        async for part in parts:
            if isinstance(part, AnswerChunk):
                out, usage = relay_events(events, part.data)
                usage_chunk = usage or usage_chunk
                if out:
                    yield out
            elif isinstance(part, AnswerEnd):
                self.stats.finished(part)
                if usage_chunk is not None and self.request.caller_wants_usage:
                    yield encode_event(add_cost_to_usage(usage_chunk, part, receipt=check.verified))
                return
            elif isinstance(part, AnswerError):
                self.stats.failed += 1
                yield error_event(error_from_answer(part))
                return
        self.stats.failed += 1
        yield error_event(_UPSTREAM_GONE)

"""`ResponsesBridge`: the Responses API on any engine, natively or translated onto chat completions.

The worker wraps its engine in it. The capability probe asks it whether the engine serves
``/v1/responses`` (`serves`): an engine with its own route (vLLM) gets Responses requests passed
through unchanged; one that serves only chat completions (llama.cpp's server) still gets them, as chat
completions (`cocoon.api.responses_request`), and its answers are translated back
(`cocoon.api.responses_answer`), whole or as the Responses API's stream events. Every other path goes
to the engine as it is. Usage comes from the chat answer either way, so metering and receipts work the
same (the receipt covers the translated bytes the worker relays).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any

import msgspec

from cocoon.api.multipart import FormBody
from cocoon.api.responses_answer import ResponseEvents, encode_events, response_from_chat
from cocoon.api.responses_request import chat_request
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.client import EngineResponse
from cocoon.engine.protocol import CompleteAnswer, Engine, StreamedAnswer
from cocoon.errors import EngineError
from cocoon.usage import Usage
from cocoon.wire.sse import SseParser

if TYPE_CHECKING:
    from collections.abc import Callable

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"
_json = msgspec.json.Encoder()


class TranslatedStream:
    """A streamed chat answer read as the Responses API's stream events."""

    def __init__(self, inner: StreamedAnswer, events: ResponseEvents) -> None:
        self._inner = inner
        self._chunks = aiter(inner)
        self._events = events
        self._parser = SseParser()
        self._opened = False
        self._closed = False
        self.events = 0
        self.usage: Usage | None = None
        """The usage the engine reported with its chat answer (known once it ended)."""

    @property
    def generated(self) -> int:
        """The generated pieces of the chat answer relayed so far (each becomes one ``*.delta`` event)."""
        return self._inner.generated

    @property
    def done(self) -> bool:
        """Whether the chat answer ended properly and the closing events were sent."""
        return self._inner.done and self._closed

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if not self._opened:
            self._opened = True
            return self._emit(self._events.opening())
        while not self._closed:
            try:
                data = await anext(self._chunks)
            except StopAsyncIteration:
                if not self._inner.done:
                    break
                self._closed = True
                self.usage = self._inner.usage
                return self._emit(self._events.closing(self.usage))
            out = [
                e for event in self._parser.feed(data) if not event.is_done for e in self._feed(event.data)
            ]
            if out:
                return self._emit(out)
        raise StopAsyncIteration

    def _feed(self, data: str) -> list[dict[str, Any]]:
        try:
            chunk = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:  # the engine stream already checked this; never trust twice
            raise EngineError(f"engine sent a chat chunk that is not JSON: {data[:100]!r}") from exc
        return self._events.feed(chunk)

    def _emit(self, events: list[dict[str, Any]]) -> bytes:
        self.events += len(events)
        return encode_events(events)

    async def aclose(self) -> None:
        """Stop early: aborts the engine's chat call unless it ended."""
        await self._inner.aclose()


class ResponsesBridge:
    """An `Engine` that serves ``/v1/responses`` on ``engine``: natively if it has the route (found by
    `serves`, which the worker's capability probe calls), else translated onto its chat completions."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        new_id: Callable[[], str] = lambda: "resp_" + secrets.token_hex(16),
    ) -> None:
        self.inner = engine
        self.native = False
        """Whether the engine answered the last probe of ``/v1/responses`` with a route of its own."""
        self._clock = clock
        self._new_id = new_id

    def _translates(self, path: str) -> bool:
        return path == RESPONSES and not self.native

    def stream(
        self, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> Coroutine[Any, Any, StreamedAnswer]:
        """A streamed answer; a translated Responses request streams the Responses API's events.

        (Not a coroutine itself: any other path is the engine's own call, awaited by the caller with no
        frame of ours around it, as it runs once per request.)"""
        if not self._translates(path):
            return self.inner.stream(path, body, timeout_s=timeout_s)
        return self._translated_stream(body, timeout_s)

    async def _translated_stream(self, body: dict[str, Any], timeout_s: float | None) -> StreamedAnswer:
        events = ResponseEvents(body, response_id=self._new_id(), created_at=int(self._clock.time()))
        inner = await self.inner.stream(CHAT, chat_request(body), timeout_s=timeout_s)
        return TranslatedStream(inner, events)

    def complete(
        self, path: str, body: dict[str, Any] | FormBody, *, timeout_s: float | None = None
    ) -> Coroutine[Any, Any, CompleteAnswer]:
        """A whole answer; a translated Responses request answers with a ``response`` object (not a
        coroutine itself, as `stream`)."""
        if isinstance(body, FormBody) or not self._translates(path):
            return self.inner.complete(path, body, timeout_s=timeout_s)
        return self._translated_complete(body, timeout_s)

    async def _translated_complete(self, body: dict[str, Any], timeout_s: float | None) -> CompleteAnswer:
        answer = await self.inner.complete(CHAT, chat_request(body), timeout_s=timeout_s)
        response = response_from_chat(
            body, answer.data, answer.usage, response_id=self._new_id(), created_at=int(self._clock.time())
        )
        return EngineResponse(answer.status, _json.encode(response), response, answer.usage)

    async def serves(self, path: str, *, within: float = 2.0) -> bool:
        """Whether ``path`` is served; ``/v1/responses`` is, natively or over chat completions."""
        if path != RESPONSES:
            return await self.inner.serves(path, within=within)
        self.native = await self.inner.serves(path, within=within)
        return self.native or await self.inner.serves(CHAT, within=within)

    async def health(self, *, within: float = 2.0) -> list[str]:
        """The engine's health probe."""
        return await self.inner.health(within=within)

    async def alive(self, *, within: float) -> None:
        """The engine's liveness probe."""
        await self.inner.alive(within=within)

    async def model_entries(self, *, within: float = 5.0) -> list[dict[str, Any]]:
        """The engine's model list."""
        return await self.inner.model_entries(within=within)

    async def close(self) -> None:
        """Close the engine."""
        await self.inner.close()


if TYPE_CHECKING:  # mypy proves that the bridge is an Engine

    def _is_an_engine(bridge: ResponsesBridge) -> Engine:
        return bridge

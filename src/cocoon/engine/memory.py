"""`MemoryEngine`: the fake engine without sockets, behind the same `Engine` protocol as `EngineClient`.

For service tests below the socket level (DESIGN.md testing ladder, step 2): a worker can be driven
with exactly the bytes the HTTP fake engine would send (same `plan_answer`, same `StreamFormat`), the
same errors `EngineClient` would raise (`EngineStatusError` for refusals and ``fail_status``,
`EngineError` for ``drop_after``, the in-stream `EngineStatusError` for ``error_after``, a silent
stall for ``hang_after``, `EngineTimeoutError` past the call's ``timeout_s``), the same count of
generated pieces, and the same bookkeeping of calls, completed and aborted answers, without aiohttp.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec

from cocoon.api.multipart import FormBody
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.engine.client import EngineResponse
from cocoon.engine.fake_answer import (
    COMPLETION,
    EMBEDDING,
    FakeAnswer,
    FakeEngineConfig,
    Rejection,
    model_entry,
)
from cocoon.engine.fake_embeddings import embedding_response
from cocoon.engine.fake_routes import answer_id, plan, refusal, route_kind, stream_format, whole_body
from cocoon.engine.fake_transcription import transcribe
from cocoon.engine.generated import count_generated
from cocoon.engine.stream import stream_error
from cocoon.engine.usage import usage_from_openai
from cocoon.errors import EngineError, EngineStatusError, EngineTimeoutError
from cocoon.usage import Usage

if TYPE_CHECKING:
    from cocoon.engine.protocol import Engine

_URL = "memory://engine"

Step = tuple[int | None, bytes]  # (content chunk index, or None for the opening/closing events; bytes)


class MemoryAnswerStream:
    """A streamed answer from `MemoryEngine`: its SSE events one by one, paced like the fake engine."""

    def __init__(
        self,
        engine: MemoryEngine,
        steps: list[Step],
        usage: Usage | None,
        config: FakeEngineConfig,
        deadline: float | None,
        failure: EngineStatusError | None = None,
    ) -> None:
        self._engine = engine
        self._steps = steps
        self._failure = failure  # raised in place of the last step (``error_after``)
        self._final_usage = usage
        self._config = config
        self._deadline = deadline  # on the engine's clock.monotonic()
        self._next = 0
        self._closed = False
        self.usage: Usage | None = None
        self.events = 0
        self.generated = 0

    @property
    def done(self) -> bool:
        """Whether the whole answer, ending in ``[DONE]``, has been delivered."""
        return self._next == len(self._steps) and self._failure is None

    def __aiter__(self) -> MemoryAnswerStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed or self._next == len(self._steps):
            raise StopAsyncIteration
        index, data = self._steps[self._next]
        try:
            if self._next == 0:
                await self._sleep(self._config.first_delay_ms)
            if index is not None:
                await self._before_content(index)
        except BaseException:
            await self.aclose()
            raise
        if index is None and self._next == len(self._steps) - 1 and self._failure is not None:
            self._next += 1
            self._closed = True  # the engine ended its answer (with an error): not an abort
            raise self._failure  # the error event in place of the closing events, as `EngineStream`
        self._next += 1
        self.events += data.count(b"\n\n")
        self.generated += count_generated(data)
        if self.done:
            self.usage = self._final_usage
            self._engine.completed += 1
        return data

    async def _before_content(self, index: int) -> None:
        if index == self._config.hang_after:
            await self._sleep(None)
        if index == self._config.drop_after:
            self._engine.dropped += 1
            raise EngineError(f"engine at {_URL} broke the stream mid-answer (drop_after={index})")
        await self._sleep(self._config.delay_ms)

    async def _sleep(self, ms: float | None) -> None:
        """Pause ``ms`` (None: forever), but never past the deadline."""
        now = self._engine.clock.monotonic()
        wake = None if ms is None else now + ms / 1000
        if self._deadline is not None and (wake is None or wake > self._deadline):
            await asyncio.sleep(max(0.0, self._deadline - now))
            raise EngineTimeoutError(f"engine at {_URL} did not finish before the deadline")
        if wake is None:
            await asyncio.Event().wait()
        elif ms:
            await asyncio.sleep(ms / 1000)

    async def aclose(self) -> None:
        """Stop early; counted as an aborted call unless the answer was complete."""
        if not self._closed and not self.done:
            self._engine.aborted += 1
        self._closed = True

    async def __aenter__(self) -> MemoryAnswerStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class MemoryEngine:
    """An in-process `Engine` that answers like the fake HTTP engine under ``config``."""

    def __init__(self, config: FakeEngineConfig | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config or FakeEngineConfig()
        self.clock = clock
        self.calls: list[tuple[str, Any]] = []
        """Every call: its path and body (a JSON object, or a `FormBody`)."""
        self.completed = 0
        self.aborted = 0
        self.dropped = 0
        self._seq = 0

    def _admit(self, path: str, body: dict[str, Any] | FormBody) -> str:
        """Record the call; the kind of answer ``path`` gives, or the engine's refusal raised."""
        path = path if path.startswith("/v1/") else "/v1/" + path.lstrip("/")
        self.calls.append((path, body))
        kind = route_kind(path, self.config)
        if kind is None:
            raise EngineStatusError(f"engine at {_URL} answered HTTP 404: no route {path}", status=404)
        status = self.config.fail_status
        if status is not None:
            message = f"fake engine failure (configured status {status})"
            raise EngineStatusError(f"engine at {_URL} answered HTTP {status}: {message}", status=status)
        refused = None if isinstance(body, FormBody) else refusal(kind, body, self.config.model)
        if refused is not None:
            _raise_refusal(refused)
        return kind

    def _plan(self, path: str, body: dict[str, Any]) -> tuple[str, FakeAnswer | None]:
        """The kind of answer and its plan (None for an embeddings answer), or the engine's refusal."""
        kind = self._admit(path, body)
        return kind, None if kind == EMBEDDING else plan(kind, body, self.config)

    def _deadline(self, timeout_s: float | None) -> float | None:
        """The absolute monotonic time a call with ``timeout_s`` must end by."""
        return None if timeout_s is None else self.clock.monotonic() + timeout_s

    def _request_id(self, kind: str) -> str:
        self._seq += 1
        return answer_id(kind, "memory", self._seq)

    async def stream(
        self, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> MemoryAnswerStream:
        """Start a streamed answer (the refusals are raised here, before any byte)."""
        kind, answer = self._plan(path, body)
        if answer is None:
            message = f"engine at {_URL} answered HTTP 400: embeddings are not streamed"
            raise EngineStatusError(message, status=400, error={"message": message, "param": "stream"})
        fmt = stream_format(
            kind,
            body,
            answer,
            request_id=self._request_id(kind),
            model=self.config.model,
            created=int(self.clock.time()),
        )
        steps: list[Step] = [] if kind == COMPLETION else [(None, fmt.first())]
        pieces = len(answer.pieces)
        error_after = self.config.error_after
        sent = pieces if error_after is None else min(error_after, pieces)
        failing = sent < pieces
        steps += [(i, fmt.event(i)) for i in range(sent)]
        steps.append((None, fmt.finish(answer)))
        deadline = self._deadline(timeout_s)
        usage = answer.usage if fmt.reports_usage and not failing else None
        failure = self._mid_stream_failure() if failing else None
        return MemoryAnswerStream(self, steps, usage, self.config, deadline, failure)

    def _mid_stream_failure(self) -> EngineStatusError:
        """The error `EngineClient` raises for the fake engine's in-stream error event (``error_after``)."""
        status = self.config.error_status
        message = f"fake engine failure mid-stream (configured status {status})"
        error = {"message": message, "type": "engine_error", "param": None, "code": status}
        return stream_error(error, _URL)

    async def complete(
        self, path: str, body: dict[str, Any] | FormBody, *, timeout_s: float | None = None
    ) -> EngineResponse:
        """A whole answer, after the time the fake engine would take to generate it."""
        if isinstance(body, FormBody):
            return self._transcribe(path, body)
        kind, answer = self._plan(path, body)
        if answer is None:
            data, usage = embedding_response(body, self.config)
            self.completed += 1
            return EngineResponse(status=200, body=msgspec.json.encode(data), data=data, usage=usage)
        steps: list[Step] = [(i, b"") for i in range(len(answer.pieces))] + [(None, b"")]
        async for _ in MemoryAnswerStream(self, steps, None, self.config, self._deadline(timeout_s)):
            pass  # paces, drops, hangs and times out exactly like a stream
        error_after = self.config.error_after
        if error_after is not None and error_after < len(answer.pieces):
            status = self.config.error_status
            message = f"fake engine failure mid-answer (configured status {status})"
            raise EngineStatusError(f"engine at {_URL} answered HTTP {status}: {message}", status=status)
        raw = whole_body(
            kind,
            body,
            answer,
            request_id=self._request_id(kind),
            model=self.config.model,
            created=int(self.clock.time()),
        )
        return EngineResponse(status=200, body=raw, data=msgspec.json.decode(raw), usage=answer.usage)

    def _transcribe(self, path: str, form: FormBody) -> EngineResponse:
        """A transcription, answered at once (`cocoon.engine.fake_transcription`)."""
        self._admit(path, form)
        answer = transcribe(form, self.config.model)
        if isinstance(answer, Rejection):
            _raise_refusal(answer)
        self.completed += 1
        usage = usage_from_openai(answer["usage"])
        return EngineResponse(status=200, body=msgspec.json.encode(answer), data=answer, usage=usage)

    async def health(self, *, within: float = 2.0) -> list[str]:
        """The one model this engine serves."""
        return [self.config.model]

    async def alive(self, *, within: float) -> None:
        """Always up: it answers in this process."""

    async def model_entries(self, *, within: float = 5.0) -> list[dict[str, Any]]:
        """The entry the fake HTTP engine lists for the same config."""
        return [model_entry(self.config)]

    async def serves(self, path: str, *, within: float = 2.0) -> bool:
        """The routes the fake HTTP engine has under the same config."""
        return route_kind(path, self.config) is not None

    async def close(self) -> None:
        """Nothing to release."""


def _raise_refusal(refused: Rejection) -> NoReturn:
    """Raise a refusal as `EngineClient` raises an engine's 4xx."""
    error: dict[str, object] = {
        "message": refused.message,
        "type": "invalid_request_error",
        "param": refused.param,
        "code": refused.code,
    }
    message = f"engine at {_URL} answered HTTP {refused.status}: {refused.message}"
    raise EngineStatusError(message, status=refused.status, error=error)


if TYPE_CHECKING:  # mypy proves that MemoryEngine implements the Engine protocol

    def _is_an_engine(engine: MemoryEngine) -> Engine:
        return engine

"""The `Engine` edge: what the worker needs from an inference engine, as a `typing.Protocol`.

`cocoon.engine.client.EngineClient` is the implementation (any OpenAI-compatible HTTP engine); the
fake engine (`cocoon.engine.fake`) is a real HTTP server behind the same client, so tests exercise
the same code path as production. A service depends on these protocols, never on aiohttp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from cocoon.api.multipart import FormBody
from cocoon.usage import Usage


class StreamedAnswer(Protocol):
    """A streamed answer: async-iterate it for bytes (whole SSE events), then read `usage`."""

    usage: Usage | None
    events: int

    @property
    def generated(self) -> int:
        """Generated pieces received so far (a content, reasoning or tool-argument delta of one choice):
        a lower bound on the completion tokens, metering a stream that ends before the engine's usage."""
        ...

    @property
    def done(self) -> bool:
        """Whether the engine ended the stream properly (``data: [DONE]``)."""
        ...

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None:
        """Stop early: abort the engine call so it stops generating."""
        ...


class CompleteAnswer(Protocol):
    """A non-streamed answer."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> bytes: ...

    @property
    def data(self) -> dict[str, Any]: ...

    @property
    def usage(self) -> Usage | None: ...


class Engine(Protocol):
    """An OpenAI-compatible engine the worker forwards requests to."""

    async def stream(
        self, path: str, body: dict[str, Any], *, timeout_s: float | None = None
    ) -> StreamedAnswer:
        """Start a streamed call; raises `EngineError` before the first byte if it cannot start.

        ``timeout_s`` bounds the whole call, in seconds from now (None: only the engine's own limits).
        """
        ...

    async def complete(
        self, path: str, body: dict[str, Any] | FormBody, *, timeout_s: float | None = None
    ) -> CompleteAnswer:
        """A non-streamed call, with a JSON body or a form (an audio transcription's)."""
        ...

    async def health(self, *, within: float = 2.0) -> list[str]:
        """The model ids the engine serves, or `EngineError` if it does not answer in time."""
        ...

    async def alive(self, *, within: float) -> None:
        """Return if the engine is up to take requests (its health route, else its model list), else
        raise `EngineError`; ``within`` bounds the probe, in seconds. The worker's health loop asks it."""
        ...

    async def model_entries(self, *, within: float = 5.0) -> list[dict[str, Any]]:
        """The engine's `/v1/models` entries as it lists them (vLLM adds ``max_model_len``)."""
        ...

    async def serves(self, path: str, *, within: float = 2.0) -> bool:
        """Whether the engine serves the OpenAI endpoint ``path``, found without generating anything;
        raises `EngineError` when the engine gives no answer in time."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

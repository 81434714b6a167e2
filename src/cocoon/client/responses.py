"""What the client's serving layer returns, as plain values an HTTP layer writes out.

A `WholeAnswer` is a complete response (status, headers, body): an error, a non-streamed answer or a
JSON document. An `EventStream` is a streamed answer: its headers at once, then SSE byte chunks to
send as they come, ``[DONE]`` last. Nothing here knows aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cocoon.errors import RequestError

JSON_TYPE = "application/json; charset=utf-8"
STREAM_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass(frozen=True, slots=True)
class WholeAnswer:
    """A complete HTTP response."""

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

    `aclose` (or leaving ``contextlib.aclosing``) before the end calls ``abandon``, which cancels the
    network request; closing a stream that ended, or was never read, is safe.

    `ending` turns true once the answer is over: the chunks left (the final event, ``[DONE]``) then
    come at once, with nothing to wait for, so a writer may send them together with the end of the
    response (one write instead of one each, none of them later).
    """

    def __init__(
        self,
        headers: dict[str, str],
        events: AsyncGenerator[bytes, None],
        abandon: Callable[[], Awaitable[None]],
    ) -> None:
        self.headers = headers
        self._events = events
        self._abandon = abandon
        self.ending = False
        """Whether the chunks still to come are all ready (the answer is over); set by the producer."""

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stop reading; cancels the request unless the stream already ended."""
        await self._events.aclose()
        # A never-started generator runs no cleanup when closed, so abandon here too (it acts once).
        await self._abandon()

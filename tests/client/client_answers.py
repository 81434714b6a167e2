"""Building blocks of scripted network answers and requests for the client's service tests."""

from __future__ import annotations

import json
from typing import Any

from cocoon.api.validation import ValidatedRequest, validate_request
from cocoon.client.serving import EventStream, WholeAnswer
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead, Usage
from cocoon.wire.sse import SseEvent, SseParser

MODEL = "m@1:abc"
USAGE = Usage(prompt_tokens=5, completion_tokens=2)
END = AnswerEnd(1, USAGE, adjusted_tokens=7, cost=7_000, prompt_cost=5_000)
CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
USAGE_EVENT = b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n'
BODY = json.dumps(
    {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {"total_tokens": 7},
    }
).encode()


def chat_body(*, stream: bool = True, usage: bool = False, model: str = MODEL) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    if stream:
        body["stream"] = True
    if usage:
        body["stream_options"] = {"include_usage": True}
    return body


def chat(*, stream: bool = True, usage: bool = False, model: str = MODEL) -> ValidatedRequest:
    body = chat_body(stream=stream, usage=usage, model=model)
    return validate_request("/v1/chat/completions", json.dumps(body).encode())


def head(status: int = 200, content_type: str = "text/event-stream", *extra: tuple[str, str]) -> AnswerHead:
    return AnswerHead(1, status, (("content-type", content_type), *extra))


def chunk(data: bytes) -> AnswerChunk:
    return AnswerChunk(1, data)


def error(status: int = 502, code: str = "upstream_error", message: str = "worker died") -> AnswerError:
    return AnswerError(1, status, code, message)


def events_of(raw: bytes) -> list[SseEvent]:
    """The events a caller's SSE parser reads from ``raw`` (the whole stream, ended)."""
    parser = SseParser()
    return [*parser.feed(raw), *parser.close()]


def data_of(raw: bytes) -> list[Any]:
    """The events' data, JSON-decoded except the ``[DONE]`` sentinel."""
    return [e.data if e.is_done else json.loads(e.data) for e in events_of(raw)]


def as_stream(answer: WholeAnswer | EventStream) -> EventStream:
    assert isinstance(answer, EventStream), answer
    return answer


def as_whole(answer: WholeAnswer | EventStream) -> WholeAnswer:
    assert isinstance(answer, WholeAnswer), answer
    return answer


async def read_all(stream: EventStream) -> list[bytes]:
    return [piece async for piece in stream]

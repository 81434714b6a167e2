"""`EngineStream` reads the usual chunk (whole one-line ``data:`` events) without building events and
relays it as it came: what it relays and notes (usage, generated pieces, events, the end, an error
event) is what the general parse gives for the same events with CRLF line ends."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.engine.stream import EngineStream
from cocoon.errors import EngineError, EngineStatusError

HEAD = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


class Body:
    """A response body that gives ``chunks`` one read at a time, then its end."""

    status = 200

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.released = self.aborted = False

    async def read(self) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""

    def release(self) -> None:
        self.released = True

    def abort(self) -> None:
        self.aborted = True


def event(doc: dict[str, Any] | str, end: bytes = b"\n") -> bytes:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return b"data: " + text.encode() + end + end


def piece(text: str) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": {"content": text}}]}


async def relay(chunks: list[bytes]) -> tuple[list[bytes], EngineStream, BaseException | None]:
    stream = EngineStream(Body(chunks), "http://engine")
    out: list[bytes] = []
    try:
        async for data in stream:
            out.append(data)
    except EngineError as exc:
        return out, stream, exc
    return out, stream, None


def facts(stream: EngineStream) -> tuple[object, ...]:
    return stream.usage, stream.generated, stream.events, stream.done


BURST = [piece("one "), piece("two "), {**HEAD, "choices": [], "usage": USAGE}, "[DONE]"]


@pytest.mark.parametrize("per_read", [1, 2, 4], ids=["paced", "pairs", "burst"])
async def test_a_stream_of_whole_events_is_relayed_as_it_came(per_read: int) -> None:
    events = [event(doc) for doc in BURST]
    chunks = [b"".join(events[i : i + per_read]) for i in range(0, len(events), per_read)]
    out, stream, error = await relay(chunks)
    assert error is None and out == chunks
    crlf = [b"".join(event(doc, b"\r\n") for doc in BURST)]
    general_out, general, _ = await relay(crlf)
    assert facts(stream) == facts(general) and general_out == crlf
    assert stream.usage is not None and stream.usage.completion_tokens == 2
    assert (stream.generated, stream.events, stream.done) == (2, 4, True)


async def test_an_error_event_in_a_burst_relays_the_events_before_it_only() -> None:
    error = {"error": {"message": "too long", "type": "BadRequestError", "param": "messages", "code": 400}}
    docs: list[dict[str, Any] | str] = [piece("one "), piece("two "), error, piece("three "), "[DONE]"]
    out, stream, caught = await relay([b"".join(event(doc) for doc in docs)])
    assert out == [event(docs[0]) + event(docs[1])]
    assert isinstance(caught, EngineStatusError) and caught.status == 400
    general_out, general, _ = await relay([b"".join(event(doc, b"\r\n") for doc in docs)])
    assert facts(stream) == facts(general) and (stream.generated, stream.events) == (2, 3)
    assert general_out == [event(docs[0], b"\r\n") + event(docs[1], b"\r\n")]


async def test_bytes_that_are_not_utf8_in_an_event_read_as_the_parser_reads_them() -> None:
    bad = b'data: {"choices": [{"index": 0, "delta": {"content": "\xff"}}]}\n\n'
    out, stream, error = await relay([bad + event("[DONE]")])
    assert error is None and out == [bad + event("[DONE]")]
    crlf = [bad.replace(b"\n", b"\r\n") + event("[DONE]", b"\r\n")]
    general_out, general, _ = await relay(crlf)
    assert facts(stream) == facts(general) and general_out == crlf and stream.generated == 1


async def test_an_event_that_is_not_json_is_an_engine_error_naming_it() -> None:
    out, stream, error = await relay([event(piece("one ")) + b"data: not json\n\n"])
    assert out == [] and isinstance(error, EngineError) and stream.events == 2
    assert "sent an event that is not JSON: 'not json'" in str(error)

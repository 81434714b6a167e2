"""Building blocks of scripted network answers and requests for the client's service tests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.api.validation import ValidatedRequest, validate_request
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.receipt import Receipt, sign_receipt
from cocoon.attestation.statement import make_statement, model_hash, sign_statement
from cocoon.client.responses import EventStream, WholeAnswer
from cocoon.proxy.admission import worker_attestation_headers
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerChunk, AnswerEnd, AnswerError, AnswerHead
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


NOW = 1_750_000_000


def signed_answer(
    key: Ed25519PrivateKey, events: list[bytes]
) -> Callable[[ValidatedRequest, int], list[Any]]:
    """A script whose worker (``key``, attested by the proxy's headers) signs a receipt over ``events``."""

    def script(request: ValidatedRequest, request_id: int) -> list[Any]:
        statement = sign_statement(make_statement(NOW, model_id=MODEL, model_hash=model_hash(MODEL)), key)
        peer = AttestedPeer(
            key.public_key().public_bytes_raw(), "fake", None, None, None, statement=statement
        )
        receipt = Receipt(
            1,
            f"{request_id:016x}",
            hashlib.sha256(request.engine_body_bytes()).digest(),
            hashlib.sha256(b"".join(events)).digest(),
            MODEL,
            USAGE.prompt_tokens,
            0,
            USAGE.completion_tokens,
            0,
            1000,
            NOW,
        )
        receipt_bytes = sign_receipt(receipt, key).encode()
        signed = AnswerEnd(1, USAGE, adjusted_tokens=7, cost=7_000, prompt_cost=5_000, receipt=receipt_bytes)
        return [
            head(200, "text/event-stream", *worker_attestation_headers(peer)),
            *map(chunk, events),
            signed,
        ]

    return script

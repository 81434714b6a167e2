"""The ASGI layer that gives llama-cpp-python's server a streamed usage chunk and a model-id check."""

from __future__ import annotations

import json
from typing import Any

from cocoon.engine.llama_usage import UsageMiddleware, current_generation
from cocoon.wire.sse import SseParser

MODEL = "tiny@rev:" + "ab" * 32


class FakeLlamaServer:
    """Stands in for llama-cpp-python's app: streams like sse-starlette and 'generates' 5 tokens."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        self.bodies.append(message["body"])
        count = current_generation()
        if count is not None:  # what the wrapped Llama.generate records
            count.prompt_tokens, count.completion_tokens = 11, 5
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 7, "model": MODEL, "choices": []}
        for piece in (
            b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n",
            b": ping - 2026\r\n\r\n",
            b"data: [DONE]\r\n\r\n",
        ):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def call(app: Any, body: dict[str, Any], path: str = "/v1/chat/completions") -> tuple[int, bytes]:
    raw = json.dumps(body).encode()
    messages = [
        {"type": "http.request", "body": raw[:5], "more_body": True},
        {"type": "http.request", "body": raw[5:]},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": "POST", "path": path}, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_usage_chunk_is_inserted_before_done() -> None:
    inner = FakeLlamaServer()
    body = {"model": MODEL, "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    status, out = await call(UsageMiddleware(inner, MODEL), body)
    assert status == 200
    assert inner.bodies == [json.dumps(body).encode()]  # the server got the whole body, unchanged
    events = SseParser().feed(out)
    assert [e.is_done for e in events] == [False, False, True]
    usage_chunk = json.loads(events[1].data)
    assert usage_chunk == {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": MODEL,
        "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16},
    }


async def test_no_usage_chunk_unless_asked() -> None:
    status, out = await call(UsageMiddleware(FakeLlamaServer(), MODEL), {"model": MODEL, "stream": True})
    assert status == 200
    assert [json.loads(e.data) if not e.is_done else None for e in SseParser().feed(out)][-1] is None
    assert b'"usage"' not in out


async def test_other_model_id_is_404() -> None:
    inner = FakeLlamaServer()
    status, out = await call(UsageMiddleware(inner, MODEL), {"model": "gpt-4", "messages": []})
    assert status == 404
    assert json.loads(out)["error"]["code"] == "model_not_found"
    assert inner.bodies == []  # never reached the model


class FakeModelList:
    """Stands in for llama-cpp-python's ``GET /v1/models``, which lists no context length."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "me"}]})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body.encode()})


async def list_models(app: Any) -> tuple[dict[str, Any], dict[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await app({"type": "http", "method": "GET", "path": "/v1/models"}, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return json.loads(body), dict(start["headers"])


async def test_the_model_list_gains_the_context_length_as_vllm_lists_it() -> None:
    listing, headers = await list_models(UsageMiddleware(FakeModelList(), MODEL, context_length=2048))
    assert listing["data"][0]["max_model_len"] == 2048
    assert int(headers[b"content-length"]) == len(json.dumps(listing).encode())


async def test_without_a_context_length_the_model_list_passes_unchanged() -> None:
    listing, _ = await list_models(UsageMiddleware(FakeModelList(), MODEL))
    assert "max_model_len" not in listing["data"][0]

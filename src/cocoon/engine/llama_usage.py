"""Streamed usage for llama-cpp-python's server, which ignores ``stream_options.include_usage``.

Metering a stream needs the engine's final usage chunk (spec/economics.md). llama-cpp-python 0.3's
server never sends one, so two small pieces add it around the unmodified server:

* `install_generation_counter` wraps ``Llama.generate`` to count, per request, the prompt tokens it
  was given and the tokens it produced (end-of-generation tokens excluded, exactly as the library's
  own non-streamed ``usage`` counts them). The counts go into a `GenerationCount` found through a
  context variable, which follows the request into the server's worker threads (anyio copies the
  context), so concurrent requests cannot mix their counts.
* `UsageMiddleware` (ASGI) reads the request; answers 404 for a model id it does not serve (the
  library would silently serve its default model under any name); and for a stream that asked for
  usage, inserts OpenAI's ``choices: []`` usage chunk right before ``data: [DONE]``; and adds the
  context length (``n_ctx``) to each ``GET /v1/models`` entry as ``max_model_len``, the way vLLM lists
  it (the library's list omits it), so the worker can declare it.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

from cocoon.wire.sse import SseParser, encode_event

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

INFERENCE_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})


@dataclass
class GenerationCount:
    """Tokens seen by ``Llama.generate`` for one request."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


_current: contextvars.ContextVar[GenerationCount | None] = contextvars.ContextVar("generation", default=None)


def current_generation() -> GenerationCount | None:
    """The counts of the request being served in this context (None outside a metered stream)."""
    return _current.get()


def install_generation_counter() -> None:
    """Wrap ``llama_cpp.Llama.generate`` (once per process) to fill the current `GenerationCount`."""
    import llama_cpp

    if getattr(llama_cpp.Llama.generate, "_cocoon_counting", False):
        return
    original = llama_cpp.Llama.generate

    def generate(self: Any, tokens: Any, *args: Any, **kwargs: Any) -> Iterator[int]:
        tokens = list(tokens)
        count = current_generation()
        if count is not None:
            count.prompt_tokens = len(tokens)
        inner = original(self, tokens, *args, **kwargs)
        try:
            for token in inner:
                if count is not None and not llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                    count.completion_tokens += 1
                yield token
        finally:
            inner.close()

    generate._cocoon_counting = True  # type: ignore[attr-defined]
    llama_cpp.Llama.generate = generate  # type: ignore[method-assign,assignment]


def _json_error(message: str, param: str | None, code: str | None) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    ).encode()


class UsageMiddleware:
    """ASGI middleware: model-id check and the streamed usage chunk (see the module docstring)."""

    def __init__(self, app: App, model_id: str, *, context_length: int | None = None) -> None:
        self.app = app
        self.model_id = model_id
        self.context_length = context_length

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.context_length is not None and _is_model_list(scope):
            await self._with_context_length(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in INFERENCE_PATHS:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            request = json.loads(body)
        except ValueError:
            request = None  # the server itself answers malformed JSON
        replay = _replay(body, receive)
        if isinstance(request, dict):
            model = request.get("model")
            if model is not None and model != self.model_id:
                message = f"The model `{model}` does not exist; this engine serves `{self.model_id}`."
                await _send_json(send, 404, _json_error(message, "model", "model_not_found"))
                return
            options = request.get("stream_options")
            if request.get("stream") and isinstance(options, dict) and options.get("include_usage"):
                await self._with_usage(scope, replay, send)
                return
        await self.app(scope, replay, send)

    async def _with_usage(self, scope: Scope, receive: Receive, send: Send) -> None:
        count = GenerationCount()
        token = _current.set(count)
        parser = SseParser()
        last_chunk: dict[str, Any] = {}

        async def send_with_usage(message: Message) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            out = bytearray()
            for event in parser.feed(message.get("body", b"")):
                if event.is_done:
                    out += encode_event(json.dumps(_usage_chunk(last_chunk, count)))
                else:
                    with contextlib.suppress(ValueError):  # not JSON: nothing to learn from it
                        last_chunk.update(json.loads(event.data))
                out += event.raw
            await send({**message, "body": bytes(out)})

        try:
            await self.app(scope, receive, send_with_usage)
        finally:
            _current.reset(token)

    async def _with_context_length(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        body = bytearray()

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
            else:
                await send(message)

        await self.app(scope, receive, collect)
        if start is None:
            return  # the server sent no response: nothing to amend
        out = _with_max_model_len(bytes(body), self.context_length) if start["status"] == 200 else bytes(body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(out)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": out})


def _is_model_list(scope: Scope) -> bool:
    return bool(scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/v1/models")


def _with_max_model_len(body: bytes, context_length: int | None) -> bytes:
    """A `/v1/models` list with ``max_model_len`` added to each entry (unchanged if it is not one)."""
    try:
        listing = json.loads(body)
    except ValueError:
        return body
    entries = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(entries, list):
        return body
    for entry in entries:
        if isinstance(entry, dict):
            entry.setdefault("max_model_len", context_length)
    return json.dumps(listing).encode()


def _usage_chunk(last: dict[str, Any], count: GenerationCount) -> dict[str, Any]:
    """OpenAI's final usage chunk, with the stream's id, object, created and model."""
    chunk: dict[str, Any] = {key: last[key] for key in ("id", "object", "created", "model") if key in last}
    chunk["choices"] = []
    chunk["usage"] = {
        "prompt_tokens": count.prompt_tokens,
        "completion_tokens": count.completion_tokens,
        "total_tokens": count.prompt_tokens + count.completion_tokens,
    }
    return chunk


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that first returns the already-read body, then the real channel (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""OpenAI response shapes for the fake engine, pre-encoded so streaming costs almost nothing (pure).

`StreamFormat` builds every SSE event of one streamed answer as bytes. Content events differ only in
their text, so each one is a fixed prefix + the JSON-encoded text + a fixed suffix, and each distinct
text is encoded once per request. Shapes follow OpenAI's ``chat.completion.chunk`` and streamed
``text_completion`` objects, including ``"usage": null`` on every chunk when the caller asked for
``stream_options.include_usage`` and a final ``choices: []`` chunk that carries the usage.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cocoon.engine.fake_answer import CHAT, FakeAnswer
from cocoon.engine.usage import usage_to_openai
from cocoon.wire.sse import DONE_EVENT, encode_event

_json = msgspec.json.Encoder()


def _sse(obj: dict[str, Any]) -> bytes:
    return encode_event(_json.encode(obj))


class StreamFormat:
    """The SSE events of one streamed answer (chat or legacy completion)."""

    def __init__(self, kind: str, *, request_id: str, model: str, created: int, include_usage: bool) -> None:
        self.kind = kind
        self._include_usage = include_usage
        self._head: dict[str, Any] = {
            "id": request_id,
            "object": "chat.completion.chunk" if kind == CHAT else "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        sample = self._chunk(self._choice("\x00"))
        prefix, _, suffix = _sse(sample).partition(_json.encode("\x00"))
        self._prefix, self._suffix = prefix, suffix
        self._cache: dict[str, bytes] = {}

    def _choice(self, text: str | None, finish_reason: str | None = None) -> dict[str, Any]:
        if self.kind == CHAT:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def _chunk(self, choice: dict[str, Any] | None) -> dict[str, Any]:
        chunk = {**self._head, "choices": [] if choice is None else [choice]}
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def first(self) -> bytes:
        """The opening event: the assistant role for chat (OpenAI sends it alone), nothing otherwise."""
        if self.kind != CHAT:
            return b""
        delta = {"role": "assistant", "content": ""}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return _sse(self._chunk(choice))

    def content(self, text: str) -> bytes:
        """One content event; the encoding of each distinct text is cached."""
        event = self._cache.get(text)
        if event is None:
            event = self._prefix + _json.encode(text) + self._suffix
            self._cache[text] = event
        return event

    def finish(self, answer: FakeAnswer) -> bytes:
        """The closing events: the finish reason, the usage chunk if asked for, and ``[DONE]``."""
        out = _sse(self._chunk(self._choice(None, answer.finish_reason)))
        if self._include_usage:
            out += _sse({**self._head, "choices": [], "usage": usage_to_openai(answer.usage)})
        return out + DONE_EVENT

    @staticmethod
    def error(message: str, error_type: str = "server_error") -> bytes:
        """An in-stream error event (what engines send when they fail after the stream started)."""
        return _sse({"error": {"message": message, "type": error_type, "param": None, "code": None}})


def full_response(kind: str, answer: FakeAnswer, *, request_id: str, model: str, created: int) -> bytes:
    """The JSON body of a non-streamed answer."""
    if kind == CHAT:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer.text},
            "logprobs": None,
            "finish_reason": answer.finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": answer.text, "logprobs": None, "finish_reason": answer.finish_reason}
        obj = "text_completion"
    return _json.encode(
        {
            "id": request_id,
            "object": obj,
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [choice],
            "usage": usage_to_openai(answer.usage),
        }
    )


def error_body(message: str, *, error_type: str, param: str | None = None, code: Any = None) -> bytes:
    """An OpenAI error body."""
    return _json.encode({"error": {"message": message, "type": error_type, "param": param, "code": code}})

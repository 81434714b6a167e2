"""OpenAI response shapes for the fake engine, pre-encoded so streaming costs almost nothing (pure).

`StreamFormat` builds every SSE event of one streamed answer as bytes. Content events differ only in
their text and choice index, so each one is a fixed prefix per choice + the JSON-encoded text + a
fixed suffix, and each distinct text is encoded once per request. Shapes follow OpenAI's
``chat.completion.chunk`` and streamed ``text_completion`` objects, including ``"usage": null`` on
every chunk when the caller asked for ``stream_options.include_usage`` and a final ``choices: []``
chunk that carries the usage. With ``n`` choices every event is sent once per choice, each chunk
carrying one choice by its ``index``, as vLLM streams them.
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

    def __init__(
        self, kind: str, *, request_id: str, model: str, created: int, include_usage: bool, choices: int = 1
    ) -> None:
        self.kind = kind
        self._include_usage = include_usage
        self._choices = range(choices)
        self._head: dict[str, Any] = {
            "id": request_id,
            "object": "chat.completion.chunk" if kind == CHAT else "text_completion",
            "created": created,
            "model": model,
            "system_fingerprint": None,
        }
        self._frames: list[tuple[bytes, bytes]] = []  # per choice: the bytes before and after the text
        for index in self._choices:
            sample = self._chunk(self._choice("\x00", index=index))
            prefix, _, suffix = _sse(sample).partition(_json.encode("\x00"))
            self._frames.append((prefix, suffix))
        self._cache: dict[str, bytes] = {}

    def _choice(self, text: str | None, finish_reason: str | None = None, *, index: int) -> dict[str, Any]:
        if self.kind == CHAT:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def _chunk(self, choice: dict[str, Any] | None) -> dict[str, Any]:
        chunk = {**self._head, "choices": [] if choice is None else [choice]}
        if self._include_usage:
            chunk["usage"] = None
        return chunk

    def first(self) -> bytes:
        """The opening events: the assistant role for chat (OpenAI sends it alone), nothing otherwise."""
        if self.kind != CHAT:
            return b""
        delta = {"role": "assistant", "content": ""}
        return b"".join(
            _sse(self._chunk({"index": i, "delta": delta, "logprobs": None, "finish_reason": None}))
            for i in self._choices
        )

    def content(self, text: str) -> bytes:
        """The content event of ``text``, once per choice; the encoding of each distinct text is cached."""
        events = self._cache.get(text)
        if events is None:
            encoded = _json.encode(text)
            events = b"".join(prefix + encoded + suffix for prefix, suffix in self._frames)
            self._cache[text] = events
        return events

    def finish(self, answer: FakeAnswer) -> bytes:
        """The closing events: each choice's finish reason, the usage chunk if asked for, and ``[DONE]``."""
        out = b"".join(
            _sse(self._chunk(self._choice(None, answer.finish_reason, index=i))) for i in self._choices
        )
        if self._include_usage:
            out += _sse({**self._head, "choices": [], "usage": usage_to_openai(answer.usage)})
        return out + DONE_EVENT

    @staticmethod
    def error(message: str, error_type: str = "server_error") -> bytes:
        """An in-stream error event (what engines send when they fail after the stream started)."""
        return _sse({"error": {"message": message, "type": error_type, "param": None, "code": None}})


def full_response(kind: str, answer: FakeAnswer, *, request_id: str, model: str, created: int) -> bytes:
    """The JSON body of a non-streamed answer."""
    content: dict[str, Any] = (
        {"message": {"role": "assistant", "content": answer.text}} if kind == CHAT else {"text": answer.text}
    )
    choices = [
        {"index": index, **content, "logprobs": None, "finish_reason": answer.finish_reason}
        for index in range(answer.choices)
    ]
    obj = "chat.completion" if kind == CHAT else "text_completion"
    return _json.encode(
        {
            "id": request_id,
            "object": obj,
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": choices,
            "usage": usage_to_openai(answer.usage),
        }
    )


def error_body(message: str, *, error_type: str, param: str | None = None, code: Any = None) -> bytes:
    """An OpenAI error body."""
    return _json.encode({"error": {"message": message, "type": error_type, "param": param, "code": code}})

"""OpenAI response shapes for the fake engine, pre-encoded so streaming costs almost nothing (pure).

`StreamFormat` builds every SSE event of one streamed answer as bytes. Content events differ only in
their text and choice index, so each one is a fixed prefix per choice + the JSON-encoded text + a
fixed suffix, and each distinct text is encoded once per request. Shapes follow OpenAI's
``chat.completion.chunk`` and streamed ``text_completion`` objects, including ``"usage": null`` on
every chunk when the caller asked for ``stream_options.include_usage`` and a final ``choices: []``
chunk that carries the usage. With ``n`` choices every event is sent once per choice, each chunk
carrying one choice by its ``index``, as vLLM streams them.

That fast path serves plain text answers. A tool call or log-probabilities take a slower, generic one
(each chunk built and encoded whole): a tool call opens, after the role chunk, with a chunk carrying
the call's id, type, name and empty arguments, then each piece is a ``tool_calls`` delta of argument
text; with log-probabilities each content chunk carries its piece's (`cocoon.engine.fake_logprobs`).
A whole answer's tool call has null ``content`` and the call in ``message.tool_calls``.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from cocoon.engine.fake_answer import CHAT, FakeAnswer
from cocoon.engine.fake_logprobs import chat_entry, chat_logprobs, completion_logprobs
from cocoon.engine.tool_calls import tool_call, tool_call_id
from cocoon.engine.usage import usage_to_openai
from cocoon.wire.sse import DONE_EVENT, encode_event

_json = msgspec.json.Encoder()


def _sse(obj: dict[str, Any]) -> bytes:
    return encode_event(_json.encode(obj))


class StreamFormat:
    """The SSE events of one streamed answer (chat or legacy completion)."""

    def __init__(
        self, kind: str, answer: FakeAnswer, *, request_id: str, model: str, created: int, include_usage: bool
    ) -> None:
        self.kind = kind
        self._answer = answer
        self._include_usage = include_usage
        self._choices = range(answer.choices)
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
        self._offsets: list[int] = []  # where each piece starts in the text (completion logprobs)

    @property
    def reports_usage(self) -> bool:
        """Whether the stream ends with a usage chunk (the caller asked for ``include_usage``)."""
        return self._include_usage

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
        """The opening events: the assistant role for chat (OpenAI sends it alone), then the head of a
        tool call (its id, type, name and no arguments yet); nothing for a completion."""
        if self.kind != CHAT:
            return b""
        delta = {"role": "assistant", "content": ""}
        out = b"".join(_sse(self._chunk(self._delta_choice(delta, None, i))) for i in self._choices)
        return out + b"".join(self._tool_head(i) for i in self._choices if self._answer.tool)

    def _tool_head(self, index: int) -> bytes:
        name, arguments = self._answer.tool or "", self._answer.text
        call = {"index": 0, "id": tool_call_id(name, arguments, index), "type": "function"}
        delta = {"tool_calls": [{**call, "function": {"name": name, "arguments": ""}}]}
        return _sse(self._chunk(self._delta_choice(delta, None, index)))

    @staticmethod
    def _delta_choice(delta: dict[str, Any], logprobs: Any, index: int) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": None}

    def content(self, text: str) -> bytes:
        """The content event of ``text``, once per choice; the encoding of each distinct text is cached."""
        events = self._cache.get(text)
        if events is None:
            encoded = _json.encode(text)
            events = b"".join(prefix + encoded + suffix for prefix, suffix in self._frames)
            self._cache[text] = events
        return events

    def event(self, i: int) -> bytes:
        """The content event of the answer's piece ``i``, once per choice (fast for a plain answer)."""
        text = self._answer.pieces[i]
        if self._answer.plain:
            return self.content(text)
        return b"".join(_sse(self._chunk(self._piece_choice(text, i, index))) for index in self._choices)

    def _piece_choice(self, text: str, i: int, index: int) -> dict[str, Any]:
        top = self._answer.logprobs
        if self.kind != CHAT:
            logprobs = None if top is None else completion_logprobs((text,), top, i, self._offset(i))
            return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": None}
        delta: dict[str, Any] = (
            {"tool_calls": [{"index": 0, "function": {"arguments": text}}]}
            if self._answer.tool
            else {"content": text}
        )
        return self._delta_choice(
            delta, None if top is None else {"content": [chat_entry(text, i, top)]}, index
        )

    def _offset(self, i: int) -> int:
        if not self._offsets:
            self._offsets = [0, *itertools.accumulate(len(p) for p in self._answer.pieces)]
        return self._offsets[i]

    def finish(self, answer: FakeAnswer) -> bytes:
        """The closing events: each choice's finish reason, the usage chunk if asked for, and ``[DONE]``."""
        out = b"".join(
            _sse(self._chunk(self._choice(None, answer.finish_reason, index=i))) for i in self._choices
        )
        if self._include_usage:
            out += _sse({**self._head, "choices": [], "usage": usage_to_openai(answer.usage)})
        return out + DONE_EVENT

    @staticmethod
    def error(message: str, error_type: str = "server_error", code: int | None = None) -> bytes:
        """An in-stream error event (what engines send when they fail after the stream started)."""
        return _sse({"error": {"message": message, "type": error_type, "param": None, "code": code}})

    def failure(self, status: int) -> bytes:
        """How vLLM ends a stream that fails mid-answer: an error event carrying ``status`` as its
        ``code``, then ``[DONE]`` (no finish reason, no usage)."""
        error_type = "BadRequestError" if status < 500 else "InternalServerError"
        message = f"fake engine failure mid-stream (configured status {status})"
        return self.error(message, error_type, status) + DONE_EVENT


def _message(kind: str, answer: FakeAnswer, index: int) -> dict[str, Any]:
    """Choice ``index``'s answer: the completion text, or the chat message (text or tool call)."""
    if kind != CHAT:
        return {"text": answer.text}
    if answer.tool is None:
        return {"message": {"role": "assistant", "content": answer.text}}
    call = tool_call(answer.tool, answer.text, index)
    return {"message": {"role": "assistant", "content": None, "tool_calls": [call]}}


def _logprobs(kind: str, answer: FakeAnswer) -> dict[str, Any] | None:
    """A whole choice's ``logprobs`` (None unless asked for)."""
    if answer.logprobs is None:
        return None
    if kind == CHAT:
        return chat_logprobs(answer.pieces, answer.logprobs)
    return completion_logprobs(answer.pieces, answer.logprobs)


def full_response(kind: str, answer: FakeAnswer, *, request_id: str, model: str, created: int) -> bytes:
    """The JSON body of a non-streamed answer."""
    logprobs = _logprobs(kind, answer)
    choices = [
        {
            "index": index,
            **_message(kind, answer, index),
            "logprobs": logprobs,
            "finish_reason": answer.finish_reason,
        }
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

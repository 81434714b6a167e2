"""The fake engine's own ``/v1/responses`` route, answered the way vLLM does (pure).

vLLM serves the Responses API natively; so does the fake engine (unless configured with
``responses=False``, as an engine that serves only chat completions). Its answer to a Responses body is
its answer to the chat completions body the body translates to (`cocoon.api.responses_request`), in the
Responses API's shapes: a ``response`` object, or the stream of typed events that ends with
``response.completed`` (no ``[DONE]``) and carries the usage there. A body that does not translate is a
400 naming the field, as an engine refuses what it does not take.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cocoon.api.responses_answer import ResponseEvents, encode_events, response_from_chat
from cocoon.api.responses_request import chat_request
from cocoon.engine.fake_answer import CHAT, FakeAnswer, Rejection
from cocoon.engine.fake_format import StreamFormat, full_response
from cocoon.errors import RequestError
from cocoon.wire.sse import SseParser

RESPONSE = "response"
_json = msgspec.json.Encoder()


def chat_body(body: dict[str, Any]) -> dict[str, Any] | Rejection:
    """The chat completions body a Responses ``body`` stands for, or the engine's refusal."""
    try:
        return chat_request(body)
    except RequestError as exc:
        return Rejection(400, exc.message, exc.param)


class ResponsesFormat:
    """The Responses API stream of one answer: `StreamFormat`'s chat events, as typed events.

    Same interface as `StreamFormat` (`first`, `event`, `finish`), so the fake engines pace, drop and
    hang it the same way.
    """

    def __init__(
        self, body: dict[str, Any], answer: FakeAnswer, *, response_id: str, model: str, created: int
    ):
        self._chat = StreamFormat(
            CHAT, answer, request_id=response_id, model=model, created=created, include_usage=True
        )
        self._events = ResponseEvents({**body, "model": model}, response_id=response_id, created_at=created)
        self._parser = SseParser()

    reports_usage = True
    """A Responses stream always ends with the usage (in ``response.completed``)."""

    def _translate(self, chat: bytes) -> list[dict[str, Any]]:
        return [
            e
            for event in self._parser.feed(chat)
            if not event.is_done
            for e in self._events.feed(msgspec.json.decode(event.data))
        ]

    def first(self) -> bytes:
        """``response.created``, ``response.in_progress`` and whatever the chat opening translates to."""
        return encode_events(self._events.opening() + self._translate(self._chat.first()))

    def event(self, i: int) -> bytes:
        """The events of the answer's piece ``i``."""
        return encode_events(self._translate(self._chat.event(i)))

    def finish(self, answer: FakeAnswer) -> bytes:
        """The items' ``done`` events and ``response.completed`` (or ``.incomplete``) with the usage."""
        return encode_events(self._translate(self._chat.finish(answer)) + self._events.closing(answer.usage))

    def failure(self, status: int) -> bytes:
        """A Responses stream that fails mid-answer: an ``error`` event carrying ``status`` as its code."""
        message = f"fake engine failure mid-stream (configured status {status})"
        return encode_events([{"type": "error", "code": status, "message": message, "param": None}])


def response_body(
    body: dict[str, Any], answer: FakeAnswer, *, response_id: str, model: str, created: int
) -> bytes:
    """The ``response`` object of a whole answer."""
    chat = msgspec.json.decode(
        full_response(CHAT, answer, request_id=response_id, model=model, created=created)
    )
    response = response_from_chat(body, chat, answer.usage, response_id=response_id, created_at=created)
    return _json.encode(response)

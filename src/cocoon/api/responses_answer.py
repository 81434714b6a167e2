"""OpenAI's Responses API from chat completions: the answer side (pure).

For an engine that serves only chat completions, the worker translates the request
(`cocoon.api.responses_request`) and the answer back with this module: `response_from_chat` turns a
whole chat answer into a ``response`` object; `ResponseEvents` turns streamed chat chunks into the
Responses API's typed events, in OpenAI's order (``response.created``, ``response.in_progress``, per
output item ``output_item.added``, its content or argument deltas and ``done`` events, then
``response.completed`` or ``response.incomplete``), each with its ``sequence_number``;
`encode_events` frames them as OpenAI does.

No I/O, no clock, no randomness: ids and times are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cocoon.api.responses_request import reasoning_effort
from cocoon.errors import EngineError
from cocoon.usage import Usage
from cocoon.wire.sse import encode_event

__all__ = ["RESPONSE_ENDS", "ResponseEvents", "encode_events", "response_from_chat", "response_usage"]

INCOMPLETE_REASON = "max_output_tokens"
COMPLETED, INCOMPLETE = "response.completed", "response.incomplete"
RESPONSE_ENDS = frozenset({COMPLETED, INCOMPLETE})
"""The events that end a Responses API stream properly (it sends no ``[DONE]``) and carry its usage."""
_json = msgspec.json.Encoder()


def encode_events(events: list[dict[str, Any]]) -> bytes:
    """Responses API events as SSE, each named by its type (``event: response.created``), as OpenAI."""
    return b"".join(encode_event(_json.encode(e), event=e["type"]) for e in events)


def response_usage(usage: Usage) -> dict[str, Any]:
    """The Responses API's ``usage`` object for these counts."""
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }


def _shell(body: Mapping[str, Any], response_id: str, created_at: int, model: str) -> dict[str, Any]:
    """A ``response`` object in progress: what the request set, no output yet."""
    effort = reasoning_effort(body)
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": effort, "summary": None},
        "store": False,
        "temperature": body.get("temperature"),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p"),
        "truncation": body.get("truncation") or "disabled",
        "usage": None,
        "user": body.get("user"),
        "metadata": body.get("metadata") or {},
    }


def _finished(shell: dict[str, Any], output: list[dict[str, Any]], reason: Any, usage: Usage | None) -> None:
    """Complete ``shell`` in place: its output, status (incomplete when the cap cut it) and usage."""
    shell["output"] = output
    if reason == "length":
        shell["status"] = "incomplete"
        shell["incomplete_details"] = {"reason": INCOMPLETE_REASON}
    else:
        shell["status"] = "completed"
    shell["usage"] = response_usage(usage) if usage is not None else None


def _message_item(item_id: str, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": [part]}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def response_from_chat(
    body: Mapping[str, Any],
    answer: Mapping[str, Any],
    usage: Usage | None,
    *,
    response_id: str,
    created_at: int,
) -> dict[str, Any]:
    """The ``response`` object for a whole chat completions ``answer`` to the translated ``body``.

    Raises `EngineError` when ``answer`` is not a chat completion.
    """
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise EngineError("the engine's chat answer has no choices; it cannot become a response")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise EngineError("the engine's chat answer has no message; it cannot become a response")
    stem = response_id.removeprefix("resp_")
    output: list[dict[str, Any]] = []
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise EngineError("the engine's chat answer has tool_calls that are not a list")
    content = message.get("content")
    if (isinstance(content, str) and content) or not calls:
        output.append(_message_item(f"msg_{stem}", content if isinstance(content, str) else "", "completed"))
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise EngineError("the engine's chat answer has a tool call without a function")
        output.append(
            _call_item(
                f"fc_{stem}_{index}",
                str(call.get("id") or f"call_{stem}_{index}"),
                str(function.get("name")),
                str(function.get("arguments") or ""),
                "completed",
            )
        )
    response = _shell(body, response_id, created_at, str(answer.get("model") or body["model"]))
    _finished(response, output, choice.get("finish_reason"), usage)
    return response


@dataclass
class _Item:
    """One output item being streamed: a message (text) or a function call (arguments)."""

    output_index: int
    item_id: str
    call_id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)

    @property
    def is_call(self) -> bool:
        return bool(self.call_id)

    def whole(self, status: str) -> dict[str, Any]:
        """The item as it stands: ``in_progress`` items are announced empty, ``completed`` ones whole."""
        text = "".join(self.pieces)
        if self.is_call:
            return _call_item(self.item_id, self.call_id, self.name, text, status)
        item = _message_item(self.item_id, text, status)
        if status != "completed":
            item["content"] = []
        return item


class ResponseEvents:
    """The Responses API's stream events for one streamed chat answer, built as its chunks arrive.

    Call `opening` once, `feed` with each chat chunk (parsed JSON), then `closing` with the usage the
    engine reported. Each returns the events (dicts with ``type`` and ``sequence_number``) to send.
    Only choice 0 is read: a Responses request never asks for several choices.
    """

    def __init__(self, body: Mapping[str, Any], *, response_id: str, created_at: int) -> None:
        self._body = body
        self._response = _shell(body, response_id, created_at, str(body["model"]))
        self._stem = response_id.removeprefix("resp_")
        self._sequence = 0
        self._items: list[_Item] = []
        self._text: _Item | None = None
        self._calls: dict[int, _Item] = {}
        self._finish_reason: Any = None

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def opening(self) -> list[dict[str, Any]]:
        """``response.created`` and ``response.in_progress``."""
        return [
            self._event("response.created", response=dict(self._response)),
            self._event("response.in_progress", response=dict(self._response)),
        ]

    def feed(self, chunk: Any) -> list[dict[str, Any]]:
        """The events for one chat chunk (none for the usage chunk or an empty delta)."""
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return []
        if choices[0].get("index", 0) != 0:
            return []
        choice = choices[0]
        self._finish_reason = choice.get("finish_reason") or self._finish_reason
        delta: dict[str, Any] = choice["delta"] if isinstance(choice.get("delta"), dict) else {}
        events: list[dict[str, Any]] = []
        if isinstance(delta.get("content"), str) and delta["content"]:
            events += self._text_delta(delta["content"])
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict):
                events += self._call_delta(call)
        return events

    def _add(self, item: _Item) -> dict[str, Any]:
        self._items.append(item)
        return self._event(
            "response.output_item.added", output_index=item.output_index, item=item.whole("in_progress")
        )

    def _text_delta(self, text: str) -> list[dict[str, Any]]:
        events = []
        item = self._text
        if item is None:
            item = self._text = _Item(len(self._items), f"msg_{self._stem}")
            events.append(self._add(item))
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(self._part_event("response.content_part.added", item, part=part))
        item.pieces.append(text)
        events.append(self._part_event("response.output_text.delta", item, delta=text, logprobs=[]))
        return events

    def _part_event(self, kind: str, item: _Item, **fields: Any) -> dict[str, Any]:
        return self._event(
            kind, item_id=item.item_id, output_index=item.output_index, content_index=0, **fields
        )

    def _call_delta(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        index = call.get("index")
        index = index if isinstance(index, int) else 0  # an engine's chunk is not trusted to be well formed
        function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
        item = self._calls.get(index)
        if item is None:
            n = len(self._calls)
            call_id = str(call.get("id") or f"call_{self._stem}_{n}")
            item = _Item(len(self._items), f"fc_{self._stem}_{n}", call_id, str(function.get("name") or ""))
            self._calls[index] = item
            events.append(self._add(item))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.pieces.append(arguments)
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=item.item_id,
                    output_index=item.output_index,
                    delta=arguments,
                )
            )
        return events

    def closing(self, usage: Usage | None) -> list[dict[str, Any]]:
        """Each item's ``done`` events, then ``response.completed`` (or ``response.incomplete``)."""
        if not self._items:  # an empty answer is still one (empty) message, as a whole answer has
            self._text = _Item(0, f"msg_{self._stem}")
            events = [self._add(self._text)]
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append(self._part_event("response.content_part.added", self._text, part=part))
        else:
            events = []
        for item in self._items:
            events += self._done(item)
        response = dict(self._response)
        _finished(response, [item.whole("completed") for item in self._items], self._finish_reason, usage)
        kind = INCOMPLETE if response["status"] == "incomplete" else COMPLETED
        events.append(self._event(kind, response=response))
        return events

    def _done(self, item: _Item) -> list[dict[str, Any]]:
        whole = item.whole("completed")
        if item.is_call:
            done = self._event(
                "response.function_call_arguments.done",
                item_id=item.item_id,
                output_index=item.output_index,
                name=item.name,
                arguments=whole["arguments"],
            )
            return [
                done,
                self._event("response.output_item.done", output_index=item.output_index, item=whole),
            ]
        part = whole["content"][0]
        return [
            self._part_event("response.output_text.done", item, text=part["text"], logprobs=[]),
            self._part_event("response.content_part.done", item, part=part),
            self._event("response.output_item.done", output_index=item.output_index, item=whole),
        ]

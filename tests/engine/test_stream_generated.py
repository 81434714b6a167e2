"""`generated_in`: what one engine event generated, the lower bound a broken stream is metered by."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.engine.generated import count_generated
from cocoon.errors import InvalidUsageError
from cocoon.usage import Usage, delivered_usage


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events)


def chat(**delta: Any) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]}


@pytest.mark.parametrize(
    ("events", "pieces"),
    [
        ([chat(role="assistant", content="")], 0),  # the opening role event
        ([chat(content="Hello")], 1),
        ([chat(reasoning_content="hmm")], 1),  # vLLM's reasoning parser
        ([chat(reasoning="hmm")], 1),  # llama.cpp's and newer vLLM's spelling
        ([chat(tool_calls=[{"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}])], 0),
        ([chat(tool_calls=[{"index": 0, "function": {"arguments": '{"a'}}])], 1),
        ([{"choices": [{"index": 0, "text": "a"}, {"index": 1, "text": "b"}]}], 2),  # n=2 completions
        ([{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}], 0),
        ([{"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}], 0),
        ([{"type": "response.output_text.delta", "delta": "Hi"}], 1),
        ([{"type": "response.output_text.done", "text": "Hi"}], 0),
        ([{"choices": "nonsense"}, {"choices": [None, {"delta": "x"}]}], 0),  # never trusted
    ],
)
def test_generated_pieces(events: list[dict[str, Any]], pieces: int) -> None:
    assert count_generated(sse(*events)) == pieces


def test_a_done_event_generates_nothing() -> None:
    assert count_generated(sse(chat(content="a")) + b"data: [DONE]\n\n") == 1


def test_delivered_usage_estimates_the_prompt_and_charges_nothing_for_nothing() -> None:
    assert delivered_usage(9, 3) == Usage(prompt_tokens=3, completion_tokens=3)  # ceil(9 / 4)
    assert delivered_usage(8, 1) == Usage(prompt_tokens=2, completion_tokens=1)
    assert delivered_usage(1000, 0) is None
    with pytest.raises(InvalidUsageError):
        delivered_usage(-1, 1)

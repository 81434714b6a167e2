"""Which streamed chunk is the usage chunk: the byte-level shortcut agrees with parsing the JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.client.openai_out import is_usage_chunk

USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}


def _parsed(payload: bytes) -> bool:
    chunk = json.loads(payload)
    return chunk.get("usage") is not None and not chunk.get("choices")


def _delta(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


CHUNKS: list[dict[str, Any]] = [
    {**_delta("hi"), "usage": None},
    {**_delta('"usage":null'), "usage": None},  # the marker inside content is escaped
    {**_delta('"usage": {"total_tokens": 1}'), "usage": None},
    {"choices": [], "usage": USAGE},
    {"choices": [], "usage": USAGE, "note": '"usage":null'},
    _delta("no usage key"),
    {**_delta("x"), "usage": USAGE},  # usage on a content chunk: not the usage-only chunk
]


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_shortcut_agrees_with_the_parsed_chunk(chunk: dict[str, Any], separators: tuple[str, str]) -> None:
    payload = json.dumps(chunk, separators=separators).encode()
    assert is_usage_chunk(payload) == _parsed(payload)

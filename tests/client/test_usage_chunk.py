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


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"choices":[],"usage":{"total_tokens":NaN}}', True),  # the json module reads it, msgspec not
        (b'{"choices":[],"usage":{"total_tokens":1e999}}', True),
        (b'{"choices":[],"usage":{"total_tokens":5}', False),  # cut short: no JSON at all
        (b'["usage", 1]', False),
    ],
)
def test_chunks_only_the_json_module_reads_are_judged_the_same(payload: bytes, expected: bool) -> None:
    assert is_usage_chunk(payload) is expected

"""Reading OpenAI's usage object: the engine's spellings, and its impossible counts refused as EngineError."""

from __future__ import annotations

import pytest

from cocoon.engine.usage import usage_from_openai, usage_to_openai
from cocoon.errors import EngineError, InvalidUsageError
from cocoon.usage import Usage


def test_both_spellings_of_reasoning_tokens_are_read() -> None:
    nested = {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    flat = {"prompt_tokens": 10, "completion_tokens": 5, "reasoning_tokens": 2}
    assert usage_from_openai(nested) == Usage(10, 4, 5, 2)
    assert usage_from_openai(flat) == Usage(10, 0, 5, 2)
    assert usage_from_openai(usage_to_openai(Usage(10, 4, 5, 2))) == Usage(10, 4, 5, 2)


@pytest.mark.parametrize(
    ("usage", "why"),
    [
        (
            {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 2}},
            "cached_tokens \\(2\\) exceeds",
        ),
        ({"completion_tokens": 1, "reasoning_tokens": 3}, "reasoning_tokens \\(3\\) exceeds"),
        ({"prompt_tokens": -1}, "expected a non-negative integer"),
    ],
)
def test_impossible_counts_are_an_engine_error(usage: dict[str, object], why: str) -> None:
    with pytest.raises(EngineError, match=why):
        usage_from_openai(usage)


def test_usage_built_in_code_holds_its_invariants() -> None:
    with pytest.raises(InvalidUsageError, match="cached_tokens"):
        Usage(prompt_tokens=1, cached_tokens=2)
    with pytest.raises(InvalidUsageError, match="must not be negative"):
        Usage(completion_tokens=-1)

"""The fake engine's answer plan: text, cap and token counts follow the documented rules."""

from __future__ import annotations

import pytest

from cocoon.engine.fake_answer import FakeEngineConfig, piece, plan_answer
from cocoon.errors import ConfigError


def test_chat_words_come_from_the_last_message_and_tokens_from_all() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "x" * 10},
            {"role": "user", "content": [{"type": "text", "text": "cat dog"}, {"type": "image_url"}]},
        ]
    }
    answer = plan_answer(body, FakeEngineConfig(chunks=3))
    assert answer.pieces == ("cat ", "dog ", "cat ")
    assert answer.usage.prompt_tokens == 5  # len("xxxxxxxxxx\ncat dog") = 18 -> ceil(18 / 4)
    assert answer.finish_reason == "stop"


def test_completion_prompt_of_token_ids_and_empty_prompt() -> None:
    assert plan_answer({"prompt": [[1, 2]]}, FakeEngineConfig(chunks=2)).text == "1 2 "
    assert plan_answer({"prompt": ""}, FakeEngineConfig(chunks=2)).text == "fake fake "


def test_cap_larger_than_chunks_does_not_add_chunks() -> None:
    answer = plan_answer({"prompt": "a", "max_tokens": 50}, FakeEngineConfig(chunks=4))
    assert len(answer.pieces) == 4 and answer.finish_reason == "stop"
    answer = plan_answer(
        {"prompt": "a", "max_tokens": 50, "max_completion_tokens": 2}, FakeEngineConfig(chunks=4)
    )
    assert len(answer.pieces) == 2 and answer.finish_reason == "length"


def test_chunk_size_cuts_and_repeats() -> None:
    assert piece("hello", 3) == "hel"
    assert piece("ab", 8) == "ab ab ab"
    assert piece("ab", 0) == "ab "


def test_configured_counts_are_kept_consistent() -> None:
    config = FakeEngineConfig(chunks=2, prompt_tokens=10, cached_tokens=50, reasoning_tokens=9)
    usage = plan_answer({"prompt": "a"}, config).usage
    assert (usage.cached_tokens, usage.reasoning_tokens) == (10, 2)  # never more than the totals


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="chunks"):
        FakeEngineConfig(chunks=-1)
    with pytest.raises(ConfigError, match="unknown fake engine setting"):
        FakeEngineConfig().replace({"chunkz": 3})
    with pytest.raises(ConfigError, match="400-599"):
        FakeEngineConfig(fail_status=200)

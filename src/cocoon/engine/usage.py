"""Reading and writing OpenAI's ``usage`` object (pure).

Metering (spec/economics.md, "Metering one request") needs four numbers: prompt tokens P, cached
prompt tokens C, completion tokens O and reasoning tokens R. Engines report them in slightly different
places (``completion_tokens_details.reasoning_tokens`` or a top-level ``reasoning_tokens``), so this is
the one place that knows those spellings, and the one place that turns an engine's nonsense (negative
counts, cached > prompt) into an `EngineError` before money is computed from it. The counts travel
from here to the proxy's ledger as the one `cocoon.usage.Usage`, unchanged.
"""

from __future__ import annotations

import math
from typing import Any

from cocoon.errors import EngineError, InvalidUsageError
from cocoon.usage import Usage

__all__ = ["usage_from_openai", "usage_to_openai"]


def _count(obj: Any, key: str) -> int:
    """A non-negative integer field of a usage object; absent or null counts as 0."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EngineError(f"engine reported usage {key}={value!r}; expected a non-negative integer")
    return value


def usage_from_openai(usage: Any) -> Usage:
    """Read an OpenAI ``usage`` object, in chat completions' spelling (``prompt_tokens``,
    ``completion_tokens``) or the Responses and transcription APIs' (``input_tokens``,
    ``output_tokens``); raise `EngineError` if it is not one or its counts are invalid."""
    if not isinstance(usage, dict):
        raise EngineError(f"engine reported usage {usage!r}; expected an object with token counts")
    if usage.get("type") == "duration":
        return _audio_usage(usage)
    if "input_tokens" in usage or "output_tokens" in usage:
        prompt = _count(usage, "input_tokens")
        completion = _count(usage, "output_tokens")
        cached = _count(usage.get("input_tokens_details"), "cached_tokens")
        reasoning = _count(usage.get("output_tokens_details"), "reasoning_tokens")
    else:
        prompt = _count(usage, "prompt_tokens")
        completion = _count(usage, "completion_tokens")
        cached = _count(usage.get("prompt_tokens_details"), "cached_tokens")
        reasoning = _count(usage.get("completion_tokens_details"), "reasoning_tokens") or _count(
            usage, "reasoning_tokens"
        )
    try:
        return Usage(
            prompt_tokens=prompt,
            cached_tokens=cached,
            completion_tokens=completion,
            reasoning_tokens=reasoning,
        )
    except InvalidUsageError as exc:
        raise EngineError(f"engine reported impossible usage: {exc}") from exc


AUDIO_TOKENS_PER_SECOND = 50
"""Prompt tokens per second of audio when an engine reports a transcription's usage as its duration
(OpenAI's ``{"type": "duration", "seconds": s}``): Whisper's encoder sees 1,500 positions per 30 s."""


def _audio_usage(usage: dict[str, Any]) -> Usage:
    """A duration-only usage as prompt tokens (`AUDIO_TOKENS_PER_SECOND`); no completion count is
    reported, so none is charged."""
    seconds = usage.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 10**7:
        raise EngineError(f"engine reported usage seconds={seconds!r}; expected a non-negative number")
    return Usage(prompt_tokens=math.ceil(seconds * AUDIO_TOKENS_PER_SECOND))


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """The OpenAI ``usage`` object for these counts (with both detail objects)."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }

"""The parameters each OpenAI endpoint accepts and how each value is checked (pure).

A checker returns None when a value is fine, else a phrase saying what was expected; the schema of an
endpoint maps every accepted parameter to its checker (vLLM's set plus our extra fields), so an
unknown parameter is simply one that is not in the schema.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

Endpoint = Literal["chat", "completions", "embeddings", "responses", "transcriptions"]
MAX_COEFFICIENT_LIMIT = 10**9 - 1
MAX_TIMEOUT_S = 3600.0
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""Every integer parameter fits in a signed 64-bit integer, as engines parse it (vLLM bounds `seed` so)."""

Checker = Callable[[Any], str | None]


def _is_int(v: Any) -> bool:
    """A JSON integer within 64 bits (Python's own ints are unbounded: a 400-digit one is not one)."""
    return isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX


def _is_number(v: Any) -> bool:
    # An int is tested by range, not by math.isfinite, which raises OverflowError past a float's range.
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def integer(lo: int | None = None, hi: int | None = None) -> Checker:
    def check(v: Any) -> str | None:
        if not _is_int(v):
            return "a 64-bit integer" if isinstance(v, int) and not isinstance(v, bool) else "an integer"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"an integer between {lo} and {hi}" if hi is not None else f"an integer >= {lo}"
        return None

    return check


def number(lo: float | None = None, hi: float | None = None) -> Checker:
    def check(v: Any) -> str | None:
        if not _is_number(v):
            return "a number"
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            return f"a number between {lo} and {hi}" if hi is not None else f"a number >= {lo}"
        return None

    return check


def _type(name: str, pred: Callable[[Any], bool]) -> Checker:
    return lambda v: None if pred(v) else name


boolean = _type("a boolean", lambda v: isinstance(v, bool))
string = _type("a string", lambda v: isinstance(v, str))
obj = _type("an object", lambda v: isinstance(v, dict))
array = _type("an array", lambda v: isinstance(v, list))
anything: Checker = lambda v: None  # noqa: E731 - free-form fields the engine validates itself


def nullable(inner: Checker) -> Checker:
    return lambda v: None if v is None else inner(v)


def one_of(*choices: str) -> Checker:
    return lambda v: None if v in choices else "one of " + ", ".join(repr(c) for c in choices)


def _stop(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return None
    if isinstance(v, list) and all(isinstance(s, str) for s in v) and len(v) <= 16:
        return None
    return "a string or an array of at most 16 strings"


def _messages(v: Any) -> str | None:
    if not isinstance(v, list) or not v:
        return "a non-empty array of messages"
    for m in v:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            return "an array of objects, each with a string 'role'"
    return None


def _prompt(v: Any) -> str | None:
    if isinstance(v, str):
        return None
    if isinstance(v, list) and v:
        if all(isinstance(p, str) for p in v) or all(_is_int(t) for t in v):
            return None
        if all(isinstance(p, list) and all(_is_int(t) for t in p) for p in v):
            return None
    return "a string, an array of strings, or an array of token ids"


def _embedding_input(v: Any) -> str | None:
    # OpenAI's forms: a string, an array of strings, an array of token ids, an array of such arrays.
    if isinstance(v, str):
        return None
    if isinstance(v, list) and v:
        if all(isinstance(p, str) for p in v) or all(_is_int(t) for t in v):
            return None
        if all(isinstance(p, list) and p and all(_is_int(t) for t in p) for p in v):
            return None
    return "a string, a non-empty array of strings, an array of token ids, or an array of token id arrays"


def _responses_input(v: Any) -> str | None:
    # The items' structure is checked where they are translated (`cocoon.api.responses_request`).
    if isinstance(v, str) or (isinstance(v, list) and v and all(isinstance(i, dict) for i in v)):
        return None
    return "a string or a non-empty array of input items (objects)"


def _stream_options(v: Any) -> str | None:
    if not isinstance(v, dict):
        return "an object"
    for key, val in v.items():
        if key not in ("include_usage", "include_obfuscation", "continuous_usage_stats") or not isinstance(
            val, bool
        ):
            return "an object with boolean 'include_usage'"
    return None


def _logit_bias(v: Any) -> str | None:
    if isinstance(v, dict) and all(_is_number(b) for b in v.values()):
        return None
    return "an object mapping token ids to numbers"


# Parameters both endpoints accept (vLLM's set, spec/openai-api.md), then each endpoint's own.
_COMMON: dict[str, Checker] = {
    "model": string,
    "frequency_penalty": nullable(number(-2.0, 2.0)),
    "presence_penalty": nullable(number(-2.0, 2.0)),
    "repetition_penalty": nullable(number(0.0, 10.0)),
    "logit_bias": nullable(_logit_bias),
    "max_tokens": nullable(integer(1)),
    "n": nullable(integer(1, 128)),
    "seed": nullable(integer()),
    "stop": _stop,
    "stream": nullable(boolean),
    "stream_options": nullable(_stream_options),
    "temperature": nullable(number(0.0, 2.0)),
    "top_p": nullable(number(0.0, 1.0)),
    "top_k": nullable(integer(-1)),
    "min_p": nullable(number(0.0, 1.0)),
    "min_tokens": nullable(integer(0)),
    "ignore_eos": nullable(boolean),
    "user": nullable(string),
    "skip_special_tokens": nullable(boolean),
    # ours, removed before the engine sees the body
    "max_coefficient": integer(0, MAX_COEFFICIENT_LIMIT),
    "timeout": number(0.001, MAX_TIMEOUT_S),
    "enable_debug": boolean,
    "request_guid": string,
}
_CHAT: dict[str, Checker] = {
    **_COMMON,
    "messages": _messages,
    "max_completion_tokens": nullable(integer(1)),
    "tools": nullable(array),
    "tool_choice": nullable(anything),
    "parallel_tool_calls": nullable(boolean),
    "response_format": nullable(obj),
    "logprobs": nullable(boolean),
    "top_logprobs": nullable(integer(0, 20)),
    "reasoning_effort": nullable(one_of("minimal", "low", "medium", "high")),
    "verbosity": nullable(one_of("low", "medium", "high")),
    "chat_template_kwargs": nullable(obj),
    "prediction": nullable(obj),
}
_COMPLETIONS: dict[str, Checker] = {
    **_COMMON,
    "prompt": _prompt,
    "best_of": nullable(integer(1, 128)),
    "echo": nullable(boolean),
    "logprobs": nullable(integer(0, 20)),
    "suffix": nullable(string),
}
# Embeddings generate nothing: no sampling, no cap, never streamed (``stream`` is not accepted).
_EMBEDDINGS: dict[str, Checker] = {
    "model": string,
    "input": _embedding_input,
    "encoding_format": nullable(one_of("float", "base64")),
    "dimensions": nullable(integer(1)),
    "user": nullable(string),
    "max_coefficient": _COMMON["max_coefficient"],
    "timeout": _COMMON["timeout"],
    "enable_debug": _COMMON["enable_debug"],
    "request_guid": _COMMON["request_guid"],
}
# The stateless Responses API: `store`, `previous_response_id`, `background` and `include` are accepted
# only with the values that ask for nothing stored or extra (`cocoon.api.validation` says why not).
_RESPONSES: dict[str, Checker] = {
    "model": string,
    "input": _responses_input,
    "instructions": nullable(string),
    "max_output_tokens": nullable(integer(1)),
    "temperature": _COMMON["temperature"],
    "top_p": _COMMON["top_p"],
    "stream": nullable(boolean),
    "stream_options": nullable(obj),
    "store": nullable(boolean),
    "previous_response_id": nullable(string),
    "background": nullable(boolean),
    "include": nullable(array),
    "tools": nullable(array),
    "tool_choice": nullable(anything),
    "parallel_tool_calls": nullable(boolean),
    "max_tool_calls": nullable(integer(1)),
    "text": nullable(obj),
    "reasoning": nullable(obj),
    "truncation": nullable(one_of("auto", "disabled")),
    "metadata": nullable(obj),
    "user": nullable(string),
    "service_tier": nullable(string),
    "prompt_cache_key": nullable(string),
    "safety_identifier": nullable(string),
    "max_coefficient": _COMMON["max_coefficient"],
    "timeout": _COMMON["timeout"],
    "enable_debug": _COMMON["enable_debug"],
    "request_guid": _COMMON["request_guid"],
}
SCHEMAS: dict[Endpoint, dict[str, Checker]] = {
    "chat": _CHAT,
    "completions": _COMPLETIONS,
    "embeddings": _EMBEDDINGS,
    "responses": _RESPONSES,
}
REQUIRED: dict[Endpoint, tuple[str, ...]] = {
    "chat": ("model", "messages"),
    "completions": ("model", "prompt"),
    "embeddings": ("model", "input"),
    "responses": ("model", "input"),
}
GENERATING: frozenset[Endpoint] = frozenset({"chat", "completions", "responses"})
"""Endpoints that generate tokens (a completion budget, a cap, streaming); the others are priced as
prompt tokens only."""
OURS = ("max_coefficient", "timeout", "enable_debug", "request_guid")

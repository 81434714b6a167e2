"""Request validation and rewriting (spec/openai-api.md): table tests of rejects and rewrites."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.api.validation import DEFAULT_MAX_COEFFICIENT, Limits, validate_request
from cocoon.errors import RequestError

CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"
MSGS = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": MSGS, **fields}).encode()


@pytest.mark.parametrize(
    ("raw", "status", "param"),
    [
        (b"not json", 400, None),
        (b"[1, 2]", 400, None),
        (b'"text"', 400, None),
        (b'{"model": "m", "model": "n", "messages": []}', 400, "model"),
        (json.dumps({"messages": MSGS}).encode(), 400, "model"),
        (json.dumps({"model": "m"}).encode(), 400, "messages"),
        (chat(frobnicate=1), 400, "frobnicate"),
        (chat(temperature="hot"), 400, "temperature"),
        (chat(temperature=3), 400, "temperature"),
        (chat(max_tokens=-5), 400, "max_tokens"),
        (chat(max_tokens=True), 400, "max_tokens"),
        (chat(max_tokens=10**9), 400, "max_tokens"),
        (chat(max_completion_tokens=0), 400, "max_completion_tokens"),
        (chat(stream="yes"), 400, "stream"),
        (chat(stream_options={"include_usage": 1}), 400, "stream_options"),
        (chat(max_coefficient=-1), 400, "max_coefficient"),
        (chat(timeout=0), 400, "timeout"),
        (json.dumps({"model": "m", "messages": []}).encode(), 400, "messages"),
        (json.dumps({"model": "m", "messages": [{"content": "x"}]}).encode(), 400, "messages"),
        (json.dumps({"model": "", "messages": MSGS}).encode(), 400, "model"),
        (b'{"model": "m", "messages": [], "temperature": NaN}', 400, None),
        (b"\xff\xfe", 400, None),
    ],
)
def test_bad_chat_requests_are_rejected_naming_the_parameter(
    raw: bytes, status: int, param: str | None
) -> None:
    with pytest.raises(RequestError) as info:
        validate_request(CHAT, raw)
    assert info.value.status == status
    assert info.value.param == param
    body = info.value.to_body()["error"]
    assert isinstance(body, dict) and body["type"] == "invalid_request_error" and body["message"]


def test_oversized_body_is_413() -> None:
    with pytest.raises(RequestError) as info:
        validate_request(CHAT, chat(user="x" * 200), Limits(max_body_bytes=100))
    assert info.value.status == 413


def test_unknown_path_is_404() -> None:
    with pytest.raises(RequestError) as info:
        validate_request("/v1/audio/translations", chat())
    assert info.value.status == 404


def test_completions_need_prompt_and_accept_token_ids() -> None:
    with pytest.raises(RequestError) as info:
        validate_request(COMPL, json.dumps({"model": "m"}).encode())
    assert info.value.param == "prompt"
    req = validate_request(COMPL, json.dumps({"model": "m", "prompt": [1, 2, 3], "echo": True}).encode())
    assert req.endpoint == "completions"
    assert req.engine_body["prompt"] == [1, 2, 3]


def test_defaults_and_extra_fields_are_removed() -> None:
    req = validate_request(
        CHAT, chat(max_coefficient=1500, timeout=30, enable_debug=True, request_guid="g1", seed=7)
    )
    assert (req.max_coefficient, req.timeout_s, req.enable_debug, req.request_guid) == (
        1500,
        30.0,
        True,
        "g1",
    )
    assert req.max_tokens == 1000
    assert req.engine_body == {"model": "m", "messages": MSGS, "seed": 7, "max_tokens": 1000}
    assert not req.stream


def test_default_coefficient_and_cap_injection() -> None:
    req = validate_request(CHAT, chat(max_completion_tokens=64))
    assert req.max_coefficient == DEFAULT_MAX_COEFFICIENT
    assert req.max_tokens == 64
    assert req.engine_body["max_tokens"] == 64
    assert "max_completion_tokens" not in req.engine_body


@pytest.mark.parametrize(
    ("fields", "wants_usage"),
    [
        ({"stream": True}, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, False),
    ],
)
def test_streams_always_ask_the_engine_for_usage(fields: dict[str, Any], wants_usage: bool) -> None:
    req = validate_request(CHAT, chat(**fields))
    assert req.stream
    assert req.caller_wants_usage is wants_usage
    assert req.engine_body["stream"] is True
    assert req.engine_body["stream_options"]["include_usage"] is True


def test_non_stream_drops_stream_options_noise() -> None:
    for fields in ({"stream": False}, {"stream": False, "stream_options": None}, {"stream_options": None}):
        req = validate_request(CHAT, chat(**fields))
        assert not req.stream
        assert "stream_options" not in req.engine_body


@pytest.mark.parametrize("stream", [{}, {"stream": False}, {"stream": None}])
@pytest.mark.parametrize("path", [CHAT, COMPL])
def test_stream_options_without_stream_is_refused_as_openai_does(path: str, stream: dict[str, Any]) -> None:
    # OpenAI: 400 "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    body = {"model": "m", **({"messages": MSGS} if path == CHAT else {"prompt": "hi"})}
    raw = json.dumps({**body, **stream, "stream_options": {"include_usage": True}}).encode()
    with pytest.raises(RequestError) as info:
        validate_request(path, raw)
    assert (info.value.status, info.value.param) == (400, "stream_options")
    assert "only allowed when 'stream' is enabled" in info.value.message


@pytest.mark.parametrize(
    ("path", "fields", "choices"),
    [
        (CHAT, {}, 1),
        (CHAT, {"n": None}, 1),
        (CHAT, {"n": 100}, 100),
        (COMPL, {"n": 3}, 3),
        (COMPL, {"best_of": 5}, 5),
        (COMPL, {"n": 2, "best_of": 7}, 7),
        (COMPL, {"n": 4, "best_of": 4}, 4),
    ],
)
def test_choices_count_every_sequence_the_engine_generates(
    path: str, fields: dict[str, Any], choices: int
) -> None:
    body = {"model": "m", "max_tokens": 9, **({"messages": MSGS} if path == CHAT else {"prompt": "hi"})}
    req = validate_request(path, json.dumps({**body, **fields}).encode())
    assert (req.max_tokens, req.choices) == (9, choices)
    assert req.engine_body["max_tokens"] == 9  # the cap stays per choice, as the engine reads it
    assert validate_request(path, req.engine_body_bytes()).choices == choices


def test_best_of_below_n_is_refused() -> None:
    raw = json.dumps({"model": "m", "prompt": "hi", "n": 3, "best_of": 2}).encode()
    with pytest.raises(RequestError) as info:
        validate_request(COMPL, raw)
    assert info.value.param == "best_of"
    with pytest.raises(RequestError) as info:
        validate_request(CHAT, chat(best_of=2))  # chat has no best_of at all
    assert info.value.param == "best_of"


def test_validation_is_idempotent_on_the_engine_body() -> None:
    """The worker validates again what the client produced: it must pass unchanged."""
    first = validate_request(CHAT, chat(stream=True, max_tokens=50, tools=[], seed=1, logprobs=True))
    second = validate_request(CHAT, first.engine_body_bytes())
    assert second.engine_body == first.engine_body
    assert second.max_tokens == 50

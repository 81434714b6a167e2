"""`/v1/embeddings` requests: the input forms OpenAI allows, its parameters, and a body with no
completion budget that is never streamed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cocoon.api.validation import generates_tokens, validate_request
from cocoon.errors import RequestError

PATH = "/v1/embeddings"


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "input": "hello", **fields}).encode()


@pytest.mark.parametrize(
    "value",
    ["hello", ["a", "b"], [1, 2, 3], [[1, 2], [3]], ""],
    ids=["string", "strings", "token-ids", "token-id-arrays", "empty-string"],
)
def test_every_openai_input_form_is_accepted(value: Any) -> None:
    request = validate_request(PATH, body(input=value))
    assert request.engine_body["input"] == value


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"input": []}, "input"),
        ({"input": [[]]}, "input"),
        ({"input": ["a", 1]}, "input"),
        ({"input": [[1, "x"]]}, "input"),
        ({"input": 3}, "input"),
        ({"input": None}, "input"),
        ({"encoding_format": "int8"}, "encoding_format"),
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": "8"}, "dimensions"),
        ({"model": 5}, "model"),
        ({"model": ""}, "model"),
        ({"stream": True}, "stream"),
        ({"max_tokens": 10}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}]}, "messages"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate_request(PATH, body(**fields))
    assert caught.value.status == 400 and caught.value.param == param
    assert param in caught.value.message


@pytest.mark.parametrize("missing", ["model", "input"])
def test_model_and_input_are_required(missing: str) -> None:
    fields = {"model": "m", "input": "x"}
    del fields[missing]
    with pytest.raises(RequestError, match=f"Missing required parameter: '{missing}'") as caught:
        validate_request(PATH, json.dumps(fields).encode())
    assert caught.value.param == missing


def test_the_engine_body_has_no_budget_no_stream_and_none_of_our_fields() -> None:
    raw = body(encoding_format="base64", dimensions=4, max_coefficient=2000, timeout=5, user="u")
    request = validate_request(PATH, raw)
    assert request.engine_body == {
        "model": "m",
        "input": "hello",
        "encoding_format": "base64",
        "dimensions": 4,
        "user": "u",
    }
    assert (request.endpoint, request.stream, request.max_tokens, request.choices) == (
        "embeddings",
        False,
        0,
        1,
    )
    assert (request.max_coefficient, request.timeout_s) == (2000, 5.0)


def test_only_chat_and_completions_generate_tokens() -> None:
    assert generates_tokens("/v1/chat/completions") and generates_tokens("/v1/completions")
    assert not generates_tokens(PATH)

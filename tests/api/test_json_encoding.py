"""`encode_json` (what a request body is sent on as) and the engine body's bytes, computed once."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from cocoon.api.json_body import encode_json
from cocoon.api.validation import validate_request

CHAT = "/v1/chat/completions"


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        [None, float("-inf")],
        {"a": None, "b": {"c": [1, float("inf")]}},
        {"text": "[null :null ,null", "t": float("nan")},
    ],
)
def test_a_non_finite_float_is_refused_wherever_it_is(value: Any) -> None:
    with pytest.raises(ValueError):
        encode_json(value)


@pytest.mark.parametrize("value", ["\ud800", {"\udfff": 1}, {"a": [None, "x\ud800y"]}])
def test_a_lone_surrogate_is_refused(value: Any) -> None:
    with pytest.raises(UnicodeEncodeError):
        encode_json(value)


def test_the_bytes_are_compact_utf8_json_with_the_same_value_and_key_order() -> None:
    value: dict[str, Any] = {
        "model": "m",
        "z": None,
        "a": [None, True, False, 0, -1, 2**70, 1e16, -0.0, 0.1, 1.5e-7],
        "text": 'h\u00e9llo \U0001f600 "q" \\ \n\t\x00\x1f\u2028 / <null>',
        "nested": {"null": None, "k": [[], {}]},
    }
    out = encode_json(value)
    stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert out == stdlib.replace(b"1e+16", b"1e16").replace(b"1.5e-07", b"1.5e-7")  # floats spelled shorter
    back = json.loads(out)
    assert back == value and list(back) == list(value)
    assert json.dumps(back, sort_keys=True) == json.dumps(value, sort_keys=True)  # -0.0 and 1e16 kept


def test_the_engine_body_bytes_are_computed_once_and_a_replaced_request_has_its_own() -> None:
    request = validate_request(CHAT, b'{"model":"m","messages":[{"role":"user","content":"hi"}]}')
    first = request.engine_body_bytes()
    assert request.engine_body_bytes() is first
    assert json.loads(first) == request.engine_body
    renamed = dataclasses.replace(request, model="m2", engine_body={**request.engine_body, "model": "m2"})
    assert json.loads(renamed.engine_body_bytes())["model"] == "m2"
    assert request.engine_body_bytes() is first

"""`add_cost_to_usage`: the cost fields, receipt and debug merged into an answer's JSON, keys in order."""

from __future__ import annotations

import json
from typing import Any

from cocoon.client.openai_out import StreamShape, add_cost_to_usage, final_event
from cocoon.usage import Usage
from cocoon.wire.messages import AnswerEnd

END = AnswerEnd(
    1, Usage(prompt_tokens=10, completion_tokens=16), adjusted_tokens=26, cost=1200, prompt_cost=200
)
COST = {"prompt_total_cost": 200, "completion_total_cost": 1000, "total_cost": 1200, "adjusted_tokens": 26}
RECEIPT = {"request_id": "00ab", "signer": "ff" * 32, "signature": "ee" * 64}


def _answer(**extra: object) -> dict[str, Any]:
    usage = {"prompt_tokens": 10, "completion_tokens": 16, "total_tokens": 26}
    choice = {"index": 0, "message": {"role": "assistant", "content": 'héllo 😀 "q" \\ \n'}}
    return {"id": "x", "created": 0, "temperature": 1e16, "choices": [choice], "usage": usage, **extra}


def test_the_cost_receipt_and_debug_are_added_with_every_key_in_its_order() -> None:
    doc = _answer(system_fingerprint=None)
    out = json.loads(add_cost_to_usage(json.dumps(doc).encode(), END, {"client": {"total_us": 5}}, RECEIPT))
    expected = {
        **doc,
        "usage": {**doc["usage"], **COST},
        "receipt": RECEIPT,
        "debug": {"client": {"total_us": 5}},
    }
    assert out == expected
    assert list(out) == list(expected) and list(out["usage"]) == list(expected["usage"])


def test_what_the_fast_parser_refuses_still_gets_its_cost() -> None:
    for raw, value in ((b"NaN", float("nan")), (b'"\\ud800"', "\ud800"), (b"1e999", float("inf"))):
        payload = b'{"x":' + raw + b',"usage":{"prompt_tokens":1}}'
        out = add_cost_to_usage(payload, END)
        doc = json.loads(out)
        assert doc["usage"] == {"prompt_tokens": 1, **COST}
        assert repr(doc["x"]) == repr(value)


def test_a_payload_that_is_not_a_json_object_comes_back_as_it_came() -> None:
    for payload in (b"not json", b"[1,2]", b'"text"', b""):
        assert add_cost_to_usage(payload, END, None, RECEIPT) == payload


def test_a_responses_event_gets_the_cost_in_its_response_usage_and_keeps_its_name() -> None:
    event = {"type": "response.completed", "response": {"id": "r", "usage": {"input_tokens": 10}}}
    framed = final_event(json.dumps(event).encode(), END, StreamShape.RESPONSES, None)
    assert framed.startswith(b"event: response.completed\ndata: ")
    doc = json.loads(framed.split(b"data: ", 1)[1])
    assert doc["response"]["usage"] == {"input_tokens": 10, **COST}

"""The Responses API over chat completions (`cocoon.api.responses_request`, `responses_answer`):
requests translate field by field, answers become ``response`` objects and streams become OpenAI's
typed events in order, and what cannot be translated is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.api.responses_answer import ResponseEvents, response_from_chat
from cocoon.api.responses_request import chat_request
from cocoon.api.validation import validate_request
from cocoon.errors import EngineError, RequestError
from cocoon.usage import Usage

KEYS = [
    "choices",
    "index",
    "delta",
    "message",
    "content",
    "tool_calls",
    "function",
    "arguments",
    "name",
    "id",
]
TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def test_a_conversation_with_tool_calls_translates_to_chat_messages() -> None:
    body = {
        "model": "m",
        "instructions": "be brief",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "weather "},
                    {"type": "input_text", "text": "Paris?"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call", "call_id": "c2", "name": "get_weather", "arguments": '{"city":"Nice"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"type": "message", "role": "developer", "content": "answer in French"},
            {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {
            "format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": True}
        },
        "max_output_tokens": 50,
        "temperature": 0.5,
        "reasoning": {"effort": "low"},
        "stream": True,
        "store": False,
        "metadata": {"k": "v"},
    }
    chat = chat_request(body)
    assert chat["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "weather Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "c2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Nice"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "system", "content": "answer in French"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}],
        },
    ]
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": TOOL["parameters"]}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
    }
    assert (chat["max_tokens"], chat["temperature"], chat["reasoning_effort"]) == (50, 0.5, "low")
    assert chat["stream"] is True and chat["stream_options"] == {"include_usage": True}
    assert "metadata" not in chat and "store" not in chat


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"input": [{"type": "web_search_call", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
            "input[0].content[0]",
        ),
        ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0].call_id"),
        ({"tools": [{"type": "file_search"}]}, "tools[0]"),
        ({"tool_choice": {"type": "web_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema"}}}, "text.format"),
        ({"input": 3}, "input"),
    ],
)
def test_what_cannot_be_translated_is_a_400_naming_it(change: dict[str, Any], param: str) -> None:
    with pytest.raises(RequestError) as info:
        chat_request({"model": "m", "input": "hi", **change})
    assert (info.value.status, info.value.param) == (400, param)


def test_validation_makes_the_request_stateless_and_capped() -> None:
    request = validate_request(
        "/v1/responses", b'{"model": "m", "input": "hi", "include": [], "max_coefficient": 900}'
    )
    assert request.engine_body == {"model": "m", "input": "hi", "store": False, "max_output_tokens": 1000}
    assert (request.max_tokens, request.cap_key, request.caller_wants_usage, request.max_coefficient) == (
        1000,
        "max_output_tokens",
        True,
        900,
    )
    for body, param in (
        (b'{"model": "m", "input": "hi", "store": true}', "store"),
        (b'{"model": "m", "input": "hi", "background": true}', "background"),
        (b'{"model": "m", "input": "hi", "include": ["reasoning.encrypted_content"]}', "include"),
        (b'{"model": "m", "input": "hi", "stream_options": {}}', "stream_options"),
        (b'{"model": "m", "input": "hi", "max_output_tokens": 2000000}', "max_output_tokens"),
        (b'{"model": "m", "input": []}', "input"),
    ):
        with pytest.raises(RequestError) as info:
            validate_request("/v1/responses", body)
        assert info.value.param == param, body


CHAT_ANSWER = {
    "model": "m",
    "choices": [
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": "checking",
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
        }
    ],
}


def test_a_whole_chat_answer_becomes_a_response() -> None:
    usage = Usage(prompt_tokens=7, cached_tokens=2, completion_tokens=5, reasoning_tokens=1)
    response = response_from_chat(
        {"model": "m", "input": "x"}, CHAT_ANSWER, usage, response_id="resp_ab", created_at=9
    )
    assert (response["id"], response["status"], response["created_at"], response["store"]) == (
        "resp_ab",
        "completed",
        9,
        False,
    )
    message, call = response["output"]
    assert message["type"] == "message" and message["content"][0]["text"] == "checking"
    assert call == {
        "id": "fc_ab_0",
        "type": "function_call",
        "status": "completed",
        "call_id": "call_9",
        "name": "f",
        "arguments": "{}",
    }
    assert response["usage"] == {
        "input_tokens": 7,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 12,
    }
    cut = {**CHAT_ANSWER, "choices": [{"finish_reason": "length", "message": {"content": "abc"}}]}
    incomplete = response_from_chat(
        {"model": "m", "input": "x"}, cut, None, response_id="resp_x", created_at=0
    )
    assert incomplete["status"] == "incomplete"
    assert incomplete["incomplete_details"] == {"reason": "max_output_tokens"}
    with pytest.raises(EngineError):
        response_from_chat({"model": "m"}, {"choices": []}, None, response_id="resp_x", created_at=0)


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_streamed_answer_becomes_the_typed_events_in_order() -> None:
    events = ResponseEvents({"model": "m", "input": "x"}, response_id="resp_s", created_at=1)
    out = events.opening()
    out += events.feed(_chunk({"role": "assistant", "content": ""}))
    out += events.feed(_chunk({"content": "Hel"}))
    out += events.feed(_chunk({"content": "lo"}))
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
    out += events.feed(_chunk({"tool_calls": [call]}))
    out += events.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}))
    out += events.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}, "tool_calls"))
    out += events.feed({"choices": [], "usage": {"prompt_tokens": 3}})
    out += events.closing(Usage(prompt_tokens=3, completion_tokens=4))
    assert [e["type"] for e in out] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    final = out[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == '{"a":1}' and final["output"][1]["call_id"] == "call_1"
    assert [e["output_index"] for e in out if e["type"] == "response.output_item.added"] == [0, 1]
    assert final["usage"]["output_tokens"] == 4


def test_an_empty_stream_still_has_one_message() -> None:
    events = ResponseEvents({"model": "m", "input": "x"}, response_id="resp_e", created_at=1)
    out = events.opening() + events.closing(None)
    assert out[-1]["response"]["output"][0]["content"][0]["text"] == ""
    assert out[-1]["type"] == "response.completed"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)


@given(st.lists(_JSON, max_size=5))
def test_whatever_an_engine_streams_never_breaks_the_translation(chunks: list[Any]) -> None:
    events = ResponseEvents({"model": "m", "input": "x"}, response_id="resp_h", created_at=0)
    out = events.opening()
    for chunk in chunks:
        out += events.feed(chunk)
    out += events.closing(None)
    assert out[-1]["type"] in ("response.completed", "response.incomplete")


@given(_JSON)
def test_whatever_an_engine_answers_is_a_response_or_an_engine_error(answer: Any) -> None:
    try:
        response = response_from_chat(
            {"model": "m"},
            answer if isinstance(answer, dict) else {},
            None,
            response_id="resp_h",
            created_at=0,
        )
    except EngineError:
        return
    assert response["output"]


_FIELDS = ["input", "tools", "tool_choice", "text", "reasoning", "instructions", "role", "type", "content"]


@given(
    st.dictionaries(
        st.sampled_from(_FIELDS), _JSON | st.lists(st.dictionaries(st.sampled_from(_FIELDS), _JSON))
    )
)
def test_any_body_translates_or_is_a_request_error(body: dict[str, Any]) -> None:
    try:
        chat = chat_request({"model": "m", **body})
    except RequestError as error:
        assert error.status == 400 and error.param
        return
    assert chat["messages"]


@pytest.mark.parametrize("tools", [1, "web_search", {"type": "function"}, True])
def test_tools_that_are_not_an_array_are_a_400_naming_tools(tools: Any) -> None:
    """Found by the property test above: a truthy non-array ``tools`` broke the translation."""
    with pytest.raises(RequestError) as caught:
        chat_request({"model": "m", "input": "hi", "tools": tools})
    assert caught.value.param == "tools" and caught.value.status == 400

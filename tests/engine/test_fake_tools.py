"""Tool calls and structured output of the fake engine, read by the official SDK and MemoryEngine."""

from __future__ import annotations

import enum
import json
import re
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import RunningFakeEngine
from cocoon.engine.fake_answer import FakeEngineConfig, plan_answer
from cocoon.engine.fake_tools import (
    json_pieces,
    schema_instance,
    split_text,
    tool_arguments,
)
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.tool_calls import tool_call_id
from cocoon.errors import EngineStatusError


class Color(enum.Enum):
    BLUE = "blue"
    RED = "red"


class Place(BaseModel):
    city: str
    zip: int
    tags: list[str]


class Forecast(BaseModel):
    place: Place
    backup: Place | None
    color: Color
    unit: Literal["c", "f"]
    kind: Literal["daily"]
    temperature: float
    windy: bool


WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a place",
        "parameters": Forecast.model_json_schema(),
    },
}
CLOCK: Any = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}
TOOLS: Any = [CLOCK, WEATHER]
ASK: Any = [{"role": "user", "content": "Paris please, what is get_weather there"}]


def normalized(data: bytes) -> bytes:
    """Ids and timestamps differ between engines; everything else must not."""
    data = re.sub(rb'"id":"(chatcmpl|cmpl)-[^"]+"', b'"id":"X"', data)
    return re.sub(rb'"created":\d+', b'"created":0', data)


def test_schema_instance_follows_the_value_rule() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "e": {"type": "integer", "enum": [7, 8]},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "a": {"type": "array", "items": {"type": "string"}},
            "m": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            "o": {"type": "object", "properties": {"deep": {"type": ["null", "string"]}}},
            "r": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/T"}]},
            "z": {},
            "d": {"type": "string", "format": "date"},
        },
        "$defs": {"T": {"type": "object", "properties": {"self": {"$ref": "#/$defs/T"}}}},
    }
    assert schema_instance(schema, "w") == {
        "s": "w",
        "e": 7,
        "i": 1,
        "n": 1.5,
        "b": True,
        "a": [],
        "m": [1, 1],
        "o": {"deep": "w"},
        "r": {"self": None},  # a recursive $ref stops at null
        "z": None,
        "d": "2000-01-01",
    }


def test_split_cap_and_ids() -> None:
    assert split_text("abcdefghij", 3) == ("abc", "def", "ghij")
    assert split_text("ab", 8) == ("a", "b") and split_text("ab", 0) == ("ab",)
    assert json_pieces('{"a":"bcdefghij"}', None, 2) == (('{"a":"bc', 'defghij"}'), 5, False)
    assert json_pieces('{"a":"bcdefghij"}', 2, 8)[1:] == (2, True)
    assert "".join(json_pieces('{"a":"bcdefghij"}', 2, 8)[0]) == '{"a":"bc'
    first = tool_call_id("f", "{}", 0)
    assert first == tool_call_id("f", "{}", 0) != tool_call_id("f", "{}", 1)
    assert first.startswith("call_") and len(first) == 29 and int(first[5:], 16) >= 0


async def test_named_tool_call_whole_and_streamed(sdk: openai.AsyncOpenAI) -> None:
    choice: Any = {"type": "function", "function": {"name": "get_weather"}}
    whole = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice=choice
    )
    message = whole.choices[0].message
    assert message.content is None and whole.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call: Any = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    parsed = Forecast.model_validate_json(call.function.arguments)  # it matches the schema
    assert parsed.place.city == "Paris" and parsed.color is Color.BLUE and parsed.unit == "c"
    assert call.function.arguments == tool_arguments(WEATHER["function"], "Paris")
    assert call.id == tool_call_id("get_weather", call.function.arguments, 0)
    assert whole.usage is not None
    assert whole.usage.completion_tokens == -(-len(call.function.arguments) // 4)

    stream = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice=choice, stream=True
    )
    chunks = [c async for c in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].id == call.id and deltas[0].function is not None
    assert deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert len(deltas) == 1 + 8  # the head, then config.chunks pieces of arguments
    assert "".join(d.function.arguments or "" for d in deltas if d.function) == call.function.arguments
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["tool_calls"]


async def test_required_auto_and_none(sdk: openai.AsyncOpenAI) -> None:
    required = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice="required"
    )
    calls: Any = required.choices[0].message.tool_calls
    assert calls[0].function.name == "get_time" and json.loads(calls[0].function.arguments) == {"tz": "Paris"}
    auto = await sdk.chat.completions.create(model="fake-model", messages=ASK, tools=TOOLS)
    calls = auto.choices[0].message.tool_calls
    assert calls[0].function.name == "get_weather"  # the first tool the message mentions
    none = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice="none"
    )
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].message.content == plan_answer({"messages": ASK}, FakeEngineConfig()).text
    unmentioned: Any = [{"role": "user", "content": "hello there"}]
    plain = await sdk.chat.completions.create(model="fake-model", messages=unmentioned, tools=TOOLS)
    assert plain.choices[0].message.content == "hello there " * 4


async def test_a_tool_result_is_answered_with_text(sdk: openai.AsyncOpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
    history: Any = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon get_time"},
    ]
    answer = await sdk.chat.completions.create(model="fake-model", messages=history, tools=TOOLS)
    assert answer.choices[0].message.tool_calls is None
    assert answer.choices[0].message.content == "noon get_time " * 4
    assert answer.choices[0].finish_reason == "stop"


async def test_refusals(sdk: openai.AsyncOpenAI) -> None:
    unknown: Any = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="fake-model", messages=ASK, tools=TOOLS, tool_choice=unknown)
    assert caught.value.param == "tool_choice"
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="fake-model", messages=ASK, tool_choice="required")
    assert caught.value.param == "tool_choice"
    bad: Any = [{"type": "x"}]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="fake-model", messages=ASK, tools=bad)
    assert caught.value.param == "tools"


async def test_parse_gives_the_pydantic_model(sdk: openai.AsyncOpenAI) -> None:
    answer = await sdk.chat.completions.parse(model="fake-model", messages=ASK, response_format=Forecast)
    parsed = answer.choices[0].message.parsed
    assert isinstance(parsed, Forecast) and isinstance(parsed.place, Place)
    assert parsed.place == Place(city="Paris", zip=1, tags=[]) and parsed.backup == parsed.place
    assert (parsed.kind, parsed.temperature, parsed.windy) == ("daily", 1.5, True)
    assert answer.choices[0].finish_reason == "stop"


async def test_json_object_and_structured_stream(sdk: openai.AsyncOpenAI) -> None:
    words: Any = [{"role": "user", "content": "red green"}]
    answer = await sdk.chat.completions.create(
        model="fake-model", messages=words, response_format={"type": "json_object"}
    )
    content = answer.choices[0].message.content
    assert content is not None and json.loads(content) == {"answer": "red green " * 3 + "red green"}
    assert answer.usage is not None and answer.usage.completion_tokens == -(-len(content) // 4)
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "F", "schema": Forecast.model_json_schema()},
    }
    whole = await sdk.chat.completions.create(model="fake-model", messages=ASK, response_format=schema)
    stream = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, response_format=schema, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == whole.choices[0].message.content
    assert Forecast.model_validate_json(text).place.city == "Paris"


async def test_a_cap_cuts_the_json(sdk: openai.AsyncOpenAI) -> None:
    answer = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=2
    )
    calls: Any = answer.choices[0].message.tool_calls
    assert calls[0].function.arguments == '{"tz":"P' and answer.choices[0].finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 2


async def test_two_choices_each_call(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice="required", n=2
    )
    calls: Any = [c.message.tool_calls for c in whole.choices]
    arguments = calls[0][0].function.arguments
    assert [c[0].function.arguments for c in calls] == [arguments, arguments]
    assert [c[0].id for c in calls] == [tool_call_id("get_time", arguments, i) for i in (0, 1)]
    assert whole.usage is not None and whole.usage.completion_tokens == 2 * -(-len(arguments) // 4)
    stream = await sdk.chat.completions.create(
        model="fake-model", messages=ASK, tools=TOOLS, tool_choice="required", n=2, stream=True
    )
    got: dict[int, list[Any]] = {0: [], 1: []}
    async for chunk in stream:
        for choice in chunk.choices:
            got[choice.index] += choice.delta.tool_calls or []
    for index in (0, 1):
        assert got[index][0].id == calls[index][0].id
        assert "".join(d.function.arguments for d in got[index]) == arguments


async def test_memory_engine_gives_the_same_answers(fake: RunningFakeEngine) -> None:
    body: dict[str, Any] = {"model": "fake-model", "messages": ASK, "tools": TOOLS, "n": 2}
    memory = MemoryEngine()
    async with EngineClient(fake.base_url) as client:
        over_http = await client.complete("/v1/chat/completions", body)
        in_memory = await memory.complete("/v1/chat/completions", body)
        assert normalized(in_memory.body) == normalized(over_http.body)
        assert in_memory.usage == over_http.usage and in_memory.usage is not None
        streamed = {**body, "stream": True, "stream_options": {"include_usage": True}}
        async with await client.stream("/v1/chat/completions", streamed) as http:
            http_bytes = b"".join([data async for data in http])
        async with await memory.stream("/v1/chat/completions", streamed) as local:
            local_bytes = b"".join([data async for data in local])
    assert normalized(local_bytes) == normalized(http_bytes) and b'"tool_calls"' in local_bytes
    with pytest.raises(EngineStatusError) as caught:
        await memory.complete("/v1/chat/completions", {**body, "tool_choice": "required", "tools": []})
    assert caught.value.status == 400 and caught.value.error["param"] == "tool_choice"

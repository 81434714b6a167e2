"""The built-in engine front's rewrites of requests and answers (pure)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from cocoon.engine.fake_tools import schema_instance
from cocoon.engine.llama_rewrite import (
    CALL_SCHEMA_NAME,
    StreamMerger,
    call_instructions,
    call_schema,
    constrained_request,
    forced_tools,
    merge_answers,
    merged_usage,
    parse_call,
    split_n,
    tool_call_answer,
    tool_call_events,
)
from cocoon.errors import RequestError
from cocoon.wire.sse import SseParser, encode_event


class Point(BaseModel):
    x: int
    y: int


class Shape(BaseModel):
    label: str
    corners: list[Point]
    center: Point | None


WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SHAPE: Any = {"name": "draw", "description": "Draw a shape", "parameters": Shape.model_json_schema()}
BARE: Any = {"name": "ping"}
TOOLS: Any = [{"type": "function", "function": f} for f in (WEATHER, SHAPE, BARE)]
ASK: Any = [{"role": "user", "content": "weather in Paris?"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": ASK, "tools": TOOLS, **fields}


# forced_tools


def test_required_forces_one_of_all_tools_and_a_name_forces_that_one() -> None:
    assert forced_tools(chat(tool_choice="required")) == (WEATHER, SHAPE, BARE)
    named = {"type": "function", "function": {"name": "draw"}}
    assert forced_tools(chat(tool_choice=named)) == (SHAPE,)


@pytest.mark.parametrize("choice", [None, "auto", "none", "sometimes"])
def test_unforced_choices_are_left_to_the_engine(choice: Any) -> None:
    body = chat() if choice is None else chat(tool_choice=choice)
    assert forced_tools(body) is None
    assert forced_tools({"model": "m", "messages": ASK}) is None


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": ASK, "tool_choice": "required"}, "tool_choice"),
        ({"messages": ASK, "tools": [], "tool_choice": "required"}, "tool_choice"),
        (chat(tool_choice={"type": "function", "function": {"name": "nope"}}), "tool_choice"),
        (chat(tool_choice={"type": "function"}), "tool_choice"),
        (chat(tool_choice={"type": "allowed_tools", "allowed_tools": {}}), "tool_choice"),
        ({"messages": ASK, "tools": [{"type": "function"}], "tool_choice": "required"}, "tools"),
        ({"messages": ASK, "tools": {"a": 1}, "tool_choice": "required"}, "tools"),
    ],
)
def test_a_forced_call_without_matching_tools_is_a_400_naming_the_field(body: Any, param: str) -> None:
    with pytest.raises(RequestError) as caught:
        forced_tools(body)
    assert caught.value.status == 400 and caught.value.param == param
    assert caught.value.error_type == "invalid_request_error"


# call_schema and constrained_request


def test_one_tool_is_one_object_with_its_name_constant() -> None:
    schema = call_schema([WEATHER])
    assert schema == {
        "type": "object",
        "properties": {"name": {"const": "get_weather"}, "arguments": WEATHER["parameters"]},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }
    assert schema_instance(schema, "Paris") == {"name": "get_weather", "arguments": {"city": "Paris"}}


def test_several_tools_are_any_of_one_object_each_and_no_parameters_is_an_empty_object() -> None:
    schema = call_schema([WEATHER, BARE])
    names = [alt["properties"]["name"] for alt in schema["anyOf"]]
    assert names == [{"const": "get_weather"}, {"const": "ping"}]
    empty = schema["anyOf"][1]["properties"]["arguments"]
    assert empty == {"type": "object", "properties": {}, "additionalProperties": False}


def test_definitions_move_to_the_root_so_references_still_resolve() -> None:
    schema = call_schema([WEATHER, SHAPE])
    assert set(schema["$defs"]) == {"t1_Point"}  # the second tool's, prefixed by its position
    arguments = schema["anyOf"][1]["properties"]["arguments"]
    assert "$defs" not in arguments
    assert arguments["properties"]["corners"]["items"] == {"$ref": "#/$defs/t1_Point"}
    # Follow the references as a grammar would: the second alternative gives a valid Shape.
    second = {**schema["anyOf"][1], "$defs": schema["$defs"]}
    shape = Shape.model_validate(schema_instance(second, "w")["arguments"])
    assert shape.label == "w"


def test_a_reference_into_the_parameters_themselves_goes_through_their_copy() -> None:
    tree = {
        "name": "tree",
        "parameters": {
            "type": "object",
            "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#"}}},
            "definitions": {"Leaf": {"type": "object", "properties": {"up": {"$ref": "#/properties/v"}}}},
        },
    }
    schema = call_schema([tree])
    assert schema["properties"]["arguments"]["properties"]["kids"]["items"] == {"$ref": "#/$defs/t0"}
    assert schema["$defs"]["t0"] == schema["properties"]["arguments"]
    assert schema["$defs"]["t0_Leaf"]["properties"]["up"] == {"$ref": "#/$defs/t0/properties/v"}
    assert "definitions" not in schema["properties"]["arguments"]


def test_constrained_request_asks_for_the_call_as_json_instead_of_tools() -> None:
    body = chat(
        tool_choice="required",
        parallel_tool_calls=False,
        stream=True,
        stream_options={"include_usage": True},
        response_format={"type": "json_object"},
        stop=["}"],
        max_tokens=50,
        seed=3,
    )
    before = copy.deepcopy(body)
    out = constrained_request(body, [WEATHER, SHAPE])
    assert body == before  # the client's body is not changed
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": CALL_SCHEMA_NAME, "schema": call_schema([WEATHER, SHAPE])},
    }
    assert out["stream"] is False
    dropped = ("tools", "tool_choice", "parallel_tool_calls", "stream_options", "stop")
    assert not set(dropped) & set(out)
    assert out["max_tokens"] == 50 and out["seed"] == 3 and out["model"] == "m"
    assert out["messages"] == [{"role": "system", "content": call_instructions([WEATHER, SHAPE])}, *ASK]


def test_the_instructions_name_each_function_and_join_an_existing_system_message() -> None:
    text = call_instructions([WEATHER, BARE])
    assert "- get_weather: Weather of a city Parameters: " in text and "\n- ping" in text
    assert json.dumps(WEATHER["parameters"], separators=(",", ":")) in text
    system = {"role": "system", "content": "Be brief."}
    out = constrained_request(chat(messages=[system, *ASK]), [WEATHER])["messages"]
    assert out == [{"role": "system", "content": "Be brief.\n\n" + call_instructions([WEATHER])}, *ASK]
    parts = {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]}
    out = constrained_request(chat(messages=[parts, *ASK]), [WEATHER])["messages"]
    assert out[0]["content"][-1] == {"type": "text", "text": call_instructions([WEATHER])}
    assert out[1:] == ASK


# answers


def test_parse_call_whole_and_cut() -> None:
    whole = '{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris é"\n  }\n}'
    assert parse_call(whole, [WEATHER]) == ("get_weather", '{"city":"Paris é"}')
    cut = '{"name": "ping", "arguments": {"a": "unfini'
    assert parse_call(cut, [WEATHER, BARE]) == ("ping", '{"a": "unfini')
    assert parse_call('{"name": "get_w', [WEATHER, BARE]) == ("get_weather", "")  # the first tool's
    assert parse_call("", [BARE]) == ("ping", "")


def _expected_id(name: str, arguments: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{name}{arguments}{index}".encode()).hexdigest()[:24]


def answer(*contents: tuple[str, str], usage: Any = None) -> dict[str, Any]:
    choices = [
        {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        for i, (text, finish) in enumerate(contents)
    ]
    out = {"id": "chatcmpl-1", "object": "chat.completion", "created": 7, "model": "m", "choices": choices}
    return out | ({"usage": usage} if usage else {})


def test_tool_call_answer_is_openai_tool_calls_with_deterministic_ids() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    raw = answer(
        ('{"name": "get_weather", "arguments": {"city": "Rome"}}', "stop"),
        ('{"name": "get_weather", "arguments": {"ci', "length"),
        usage=usage,
    )
    out = tool_call_answer(raw, [WEATHER])
    first, second = out["choices"]
    arguments = '{"city":"Rome"}'
    assert first == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": _expected_id("get_weather", arguments, 0),
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments},
                }
            ],
        },
        "finish_reason": "tool_calls",
    }
    assert second["finish_reason"] == "length"  # cut: kept, with the raw arguments
    assert second["message"]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"ci'}
    assert out["usage"] == usage and out["id"] == "chatcmpl-1"


def events_of(data: bytes) -> list[Any]:
    parser = SseParser()
    events = parser.feed(data)
    assert not parser.truncated
    return [e.data if e.is_done else json.loads(e.data) for e in events]


def test_tool_call_events_are_a_chat_stream_of_the_whole_call() -> None:
    usage = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}
    raw = answer(
        ('{"name":"ping","arguments":{}}', "stop"), ('{"name":"ping","arguments":{}}', "stop"), usage=usage
    )
    whole = tool_call_answer(raw, [BARE])
    events = events_of(b"".join(tool_call_events(whole, include_usage=True)))
    assert events[-1] == "[DONE]"
    assert events[-2] == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "usage": usage,
        "choices": [],
    }
    chunks = events[:-2]
    assert len(chunks) == 6 and all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert all(c["id"] == "chatcmpl-1" and c["usage"] is None for c in chunks)
    for index in (0, 1):
        role, call, finish = (c["choices"][0] for c in chunks[3 * index : 3 * index + 3])
        assert {role["index"], call["index"], finish["index"]} == {index}
        assert role["delta"] == {"role": "assistant", "content": None}
        expected = whole["choices"][index]["message"]["tool_calls"][0]
        assert call["delta"] == {"tool_calls": [{"index": 0, **expected}]}
        assert expected["id"] == _expected_id("ping", "{}", index)
        assert finish["delta"] == {} and finish["finish_reason"] == "tool_calls"
        assert role["finish_reason"] is None and call["finish_reason"] is None

    plain = events_of(b"".join(tool_call_events(whole, include_usage=False)))
    assert len(plain) == 7 and plain[-1] == "[DONE]"
    assert all("usage" not in c for c in plain[:-1])


# n > 1


@pytest.mark.parametrize("n", [None, 1, 0, -2, True, "2", 2.0])
def test_split_n_leaves_one_choice_and_odd_values_to_the_engine(n: Any) -> None:
    assert split_n({"prompt": "p"} if n is None else {"prompt": "p", "n": n}) is None


def test_split_n_asks_one_choice_each_with_consecutive_seeds() -> None:
    body = {"prompt": "p", "n": 3, "seed": 40, "max_tokens": 5}
    parts = split_n(body)
    assert parts == [{"prompt": "p", "n": 1, "seed": s, "max_tokens": 5} for s in (40, 41, 42)]
    assert body["n"] == 3 and body["seed"] == 40
    assert split_n({"prompt": "p", "n": 2}) == [{"prompt": "p", "n": 1}] * 2
    assert split_n({"prompt": "p", "n": 2, "seed": -1}) == [{"prompt": "p", "n": 1, "seed": -1}] * 2


def test_merged_usage_counts_the_prompt_once_and_every_completion() -> None:
    first = {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    second = {
        "prompt_tokens": 10,
        "completion_tokens": 6,
        "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 9},
    }
    assert merged_usage([first, second]) == {
        "prompt_tokens": 10,
        "completion_tokens": 10,
        "total_tokens": 20,
        "prompt_tokens_details": {"cached_tokens": 3},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    assert first["completion_tokens"] == 4  # not changed in place
    assert merged_usage([None, second]) == second
    assert merged_usage([None, None]) is None


def test_merge_answers_reindexes_choices_and_sums_usage() -> None:
    one = answer(("a", "stop"), usage={"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
    two = answer(("b", "length"), usage={"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8})
    two["id"] = "chatcmpl-2"
    merged = merge_answers([one, two])
    assert merged["id"] == "chatcmpl-1"
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in merged["choices"]] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]
    assert merged["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}


def llama_stream(request_id: str, texts: list[str], usage: Any, *, chat: bool = True) -> bytes:
    """A stream as llama-server sends it: chat puts its usage in a ``choices: []`` chunk, completions
    on the last choice chunk."""
    head = {"id": request_id, "created": 100, "model": "m", "object": "chat.completion.chunk"}

    def chunk(text: str | None, finish: str | None = None, **extra: Any) -> bytes:
        if chat:
            delta = {} if text is None else {"content": text}
            choice = {"finish_reason": finish, "index": 0, "delta": delta}
        else:
            choice = {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish}
        return encode_event(json.dumps({**head, "choices": [choice], **extra}))

    out = b"".join(chunk(t) for t in texts)
    if chat:
        out += chunk(None, "stop") + encode_event(json.dumps({**head, "choices": [], "usage": usage}))
    else:
        out += chunk(None, "stop", usage=usage)
    return out + b"data: [DONE]\n\n"


@pytest.mark.parametrize("chat_stream", [True, False])
def test_stream_merger_joins_streams_in_any_split(chat_stream: bool) -> None:
    usages = [{"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n} for n in (2, 3)]
    streams = [
        llama_stream("A", ["x", "y"], usages[0], chat=chat_stream),
        llama_stream("B", ["p", "q", "r"], usages[1], chat=chat_stream),
    ]
    merger = StreamMerger(2, include_usage=True)
    out = b""
    # Interleave the two streams in odd-sized slices, as they would arrive.
    for start in range(0, max(map(len, streams)), 7):
        out += merger.feed(1, streams[1][start : start + 7])
        out += merger.feed(0, streams[0][start : start + 7])
    assert merger.complete
    out += merger.finish()
    events = events_of(out)
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"
    assert events[-2]["choices"] == [] and events[-2]["id"] in ("A", "B")
    assert events[-2]["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    chunks = events[:-2]
    assert all(c["choices"] for c in chunks)  # the upstreams' usage chunks are gone
    assert len({c["id"] for c in chunks} | {events[-2]["id"]}) == 1  # one answer, one id
    assert all(c.get("usage") is None for c in chunks)
    field = "delta" if chat_stream else "text"
    by_index: dict[int, str] = {}
    for c in chunks:
        choice = c["choices"][0]
        piece = choice[field].get("content", "") if chat_stream else choice[field]
        by_index[choice["index"]] = by_index.get(choice["index"], "") + piece
    assert by_index == {0: "xy", 1: "pqr"}


def test_stream_merger_without_include_usage_and_when_cut() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    merger = StreamMerger(2, include_usage=False)
    merger.feed(0, llama_stream("A", ["x"], usage))
    whole_b = llama_stream("B", ["y"], usage)
    merger.feed(1, whole_b[:-14])  # its [DONE] never comes
    assert not merger.complete
    merger.feed(1, whole_b[-14:])
    assert merger.complete
    assert merger.finish() == b"data: [DONE]\n\n"


def test_stream_merger_passes_other_events_unchanged() -> None:
    error = b'data: {"error":{"message":"boom","type":"server_error"}}\n\n'
    merger = StreamMerger(2, include_usage=True)
    assert (
        merger.feed(1, error + b": comment\ndata: not json\n\n") == error + b": comment\ndata: not json\n\n"
    )
    chunk = {"id": "Z", "created": 1, "choices": [{"index": 0, "delta": {"content": "é"}}]}
    out = merger.feed(1, encode_event(msgspec.json.encode(chunk)))
    assert events_of(out) == [{"id": "Z", "created": 1, "choices": [{"index": 1, "delta": {"content": "é"}}]}]
    assert merger.finish() == b"data: [DONE]\n\n"  # no upstream gave a usage: none to send

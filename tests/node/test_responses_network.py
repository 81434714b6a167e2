"""`POST /v1/responses` through a whole in-process network with the official SDK, on an engine that
serves only chat completions (the worker translates): the same text as the engine's chat answer,
metered and charged from its usage, receipted over the relayed bytes; streamed events that the SDK's
own accumulator (`responses.stream`) assembles into the same response."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from inprocess import in_process_network

PRICE = 20  # nanoTON per adjusted token (ProxyConfig's default)
CREDIT = 10**12  # in_process_network's local client credit
RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"


async def _direct_chat(messages: list[dict[str, str]], max_tokens: int) -> dict[str, object]:
    answer = await MemoryEngine().complete(
        CHAT, {"model": FAKE_MODEL, "messages": messages, "max_tokens": max_tokens}
    )
    return answer.data


CHAT_ONLY = FakeEngineConfig(responses=False)


async def test_a_response_is_the_engines_chat_answer_metered_and_receipted(tmp_path: Path) -> None:
    engine = MemoryEngine(CHAT_ONLY)
    async with in_process_network(tmp_path, [engine]) as net:
        raw = await net.sdk.responses.with_raw_response.create(
            model=FAKE_MODEL, instructions="be brief", input="alpha beta gamma", max_output_tokens=5
        )
        response = raw.parse()
        (account,) = net.proxy.service.ledger.clients()
        workers = await net.sdk.models.list()
    path, sent = engine.calls[-1]
    assert path == CHAT  # this engine has no /v1/responses: the worker translated
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "alpha beta gamma"},
    ]
    assert sent["max_tokens"] == 5
    direct = await _direct_chat(sent["messages"], 5)
    assert response.output_text == direct["choices"][0]["message"]["content"]  # type: ignore[index]
    assert response.status == "incomplete"  # 8 planned chunks, cut at 5
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    usage = direct["usage"]
    assert response.usage is not None
    assert response.usage.input_tokens == usage["prompt_tokens"]  # type: ignore[index]
    assert response.usage.output_tokens == usage["completion_tokens"] == 5  # type: ignore[index]
    extra = response.usage.model_extra or {}
    tokens = response.usage.input_tokens + response.usage.output_tokens
    assert extra["total_cost"] == tokens * PRICE == account.charged_nano == CREDIT - account.remaining_nano
    # The client attaches a receipt only once it verified it over the bytes the worker relayed.
    receipt = (response.model_extra or {})["receipt"]
    assert receipt["request_id"] == raw.headers["x-cocoon-request-id"]
    assert "/v1/responses" in [e for m in workers.data for e in (m.model_extra or {})["endpoints"]]


@pytest.mark.parametrize("config", [CHAT_ONLY, FakeEngineConfig()], ids=["translated", "native"])
async def test_streamed_response_events_assemble_into_the_same_response(
    tmp_path: Path, config: FakeEngineConfig
) -> None:
    async with in_process_network(tmp_path, [MemoryEngine(config)]) as net:
        whole = await net.sdk.responses.create(model=FAKE_MODEL, input="one two three", max_output_tokens=50)
        async with net.sdk.responses.stream(
            model=FAKE_MODEL, input="one two three", max_output_tokens=50
        ) as s:
            kinds = [event.type async for event in s]
            final = await s.get_final_response()
        (account,) = net.proxy.service.ledger.clients()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert final.output_text == whole.output_text
    assert final.status == whole.status == "completed"
    assert final.usage is not None and whole.usage is not None
    assert final.usage.output_tokens == whole.usage.output_tokens == 8
    extra = final.usage.model_extra or {}
    assert extra["total_cost"] == (final.usage.input_tokens + final.usage.output_tokens) * PRICE
    assert account.charged_nano == 2 * extra["total_cost"]


async def test_stateful_requests_are_refused_before_any_cost(tmp_path: Path) -> None:
    engine = MemoryEngine()
    async with in_process_network(tmp_path, [engine]) as net:
        for kwargs, param in (
            ({"store": True}, "store"),
            ({"previous_response_id": "resp_1"}, "previous_response_id"),
            ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ):
            with pytest.raises(openai.BadRequestError) as info:
                await net.sdk.responses.create(model=FAKE_MODEL, input="hi", **kwargs)  # type: ignore[call-overload]
            assert info.value.body["param"] == param  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as info:
            await net.sdk.responses.create(model=FAKE_MODEL, input=[{"type": "file_search_call", "id": "x"}])  # type: ignore[list-item]
        assert info.value.body["param"] == "input[0].type"  # type: ignore[index]
        (account,) = net.proxy.service.ledger.clients() or (None,)
    assert engine.calls == [] or all(path != CHAT for path, _ in engine.calls)
    assert account is None or account.charged_nano == 0


async def test_a_native_engine_gets_the_request_as_it_is_and_answers_the_same(tmp_path: Path) -> None:
    native, chat_only = MemoryEngine(), MemoryEngine(CHAT_ONLY)
    tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]
    ask = {"model": FAKE_MODEL, "input": "get_weather in Paris", "tools": tools, "max_output_tokens": 64}
    answers = []
    for engine in (native, chat_only):
        async with in_process_network(tmp_path / str(id(engine)), [engine]) as net:
            answers.append(await net.sdk.responses.create(**ask))  # type: ignore[arg-type]
    path, sent = native.calls[-1]
    assert path == RESPONSES
    assert sent["store"] is False and sent["tools"] == tools and sent["max_output_tokens"] == 64
    assert chat_only.calls[-1][0] == CHAT
    native_call, translated_call = (a.output[0] for a in answers)
    assert native_call.type == translated_call.type == "function_call"
    assert (native_call.name, native_call.arguments) == (translated_call.name, translated_call.arguments)
    assert answers[0].usage == answers[1].usage

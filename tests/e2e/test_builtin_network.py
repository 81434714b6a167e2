"""The whole path on the real model: SmolLM2-135M-Instruct on llama.cpp's server behind two workers.

The engine is what a production llama.cpp deployment runs (`cocoon.engine.builtin`): the features an
app uses reach it through the whole network (forced tool calls, logprobs, a JSON schema, ``n``,
embeddings, the Responses API), and a long generation neither takes the workers out of routing nor
holds up another request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from netproc import RunningNet, start_net, stop_net

from cocoon.engine.builtin import llama_available
from cocoon.localnet.up import demo_request

pytestmark = pytest.mark.slow

if not llama_available():
    pytest.skip("llama-server is not installed: run `make engine` (make test does)", allow_module_level=True)

HEALTH_TIMEOUT_S = 2.0
"""The workers' probe timeout here: far below a long generation, which must not look like an outage."""
PRICE = 20
"""nanoTON per adjusted token on the local network (coefficient 1000)."""


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNet]:
    env = {"COCOON_HEALTH_TIMEOUT_S": str(HEALTH_TIMEOUT_S), "COCOON_HEALTH_INTERVAL_S": "0.5"}
    running = start_net(tmp_path_factory.mktemp("builtin"), engine="builtin", env=env)
    yield running
    assert stop_net(running) == 0, running.output()


@pytest.fixture(scope="module")
def api(net: RunningNet) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=net.base_url, api_key="unused", max_retries=0, timeout=120) as client:
        yield client


def test_real_model_answers_through_the_network(net: RunningNet, api: openai.OpenAI) -> None:
    assert net.model.startswith("SmolLM2-135M-Instruct")
    before = net.charged_nano()
    sealed_before = net.proxy_stats()["routing"]["e2e_routed"]
    raw = api.chat.completions.with_raw_response.create(
        model=net.model,
        messages=[{"role": "user", "content": "Name one colour of the sky."}],
        max_tokens=16,
    )
    # `cocoon up` requires end-to-end encryption: the proxy routed ciphertext, the worker signed for it.
    assert raw.headers["x-cocoon-e2e"] == "1"
    assert net.proxy_stats()["routing"]["e2e_routed"] == sealed_before + 1
    answer = raw.parse()
    assert (answer.model_extra or {})["receipt"]["version"] == 2
    text = answer.choices[0].message.content
    assert text and text.strip()
    usage = answer.usage
    assert usage is not None and usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 16
    cost = (usage.model_extra or {})["total_cost"]
    assert cost == (usage.prompt_tokens + usage.completion_tokens) * 20
    assert net.charged_nano() - before == cost


def test_the_short_model_name_works_too(net: RunningNet, api: openai.OpenAI) -> None:
    """Nobody types weights hashes: the name part of the served model id is enough."""
    short = net.model.split("@", 1)[0]
    answer = api.chat.completions.create(
        model=short, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4
    )
    assert answer.choices[0].message.content  # without resolution the proxy answers 404 model_not_found


def test_the_model_list_shows_the_engines_context_length_and_endpoints(
    net: RunningNet, api: openai.OpenAI
) -> None:
    """The workers probed llama.cpp at start: the built-in default ``--n-ctx``, its two endpoints and
    the Responses API the workers serve over its chat completions."""
    (model,) = [m for m in api.models.list().data if m.id == net.model]
    extra = model.model_extra or {}
    assert extra["context_length"] == 2048
    assert extra["endpoints"] == [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
    ]
    assert extra["workers"] and all(w["context_length"] == 2048 for w in extra["workers"])


def test_embeddings_are_vectors_charged_as_prompt_tokens(net: RunningNet, api: openai.OpenAI) -> None:
    before = net.charged_nano()
    answer = api.embeddings.create(model=net.model, input=["the sky", "the sea"])
    assert [d.index for d in answer.data] == [0, 1]
    assert all(len(d.embedding) == 576 for d in answer.data)  # SmolLM2-135M's hidden size
    assert answer.data[0].embedding != answer.data[1].embedding
    assert answer.usage.prompt_tokens > 0
    assert net.charged_nano() - before == answer.usage.prompt_tokens * PRICE


def test_transcriptions_are_not_served_by_the_builtin_engine(net: RunningNet, api: openai.OpenAI) -> None:
    """A text model has no transcription route: a 404 naming the endpoint, the workers and what their
    engines do serve, before any engine is asked."""
    with pytest.raises(openai.NotFoundError) as caught:
        api.audio.transcriptions.create(model=net.model, file=("a.wav", b"RIFF" + bytes(1000)))
    message = caught.value.message
    assert "/v1/audio/transcriptions" in message and "/v1/chat/completions" in message
    assert caught.value.code == "endpoint_not_served"


def test_the_responses_api_answers_with_the_engines_chat_answer(net: RunningNet, api: openai.OpenAI) -> None:
    """llama.cpp has no /v1/responses: the worker translates onto its chat completions. Greedy
    sampling gives the same text as asking the engine's chat completions directly."""
    ask = "Name one colour of the sky."
    response = api.responses.create(
        model=net.model, input=ask, instructions="Answer in one word.", max_output_tokens=12, temperature=0
    )
    with openai.OpenAI(
        base_url=net.engine_url + "/v1", api_key="unused", max_retries=0, timeout=120
    ) as engine:
        direct = engine.chat.completions.create(
            model=net.model,
            messages=[{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": ask}],
            max_tokens=12,
            temperature=0,
        )
    assert response.output_text == direct.choices[0].message.content
    assert response.usage is not None and direct.usage is not None
    assert response.usage.input_tokens == direct.usage.prompt_tokens
    assert response.usage.output_tokens == direct.usage.completion_tokens
    story = "Write a long story about a cat."  # never done in 6 tokens
    with api.responses.stream(model=net.model, input=story, max_output_tokens=6, temperature=0) as stream:
        events = list(stream)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    last = events[-1]
    assert last.type == "response.incomplete"  # cut at 6 tokens, as OpenAI reports it
    assert last.response.output_text == deltas and deltas.strip()
    assert last.response.usage is not None and last.response.usage.output_tokens == 6


def test_real_model_streams_with_usage(net: RunningNet, api: openai.OpenAI) -> None:
    raw = api.chat.completions.with_raw_response.create(
        model=net.model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["x-cocoon-e2e"] == "1"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens <= 8
    receipt = (chunks[-1].model_extra or {})["receipt"]
    assert receipt["version"] == 2 and receipt["final"]
    assert receipt["completion_tokens"] == chunks[-1].usage.completion_tokens


def test_the_demo_request_of_cocoon_up_says_it_was_end_to_end_encrypted(net: RunningNet) -> None:
    answer = asyncio.run(demo_request(net.base_url, net.model))
    assert answer.text.strip() and answer.e2e


def test_a_forced_tool_call_comes_back_as_tool_calls(net: RunningNet, api: openai.OpenAI) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    for stream in (False, True):
        kwargs: Any = {
            "model": net.model,
            "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "max_tokens": 60,
            "temperature": 0,
        }
        if stream:
            chunks = list(api.chat.completions.create(**kwargs, stream=True))
            calls = [c for chunk in chunks if chunk.choices for c in chunk.choices[0].delta.tool_calls or []]
            name = "".join(c.function.name or "" for c in calls if c.function)
            arguments = "".join(c.function.arguments or "" for c in calls if c.function)
            finish = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices][-1]
        else:
            answer = api.chat.completions.create(**kwargs)
            (call,) = answer.choices[0].message.tool_calls or []
            name, arguments = call.function.name, call.function.arguments
            finish = answer.choices[0].finish_reason
        assert name == "get_weather" and finish == "tool_calls"
        assert isinstance(json.loads(arguments)["city"], str)


def test_logprobs_are_the_engines_token_logprobs(net: RunningNet, api: openai.OpenAI) -> None:
    answer = api.chat.completions.create(
        model=net.model,
        messages=[{"role": "user", "content": "Say hi."}],
        max_tokens=4,
        logprobs=True,
        top_logprobs=2,
    )
    tokens = (answer.choices[0].logprobs and answer.choices[0].logprobs.content) or []
    # One entry per token, except that llama.cpp joins the tokens of one UTF-8 character (an emoji).
    assert answer.usage is not None and 0 < len(tokens) <= answer.usage.completion_tokens
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)
    assert "".join(t.token for t in tokens) == answer.choices[0].message.content


def test_a_json_schema_answer_parses_against_its_schema(net: RunningNet, api: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}, "shades": {"type": "integer"}},
        "required": ["colour", "shades"],
        "additionalProperties": False,
    }
    answer = api.chat.completions.create(
        model=net.model,
        messages=[{"role": "user", "content": "Describe the sky's colour."}],
        response_format={"type": "json_schema", "json_schema": {"name": "sky", "schema": schema}},
        max_tokens=60,
        temperature=0,
    )
    parsed = json.loads(answer.choices[0].message.content or "")
    assert set(parsed) == {"colour", "shades"}
    assert isinstance(parsed["colour"], str) and isinstance(parsed["shades"], int)


def test_two_choices_are_both_generated_and_both_billed(net: RunningNet, api: openai.OpenAI) -> None:
    before = net.charged_nano()
    answer = api.chat.completions.create(
        model=net.model,
        messages=[{"role": "user", "content": "Write a long story about a cat."}],
        max_tokens=5,
        n=2,
    )
    assert [c.index for c in answer.choices] == [0, 1]
    assert all((c.message.content or "").strip() for c in answer.choices)
    usage = answer.usage
    assert usage is not None and usage.completion_tokens == 10  # 5 for each choice: a story goes on
    assert net.charged_nano() - before == (usage.prompt_tokens + usage.completion_tokens) * PRICE


def test_a_long_generation_keeps_the_workers_in_routing_and_another_request_is_served_meanwhile(
    net: RunningNet, api: openai.OpenAI
) -> None:
    """The probe gives up after HEALTH_TIMEOUT_S; the engine generates for longer, answers /health all
    the while, and decodes a second request in another slot instead of queueing it.

    The long generation is streamed and dropped once the short answer is in: what is asserted is
    that its tokens kept coming past several probe timeouts and after the short answer, which does not
    depend on how fast the machine decodes (a whole 1,500-token answer ran out of its deadline on a
    loaded machine)."""
    long_tokens: list[float] = []
    long_ended: list[float] = []
    short_in = threading.Event()

    def generate_long() -> None:
        stream = api.chat.completions.create(
            model=net.model,
            messages=[{"role": "user", "content": "Write a very long story about a cat and a boat."}],
            max_tokens=1500,
            stream=True,
            extra_body={"ignore_eos": True},
        )
        with stream:  # leaving it early closes the connection: the generation is cancelled
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    long_tokens.append(time.monotonic())
                    if short_in.is_set() and long_tokens[-1] - started > HEALTH_TIMEOUT_S * 2:
                        return
        long_ended.append(time.monotonic())

    worker = threading.Thread(target=generate_long)
    started = time.monotonic()
    worker.start()
    time.sleep(HEALTH_TIMEOUT_S * 2)  # several probes while it generates
    short = api.chat.completions.create(
        model=net.model, messages=[{"role": "user", "content": "Say hi."}], max_tokens=4
    )
    short_done = time.monotonic()
    short_in.set()
    assert short.choices[0].message.content
    workers = [w for w in net.proxy_stats()["workers"] if w["enabled"]]
    stats = [net.worker_stats(i)["engine"] for i in range(1, net.workers + 1)]
    worker.join(timeout=300)
    assert not worker.is_alive(), "the long generation neither went on nor ended"
    assert long_tokens, "the long generation sent no token"
    assert long_tokens[-1] - started > HEALTH_TIMEOUT_S * 2  # it really ran past several probe timeouts
    assert long_tokens[-1] > short_done, long_ended  # still generating after the short one was served
    assert len(workers) == net.workers  # both stayed in routing
    assert all(s["up"] and s["probes_failed_total"] == 0 for s in stats)

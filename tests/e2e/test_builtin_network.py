"""The whole path on the real model: SmolLM2-135M-Instruct on llama.cpp behind two workers."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Iterator

import openai
import pytest
from netproc import RunningNet, start_net, stop_net

from cocoon.localnet.up import demo_request

pytestmark = pytest.mark.slow

if importlib.util.find_spec("llama_cpp") is None:
    pytest.skip(
        "llama-cpp-python is not installed: run `make engine` (make test installs it)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNet]:
    running = start_net(tmp_path_factory.mktemp("builtin"), engine="builtin")
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
    assert extra["endpoints"] == ["/v1/chat/completions", "/v1/completions", "/v1/responses"]
    assert extra["workers"] and all(w["context_length"] == 2048 for w in extra["workers"])


def test_embeddings_are_not_served_by_the_builtin_engine(net: RunningNet, api: openai.OpenAI) -> None:
    """llama.cpp has the route but embeds only when loaded with ``embedding=True``: the probe saw that."""
    with pytest.raises(openai.NotFoundError) as caught:
        api.embeddings.create(model=net.model, input="the sky")
    assert "/v1/embeddings" in caught.value.message and net.model in caught.value.message


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
    with api.responses.stream(model=net.model, input=ask, max_output_tokens=6) as stream:
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


def _unsupported_answers(net: RunningNet) -> int:
    """How many engine answers the workers classified as unsupported (one per engine call refused)."""
    stats = [net.worker_stats(i)["requests"] for i in range(1, net.workers + 1)]
    return sum(s.get("by_engine_class", {}).get("unsupported", 0) for s in stats)


def test_logprobs_the_engine_cannot_give_are_a_400_from_one_engine_call(
    net: RunningNet, api: openai.OpenAI
) -> None:
    """llama-cpp-python answers top logprobs (SmolLM2 is loaded without ``logits_all``) with a 500; the
    app gets that message as a 400 at once, naming the parameter, and no other worker is asked."""
    before = _unsupported_answers(net)
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model=net.model,
            messages=[{"role": "user", "content": "Say hi."}],
            max_tokens=4,
            logprobs=True,
            top_logprobs=2,
        )
    elapsed = time.monotonic() - started
    error = caught.value
    assert "logprobs is not supported for models created with logits_all=False" in error.message
    assert error.code == "unsupported_parameter"
    assert isinstance(error.body, dict) and error.body["param"] == "logprobs"
    assert _unsupported_answers(net) - before == 1  # one engine call: refused once, never retried
    assert elapsed < 10, f"the refusal took {elapsed:.1f} s"

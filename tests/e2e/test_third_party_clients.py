"""Real third-party clients on a real network, as app developers point them at the client daemon: the
official `openai` SDK (sync and async, its stream helpers, `parse` with a Pydantic model, embeddings,
the Responses API, transcriptions), LangChain's `ChatOpenAI` and `OpenAIEmbeddings` (tools bound,
structured output), and LiteLLM as a client library.

Each client gets the same answer through the network as from the engine called directly, on the fake
engine and on the built-in one (SmolLM2 on llama.cpp's server, sampled greedily so that answers
repeat). Where the built-in engine cannot serve something (transcriptions: a text model), the network
says so clearly: a 404 naming the endpoint.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from netproc import RunningNet, start_net, stop_net
from pydantic import BaseModel

# LiteLLM fetches a price list from the internet at import unless told to use its bundled copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

pytestmark = pytest.mark.slow
litellm.suppress_debug_info = True

ENGINES = ["fake", "builtin"]
QUESTION = [{"role": "user", "content": "Name one colour of the sky."}]
GREEDY: dict[str, Any] = {"temperature": 0, "max_tokens": 8}
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the weather for a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


class Colour(BaseModel):
    """A nested model, as apps parse structured output into."""

    class Shade(BaseModel):
        name: str
        dark: bool

    colour: str
    shade: Shade


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"sunny in {city}"


@dataclass
class Target:
    """The network (the client daemon) and, for comparison, its engine called directly."""

    net: RunningNet
    engine: str

    @property
    def urls(self) -> tuple[str, str]:
        return self.net.base_url, f"{self.net.engine_url}/v1"

    @property
    def model(self) -> str:
        return self.net.model


@pytest.fixture(scope="module", params=ENGINES)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    running = start_net(tmp_path_factory.mktemp(f"clients-{request.param}"), engine=request.param)
    yield Target(running, request.param)
    assert stop_net(running) == 0, running.output()


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)


def async_sdk(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120)


@pytest.fixture
def event_loop_for_litellm() -> Iterator[None]:
    """LiteLLM's sync calls make (and never close) an event loop of their own: give them one to use."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    loop.close()
    asyncio.set_event_loop(None)


# --- the openai SDK ------------------------------------------------------------------------------


def test_openai_sync_chat_and_stream_helper(target: Target) -> None:
    answers = []
    for url in target.urls:
        with sdk(url) as client:
            whole = client.chat.completions.create(model=target.model, messages=QUESTION, **GREEDY)
            with client.chat.completions.stream(model=target.model, messages=QUESTION, **GREEDY) as stream:
                deltas = "".join(e.delta for e in stream if e.type == "content.delta")
                # (get_final_completion refuses an answer cut by max_tokens, as the built-in's is)
                final = stream.current_completion_snapshot
            answers.append((whole.choices[0].message.content, deltas, final.choices[0].message.content))
    through_network, direct = answers
    assert through_network == direct and direct[0]
    assert direct[0] == direct[1] == direct[2]


async def test_openai_async_chat_and_tool_calls(target: Target) -> None:
    forced: Any = {"type": "function", "function": {"name": "get_weather"}}
    calls = []
    for url in target.urls:
        async with async_sdk(url) as client:
            answer = await client.chat.completions.create(
                model=target.model,
                messages=WEATHER,  # type: ignore[arg-type]
                tools=TOOLS,
                tool_choice=forced,
                temperature=0,
                max_tokens=40,
            )
        (call,) = answer.choices[0].message.tool_calls or []
        assert call.type == "function"
        calls.append((call.function.name, call.function.arguments, answer.choices[0].finish_reason))
    assert calls[0] == calls[1] and calls[0][0] == "get_weather" and calls[0][2] == "tool_calls"


def test_openai_parse_with_a_pydantic_model(target: Target) -> None:
    kwargs: dict[str, Any] = {
        "model": target.model,
        "messages": QUESTION,
        "response_format": Colour,
        "max_tokens": 60,
        "temperature": 0,  # greedy: the network's answer and the engine's compare
    }
    parsed = []
    for url in target.urls:
        with sdk(url) as client:
            parsed.append(client.beta.chat.completions.parse(**kwargs).choices[0].message.parsed)
    assert isinstance(parsed[0], Colour) and parsed[0] == parsed[1]


def test_openai_embeddings(target: Target) -> None:
    vectors = []
    for url in target.urls:
        with sdk(url) as client:
            vectors.append(
                [d.embedding for d in client.embeddings.create(model=target.model, input=["a", "b"]).data]
            )
    assert vectors[0] == vectors[1] and len(vectors[0]) == 2


async def test_openai_responses_whole_and_streamed(target: Target) -> None:
    """The fake engine serves the Responses API itself; the built-in engine's is compared with its chat
    answer in test_builtin_network (llama.cpp has no /v1/responses to call directly)."""
    urls = target.urls if target.engine == "fake" else (target.net.base_url,)
    texts = []
    for url in urls:
        async with async_sdk(url) as client:
            whole = await client.responses.create(
                model=target.model, input="Name one colour of the sky.", max_output_tokens=100, temperature=0
            )
            async with client.responses.stream(
                model=target.model, input="Name one colour of the sky.", max_output_tokens=100, temperature=0
            ) as stream:
                final = await stream.get_final_response()
        assert final.output_text == whole.output_text and whole.output_text
        texts.append(whole.output_text)
    assert len(set(texts)) == 1


def test_openai_transcriptions(target: Target) -> None:
    audio = ("note.wav", b"RIFF" + bytes(3200), "audio/wav")
    if target.engine == "builtin":
        with sdk(target.net.base_url) as client, pytest.raises(openai.NotFoundError) as caught:
            client.audio.transcriptions.create(model=target.model, file=audio)
        assert "/v1/audio/transcriptions" in caught.value.message
        return
    texts = []
    for url in target.urls:
        with sdk(url) as client:
            texts.append(
                client.audio.transcriptions.create(model=target.model, file=audio, prompt="sky").text
            )
    assert texts[0] == texts[1] == "transcript of note.wav: 3204 bytes sky"


# --- LangChain -----------------------------------------------------------------------------------


@pytest.fixture
async def http_async_client() -> AsyncIterator[openai.DefaultAsyncHttpxClient]:
    """LangChain shares one async HTTP client per base URL across the process; each test's event loop
    needs its own."""
    async with openai.DefaultAsyncHttpxClient() as client:
        yield client


def _chat(url: str, model: str, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(base_url=url, api_key="unused", model=model, temperature=0, max_retries=0, **kwargs)  # type: ignore[arg-type]


async def test_langchain_chat_invoke_stream_and_tools(
    target: Target, http_async_client: openai.DefaultAsyncHttpxClient
) -> None:
    seen = []
    for url in target.urls:
        chat = _chat(url, target.model, http_async_client=http_async_client)
        text = chat.invoke("Name one colour of the sky.").content
        streamed = "".join(str(chunk.content) for chunk in chat.stream("Name one colour of the sky."))
        awaited = (await chat.ainvoke("Name one colour of the sky.")).content
        with_tools = _chat(url, target.model, max_tokens=40).bind_tools(
            [get_weather], tool_choice="get_weather"
        )
        calls = with_tools.invoke("What is the weather in Paris?").tool_calls  # type: ignore[attr-defined]
        seen.append((text, streamed, awaited, [(c["name"], c["args"]) for c in calls]))
    assert seen[0] == seen[1]
    text, streamed, awaited, calls = seen[0]
    assert text and text == streamed == awaited
    assert calls and calls[0][0] == "get_weather" and "city" in calls[0][1]


def test_langchain_structured_output_and_embeddings(target: Target) -> None:
    results = []
    for url in target.urls:
        structured = _chat(url, target.model, max_tokens=60).with_structured_output(Colour)
        # Without a tokenizer download: LangChain sends the strings as they are.
        embeddings = OpenAIEmbeddings(
            base_url=url, api_key="unused", model=target.model, check_embedding_ctx_length=False
        )  # type: ignore[arg-type]
        results.append((structured.invoke("Describe the sky."), embeddings.embed_documents(["sky", "sea"])))
    (colour, vectors), (direct_colour, direct_vectors) = results
    assert isinstance(colour, Colour) and colour == direct_colour
    assert vectors == direct_vectors and len(vectors) == 2


# --- LiteLLM -------------------------------------------------------------------------------------


def _litellm(url: str, model: str) -> dict[str, Any]:
    return {"model": f"openai/{model}", "api_base": url, "api_key": "unused", "num_retries": 0}


@pytest.mark.usefixtures("event_loop_for_litellm")
def test_litellm_completion_stream_and_tools(target: Target) -> None:
    seen = []
    for url in target.urls:
        args = _litellm(url, target.model)
        whole = litellm.completion(messages=QUESTION, **GREEDY, **args)
        chunks = litellm.completion(messages=QUESTION, stream=True, **GREEDY, **args)
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        called = litellm.completion(
            messages=WEATHER,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            temperature=0,
            max_tokens=40,
            **args,
        )
        call = called.choices[0].message.tool_calls[0]
        seen.append((whole.choices[0].message.content, streamed, call.function.name, call.function.arguments))
    assert seen[0] == seen[1] and seen[0][0] == seen[0][1] and seen[0][2] == "get_weather"


async def test_litellm_async_completion_and_embedding(target: Target) -> None:
    seen = []
    for url in target.urls:
        args = _litellm(url, target.model)
        answer = await litellm.acompletion(messages=QUESTION, **GREEDY, **args)
        seen.append(answer.choices[0].message.content)
        vectors = await litellm.aembedding(input=["sky"], **args)
        seen.append(vectors.data[0]["embedding"])
    assert seen[: len(seen) // 2] == seen[len(seen) // 2 :] and seen[0]

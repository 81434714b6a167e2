"""The worker's start-up probe of its engine: context length and OpenAI endpoints, cheap and never fatal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from cocoon.api.capabilities import KNOWN_ENDPOINTS, context_length_of
from cocoon.engine.client import EngineClient
from cocoon.engine.fake import start_fake_engine
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.responses_bridge import ResponsesBridge
from cocoon.worker.capabilities import EngineCapabilities, probe_engine

BOTH = ("/v1/chat/completions", "/v1/completions")
RESPONSES, TRANSCRIPTIONS = "/v1/responses", "/v1/audio/transcriptions"
ALL = (*BOTH, "/v1/embeddings", RESPONSES, TRANSCRIPTIONS)


async def test_memory_engine_states_its_context_length_and_all_endpoints() -> None:
    caps = await probe_engine(MemoryEngine(FakeEngineConfig(context_length=4096)), FAKE_MODEL)
    assert caps == EngineCapabilities(context_length=4096, endpoints=ALL)
    assert KNOWN_ENDPOINTS == ALL


async def test_an_engine_configured_without_embeddings_does_not_list_them() -> None:
    caps = await probe_engine(MemoryEngine(FakeEngineConfig(embeddings=False)), FAKE_MODEL)
    assert caps.endpoints == (*BOTH, RESPONSES, TRANSCRIPTIONS)


async def test_the_responses_api_is_served_natively_or_over_chat_completions() -> None:
    chat_only = FakeEngineConfig(responses=False, transcriptions=False)
    assert (await probe_engine(MemoryEngine(chat_only), FAKE_MODEL)).endpoints == (*BOTH, "/v1/embeddings")
    bridge = ResponsesBridge(MemoryEngine(chat_only))
    caps = await probe_engine(bridge, FAKE_MODEL)
    assert caps.endpoints == (*BOTH, "/v1/embeddings", RESPONSES) and not bridge.native
    native = ResponsesBridge(MemoryEngine())
    assert (await probe_engine(native, FAKE_MODEL)).endpoints == ALL and native.native


async def test_an_engine_that_states_no_context_length_gives_unknown() -> None:
    caps = await probe_engine(MemoryEngine(), FAKE_MODEL)
    assert caps.context_length == 0 and caps.endpoints == ALL


async def test_another_models_context_length_is_not_taken() -> None:
    caps = await probe_engine(MemoryEngine(FakeEngineConfig(context_length=4096)), "other-model")
    assert caps.context_length == 0


async def test_fake_http_engine_lists_max_model_len_like_vllm_and_probes_generate_nothing() -> None:
    fake = await start_fake_engine(FakeEngineConfig(context_length=8192))
    try:
        async with EngineClient(fake.base_url, idle_timeout=2.0) as engine:
            entries = await engine.model_entries()
            assert entries[0]["max_model_len"] == 8192
            caps = await probe_engine(engine, FAKE_MODEL)
        assert caps == EngineCapabilities(context_length=8192, endpoints=ALL)
        stats = fake.state
        assert stats.by_path["/v1/chat/completions"] == 0 and stats.by_path["/v1/completions"] == 0
    finally:
        await fake.close()


async def test_a_route_for_embeddings_that_does_not_embed_is_not_listed() -> None:
    """As llama.cpp without ``embedding=True``: the route exists (405 to GET) but a request fails."""
    fake = await start_fake_engine(FakeEngineConfig(embeddings=False))
    try:
        async with EngineClient(fake.base_url, idle_timeout=2.0) as engine:
            caps = await probe_engine(engine, FAKE_MODEL)
        assert caps.endpoints == (*BOTH, RESPONSES, TRANSCRIPTIONS)
        assert fake.state.by_path["/v1/embeddings"] == 1  # the one probe that proved it not served
    finally:
        await fake.close()


@asynccontextmanager
async def engine_app(app: web.Application) -> AsyncIterator[EngineClient]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with EngineClient(f"http://127.0.0.1:{port}/v1", idle_timeout=2.0) as engine:
            yield engine
    finally:
        await runner.cleanup()


async def test_an_endpoint_the_engine_lacks_is_not_listed() -> None:
    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "m", "object": "model"}]})

    async def chat(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "bad request"}}, status=400)

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    async with engine_app(app) as engine:
        caps = await probe_engine(engine, "m")
    assert caps == EngineCapabilities(context_length=0, endpoints=("/v1/chat/completions",))


async def test_a_route_for_every_method_is_found_by_an_empty_request() -> None:
    # No 405 to tell: the empty POST's 422 shows the route exists; a 404 on POST shows it does not.
    async def anything(request: web.Request) -> web.Response:
        if request.path == "/v1/completions":
            return web.json_response({"detail": "not found"}, status=404)
        return web.json_response({"detail": "field required"}, status=422)

    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", anything)
    async with engine_app(app) as engine:
        assert await engine.serves("/v1/chat/completions")
        assert not await engine.serves("/v1/completions")


async def test_an_engine_that_does_not_answer_is_bounded_in_time_and_not_fatal() -> None:
    gate = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await gate.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", hang)
    async with engine_app(app) as engine:
        caps = await asyncio.wait_for(probe_engine(engine, "m", within=0.2), 5)
        gate.set()
    assert caps == EngineCapabilities()


async def test_an_engine_that_is_down_is_not_fatal() -> None:
    async with EngineClient("http://127.0.0.1:9/v1", idle_timeout=1.0) as engine:
        assert await probe_engine(engine, "m", within=1.0) == EngineCapabilities()


def test_llama_servers_slot_context_is_its_context_length() -> None:
    """llama.cpp's server states the context of one slot in ``meta.n_ctx`` (not the model's trained one)."""
    entry = {"id": "m", "meta": {"n_ctx": 2048, "n_ctx_train": 8192}}
    assert context_length_of(entry) == 2048
    assert context_length_of({"id": "m", "meta": {"n_ctx": True}}) is None
    assert context_length_of({"id": "m", "meta": "n_ctx"}) is None
    assert context_length_of({"id": "m", "max_model_len": 4096, "meta": {"n_ctx": 2048}}) == 4096

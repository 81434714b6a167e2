"""`GET /v1/models` through the official SDK on an in-process network: context length, endpoints and
per-worker prices reach the app as extra fields of an otherwise ordinary OpenAI model list."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.protocol import Engine
from inprocess import in_process_network


@pytest.fixture
async def client_port(tmp_path: Path) -> AsyncIterator[int]:
    offers = [(1000, 4096), (1500, 2048)]  # (coefficient, context length of its engine)
    engines: list[Engine] = [MemoryEngine(FakeEngineConfig(context_length=ctx)) for _, ctx in offers]
    settings = [{"coefficient": coefficient} for coefficient, _ in offers]
    async with in_process_network(tmp_path, engines, worker_settings=settings) as net:
        yield net.client.http_port


async def test_models_list_shows_context_endpoints_and_prices(client_port: int) -> None:
    async with AsyncOpenAI(base_url=f"http://127.0.0.1:{client_port}/v1", api_key="unused") as api:
        page = await api.models.list()
    (model,) = page.data
    assert (model.id, model.object, model.owned_by) == (FAKE_MODEL, "model", "cocoon")
    extra = model.model_extra or {}
    assert extra["context_length"] == 2048  # the shorter of the two workers' engines
    served = [
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/audio/transcriptions",
    ]
    assert extra["endpoints"] == served
    assert all(len(extra["endpoint_workers"][path]) == 2 for path in served)
    assert extra["price_unit_tokens"] == 1_000_000
    workers = sorted(extra["workers"], key=lambda w: w["coefficient"])
    assert [(w["coefficient"], w["context_length"], w["endpoints"]) for w in workers] == [
        (1000, 4096, served),
        (1500, 2048, served),
    ]
    # price_per_token 20 nanoTON x coefficient / 1000, multipliers 1.0x: per million tokens
    assert [w["price_nano_per_million_tokens"] for w in workers] == [
        {"prompt": 20_000_000, "completion": 20_000_000},
        {"prompt": 30_000_000, "completion": 30_000_000},
    ]

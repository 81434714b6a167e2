"""`POST /v1/embeddings` through a whole in-process network with the official SDK: the engine's vectors,
prompt-only metering and charge, the receipt; and a 404 naming the endpoint when no worker serves it."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import openai
import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from inprocess import in_process_network

PRICE = 20  # nanoTON per adjusted token (ProxyConfig's default)
COEFFICIENT = 1500
CREDIT = 10**12  # in_process_network's local client credit
EMBEDDINGS = "/v1/embeddings"


async def test_embeddings_are_the_engines_vectors_metered_as_prompt_tokens(tmp_path: Path) -> None:
    engine = MemoryEngine()
    inputs = ["alpha beta gamma delta", "epsilon"]
    settings = [{"coefficient": COEFFICIENT}]
    async with in_process_network(tmp_path, [engine], worker_settings=settings) as net:
        raw = await net.sdk.embeddings.with_raw_response.create(model=FAKE_MODEL, input=inputs)
        result = raw.parse()
        (account,) = net.proxy.service.ledger.clients()
    path, sent = engine.calls[-1]
    assert path == EMBEDDINGS
    assert "max_tokens" not in sent and "stream" not in sent  # nothing injected into the body
    direct = await MemoryEngine().complete(EMBEDDINGS, {"model": FAKE_MODEL, "input": inputs})
    assert [d.embedding for d in result.data] == [d["embedding"] for d in direct.data["data"]]
    assert [d.index for d in result.data] == [0, 1]
    tokens = direct.data["usage"]["prompt_tokens"]
    assert tokens == 6 + 2  # ceil(22 / 4) + ceil(7 / 4)
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (tokens, tokens)
    extra = result.usage.model_extra or {}
    charged = tokens * COEFFICIENT // 1000 * PRICE
    assert extra["total_cost"] == extra["prompt_total_cost"] == charged
    assert extra["completion_total_cost"] == 0
    assert account.charged_nano == CREDIT - account.remaining_nano == charged
    assert raw.headers["x-cocoon-worker"] and raw.headers["x-cocoon-request-id"]
    # End-to-end encrypted (the client's default here): the receipt covers the sealed frames relayed,
    # and the client checked it against the frames it opened before attaching it.
    assert raw.headers["x-cocoon-e2e"] == "1"
    receipt = (result.model_extra or {})["receipt"]
    assert receipt["version"] == 2 and receipt["request_id"] == raw.headers["x-cocoon-request-id"]
    assert receipt["final"] and receipt["frame_count"] >= 3  # head, the vectors, final
    assert receipt["prompt_tokens"] == tokens and receipt["signer"] == raw.headers["x-cocoon-worker-key"]


async def test_base64_and_dimensions_reach_the_engine_and_come_back(tmp_path: Path) -> None:
    engine = MemoryEngine()
    async with in_process_network(tmp_path, [engine]) as net:
        floats = await net.sdk.embeddings.create(
            model=FAKE_MODEL, input="hi", encoding_format="float", dimensions=3
        )
        packed = await net.sdk.embeddings.create(
            model=FAKE_MODEL, input="hi", encoding_format="base64", dimensions=3
        )
    assert len(floats.data[0].embedding) == 3
    # asked for explicitly, base64 comes back as the string: little-endian float32, the same numbers
    assert isinstance(packed.data[0].embedding, str)
    decoded = struct.unpack("<3f", base64.b64decode(packed.data[0].embedding))
    assert list(decoded) == floats.data[0].embedding
    assert [body["encoding_format"] for _, body in engine.calls] == ["float", "base64"]


async def test_a_network_whose_workers_do_not_embed_says_404_without_calling_them(tmp_path: Path) -> None:
    engine = MemoryEngine(FakeEngineConfig(embeddings=False))
    async with in_process_network(tmp_path, [engine]) as net:
        with pytest.raises(openai.NotFoundError) as caught:
            await net.sdk.embeddings.create(model=FAKE_MODEL, input=["x"])
        chat = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=[{"role": "user", "content": "still here"}]
        )
        (account,) = net.proxy.service.ledger.clients()
    assert EMBEDDINGS in caught.value.message and FAKE_MODEL in caught.value.message
    assert caught.value.code == "endpoint_not_served"
    assert [path for path, _ in engine.calls] == ["/v1/chat/completions"]  # never asked to embed
    assert chat.usage is not None
    assert account.charged_nano == (chat.usage.model_extra or {})["total_cost"]  # nothing for the 404

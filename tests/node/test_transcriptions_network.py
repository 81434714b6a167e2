"""`POST /v1/audio/transcriptions` through a whole in-process network with the official SDK: the engine's
transcript, metered from the usage it reports (tokens, or a duration), charged and receipted; a 404
naming the endpoint when no worker's engine transcribes; bad forms refused before any cost."""

from __future__ import annotations

import math
from pathlib import Path

import openai
import pytest

from cocoon.api.multipart import FormPart, encode_form
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.engine.usage import AUDIO_TOKENS_PER_SECOND
from inprocess import in_process_network

PRICE = 20  # nanoTON per adjusted token (ProxyConfig's default)
CREDIT = 10**12  # in_process_network's local client credit
PATH = "/v1/audio/transcriptions"
AUDIO = b"RIFF" + bytes(range(256)) * 250  # 64,004 bytes: 2 s of 16 kHz 16-bit mono


async def test_a_transcript_is_the_engines_metered_and_receipted(tmp_path: Path) -> None:
    engine = MemoryEngine()
    async with in_process_network(tmp_path, [engine]) as net:
        raw = await net.sdk.audio.transcriptions.with_raw_response.create(
            model=FAKE_MODEL, file=("note.wav", AUDIO, "audio/wav"), prompt="Paris", language="en"
        )
        result = raw.parse()
        (account,) = net.proxy.service.ledger.clients()
    path, sent = engine.calls[-1]
    assert path == PATH
    direct = await MemoryEngine().complete(PATH, sent)  # the form exactly as the worker sent it
    assert result.text == direct.data["text"] == "transcript of note.wav: 64004 bytes Paris"
    usage = direct.data["usage"]
    assert usage["input_tokens"] == math.ceil(len(AUDIO) / 640) + 2 and usage["output_tokens"] == 11
    assert result.usage is not None and result.usage.type == "tokens"
    costs = result.usage.model_extra or {}
    tokens = usage["input_tokens"] + usage["output_tokens"]
    assert costs["total_cost"] == tokens * PRICE == account.charged_nano
    assert account.charged_nano == CREDIT - account.remaining_nano
    assert (result.model_extra or {})["receipt"]["request_id"] == raw.headers["x-cocoon-request-id"]


async def test_a_duration_usage_is_metered_per_second_of_audio(tmp_path: Path) -> None:
    async with in_process_network(tmp_path, [MemoryEngine()]) as net:
        verbose = await net.sdk.audio.transcriptions.create(
            model=FAKE_MODEL,
            file=("note.wav", AUDIO),
            response_format="verbose_json",
            timestamp_granularities=["word"],
        )
        (account,) = net.proxy.service.ledger.clients()
    seconds = len(AUDIO) / 32_000
    assert verbose.duration == round(seconds, 3)
    assert verbose.words is not None and [w.word for w in verbose.words][:2] == ["transcript", "of"]
    assert account.charged_nano == math.ceil(round(seconds, 3) * AUDIO_TOKENS_PER_SECOND) * PRICE


async def test_no_transcribing_worker_is_a_404_naming_the_endpoint(tmp_path: Path) -> None:
    engine = MemoryEngine(FakeEngineConfig(transcriptions=False))
    async with in_process_network(tmp_path, [engine]) as net:
        with pytest.raises(openai.NotFoundError) as info:
            await net.sdk.audio.transcriptions.create(model=FAKE_MODEL, file=("a.wav", AUDIO))
    assert info.value.body["code"] == "endpoint_not_served"  # type: ignore[index]
    assert PATH in info.value.body["message"]  # type: ignore[index]
    assert engine.calls == []


async def test_bad_forms_and_content_types_are_refused_before_any_cost(tmp_path: Path) -> None:
    engine = MemoryEngine()
    async with in_process_network(tmp_path, [engine]) as net:
        with pytest.raises(openai.BadRequestError) as info:
            await net.sdk.audio.transcriptions.create(
                model=FAKE_MODEL, file=("a.wav", AUDIO), response_format="srt"
            )
        assert info.value.body["param"] == "response_format"  # type: ignore[index]
        url = str(net.sdk.base_url).rstrip("/") + "/audio/transcriptions"
        json_body = await net.sdk._client.post(url, json={"model": FAKE_MODEL, "file": "x"})
        assert json_body.status_code == 415
        form = encode_form([FormPart("model", FAKE_MODEL.encode())])  # no file
        no_file = await net.sdk._client.post(
            url, content=form.data, headers={"Content-Type": form.content_type}
        )
        assert no_file.status_code == 400 and no_file.json()["error"]["param"] == "file"
        assert all(account.charged_nano == 0 for account in net.proxy.service.ledger.clients())
    assert engine.calls == []

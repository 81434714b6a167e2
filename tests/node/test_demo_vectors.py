"""Demo mode tdx-vectors: only its environment variable enables it, never on a real TD, loudly; in it
a whole in-process network admits workers presenting the recorded quote through the tdx policy,
with collateral from a PCCS, and the client seals requests to them end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import ConfigError
from cocoon.node.demo_vectors import DEMO_ENV, demo_from_env
from fake_pccs import FakePccs
from inprocess import in_process_network

PINNED = int(datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC).timestamp())  # tcbInfo.issueDate + 1 h
DCAP_IMAGE = "b260fa9168ca9f28e7f15f128a45ac31c419705b31a60feac30b322ee06bc752"


def test_off_unless_its_variable_is_set() -> None:
    assert demo_from_env("fake", {}) is None
    assert demo_from_env("fake", {"COCOON_QUOTE_PROVIDER": "fake"}) is None


def test_loads_the_vectors_and_says_so(vectors, caplog: pytest.LogCaptureFixture) -> None:
    root = vectors.path("dcap-tdx-quote.bin").parent
    vectors.path("dcap-tdx-quote-collateral.json")
    demo = demo_from_env("fake", {DEMO_ENV: str(root)})
    assert demo is not None and demo.pinned_time == PINNED and demo.replay.skip_key_binding
    assert demo.image_hash.hex() == DCAP_IMAGE
    assert "DEMO MODE tdx-vectors" in caplog.text and "2025-06-19T11:16:03Z" in caplog.text


def test_refused_on_a_real_td_and_without_its_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must never run on a real TD"):
        demo_from_env("tdx", {DEMO_ENV: str(tmp_path)})
    with pytest.raises(ConfigError, match=r"dcap-tdx-quote\.bin"):
        demo_from_env("fake", {DEMO_ENV: str(tmp_path)})


async def test_a_network_in_the_demo_answers_through_tdx_attested_workers(
    tmp_path: Path, vectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEMO_ENV, str(vectors.path("dcap-tdx-quote.bin").parent))
    engine = MemoryEngine(FakeEngineConfig(chunks=3))
    async with FakePccs(vectors.text("dcap-tdx-quote-collateral.json")) as pccs:
        tdx = {"worker_policy": "tdx", "pccs_url": pccs.url}
        async with in_process_network(
            tmp_path, [engine], proxy_settings=tdx, client_settings={**tdx, "e2e": "required"}
        ) as net:
            answer = await net.sdk.chat.completions.with_raw_response.create(
                model=FakeEngineConfig().model, messages=[{"role": "user", "content": "one two three"}]
            )
            assert answer.headers.get("X-Cocoon-E2E") == "1"  # sealed to the tdx-verified worker's key
            assert answer.parse().choices[0].message.content
            listener = net.proxy.service.worker_listener
            assert listener.accepted == 1 and listener.refused == 0
            (link,) = net.proxy.service.workers.links.values()
            assert link.image_hash == DCAP_IMAGE  # the recorded quote, verified by the proxy's tdx policy
            assert link.attested is not None and link.attested.policy == "tdx"
    assert any(r.startswith("/tdx/certification/v4/tcb?fmspc=B0C06F000000") for r in pccs.requests)

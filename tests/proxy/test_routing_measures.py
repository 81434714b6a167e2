"""What the router measures of a real answer for routing, through a whole in-process network: a
streamed answer gives one time-to-first-token sample (before its last chunk) and one time-per-token
sample, from the proxy's own clock; a whole answer gives a time-per-token sample only; the figures
show in the proxy's /jsonstats."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from inprocess import in_process_network

MESSAGES = [{"role": "user", "content": "one two three four"}]
FIRST_S, PER_CHUNK_S = 0.15, 0.02  # the engine's pause before its first token and between tokens


@pytest.mark.parametrize("e2e", ["required", "off"])
async def test_a_streamed_and_a_whole_answer_are_measured_per_token(tmp_path: Path, e2e: str) -> None:
    """End to end encrypted (the proxy cannot read whether an answer streams) or not (it reads it in
    the head): the same samples."""
    config = FakeEngineConfig(chunks=8, first_delay_ms=FIRST_S * 1000, delay_ms=PER_CHUNK_S * 1000)
    async with in_process_network(tmp_path, [MemoryEngine(config)], client_settings={"e2e": e2e}) as net:
        (link,) = net.proxy.service.workers
        assert link.latency_s == 0.0 and link.stats.evidence == 0  # new: optimistic, nothing measured
        stream = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES, stream=True)  # type: ignore[arg-type]
        async for _ in stream:
            pass
        stats = link.stats
        assert stats.ttft.weight == stats.tpot.weight == 1
        assert FIRST_S * 0.9 <= stats.ttft.value(0.0) < FIRST_S + 7 * PER_CHUNK_S  # not the whole time
        assert stats.tpot.value(0.0) >= PER_CHUNK_S * 0.9
        assert link.latency_s == pytest.approx(stats.expected_s(0.0))

        await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=MESSAGES)  # type: ignore[arg-type]
        after = link.stats
        assert after.ttft.weight == pytest.approx(stats.ttft.weight, rel=0.01)  # no TTFT sample
        assert after.tpot.weight > 1.9 and after.success_rate() == 1.0
        assert net.proxy.service.router.counters.e2e_routed == (2 if e2e == "required" else 0)
        workers = net.proxy.service.stats()["workers"]
        assert workers[0]["ttft_s"] > 0 and workers[0]["tpot_s"] > 0

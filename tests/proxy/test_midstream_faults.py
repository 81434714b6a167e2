"""An engine that fails mid-stream: the app reads what was delivered, then an error; the charge is
exactly what was delivered, and the worker is paid for it.

The real chain in one process (`in_process_network`): the official `openai` SDK streams through the
client daemon (our protocol in plaintext or end-to-end encrypted, or COCOON's own protocol), the proxy
and the worker to the fake HTTP engine behind `EngineClient`. The engine sends
three content chunks, then an in-stream error event (a 4xx or a 5xx, as vLLM sends it) or drops the
connection; it never sends its usage, so the worker meters the stream itself
(`cocoon.usage.delivered_usage`): three completion tokens and the prompt estimated from the body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from cocoon.engine.client import EngineClient
from cocoon.engine.fake import fake_engine
from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.payments.pricing import adjusted_tokens
from cocoon.usage import Usage, delivered_usage
from cocoon.worker.answer import AnswerWriter
from inprocess import InProcessNet, in_process_network

DELIVERED = 3  # content chunks the engine sends before it fails
FAULTS = {
    "error event 400": {"error_after": DELIVERED, "error_status": 400},
    "error event 422": {"error_after": DELIVERED, "error_status": 422},
    "error event 500": {"error_after": DELIVERED, "error_status": 500},
    "dropped connection": {"drop_after": DELIVERED},
}


@asynccontextmanager
async def network(
    tmp_path: Path, fault: dict[str, Any], e2e: str
) -> AsyncIterator[tuple[InProcessNet, list[bytes]]]:
    """The network over one fake HTTP engine failing with ``fault``; yields it and the request bodies
    the worker opened (plaintext, also of an end-to-end encrypted request)."""
    async with fake_engine(FakeEngineConfig(**fault)) as fake:
        engine = EngineClient(fake.base_url)
        try:
            cocoon = e2e == "cocoon"  # the client speaks COCOON's protocol to the proxy's COCOON port
            settings = {"e2e": "off" if cocoon else e2e}
            async with in_process_network(tmp_path, [engine], client_settings=settings, cocoon=cocoon) as net:
                server = net.workers[0].service.server
                bodies: list[bytes] = []
                opened = server._answer

                def spy(request: Any, responder: Any) -> AnswerWriter:
                    answer = opened(request, responder)
                    bodies.append(answer.body)
                    return answer

                server._answer = spy  # type: ignore[method-assign]
                yield net, bodies
        finally:
            await engine.close()


async def stream_until_error(sdk: openai.AsyncOpenAI) -> tuple[list[str], openai.APIError]:
    stream = await sdk.chat.completions.create(
        model=FAKE_MODEL,
        messages=[{"role": "user", "content": "one two three four"}],
        max_tokens=16,
        stream=True,
    )
    contents: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                contents.append(chunk.choices[0].delta.content)
    return contents, caught.value


@pytest.mark.parametrize("e2e", ["off", "required", "cocoon"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_mid_stream_fault_reaches_the_app_after_the_chunks_and_bills_what_was_delivered(
    tmp_path: Path, fault: str, e2e: str
) -> None:
    async with network(tmp_path, FAULTS[fault], e2e) as (net, bodies):
        contents, error = await stream_until_error(net.sdk)
        assert contents == ["one ", "two ", "three "]  # every chunk delivered, then the error
        if "error event 4" in fault:  # the request's fault by the engine's words, not a crash
            assert "fake engine failure mid-stream" in error.message
            assert "internal" not in (error.code or "")
        else:
            assert error.code == "upstream_error"

        [body] = bodies
        delivered = delivered_usage(len(body), DELIVERED)
        assert delivered == Usage(prompt_tokens=-(-len(body) // 4), completion_tokens=DELIVERED)
        server = net.workers[0].service.server
        counters = server.counters
        assert (counters.prompt_tokens, counters.completion_tokens) == (
            delivered.prompt_tokens,
            DELIVERED,
        )
        assert (counters.failed, counters.served, counters.unmetered) == (1, 0, 1)

        proxy = net.proxy.service
        [link] = proxy.workers.links.values()
        assert link.state is not None
        charged = adjusted_tokens(delivered, link.state.coefficient, proxy.params).total
        [client] = proxy.ledger.clients()
        [worker] = proxy.ledger.workers()
        assert client.charged_tokens == charged and worker.earned_tokens == charged
        assert client.charged_nano == charged * proxy.params.price_per_token
        assert worker.earned_nano == charged * proxy.params.worker_fee_per_token
        assert proxy.router.counters.charged_nano == client.charged_nano
        assert proxy.router.counters.failed == 1 and proxy.router.counters.retried == 0


async def test_a_fault_before_any_token_is_not_charged(tmp_path: Path) -> None:
    async with network(tmp_path, {"error_after": 0, "error_status": 400}, "off") as (net, _):
        contents, error = await stream_until_error(net.sdk)
        assert contents == [] and "fake engine failure mid-stream" in error.message
        proxy = net.proxy.service
        assert [c.charged_tokens for c in proxy.ledger.clients()] in ([], [0])
        assert net.workers[0].service.server.counters.completion_tokens == 0

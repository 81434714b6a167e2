"""The reference COCOON client runner as a client of our proxy's COCOON port.

The reference's router and client runner (``../shared/peers/cocoon-reference``, test mode with fake
TON) are started by `reference_runner.reference_client` with a fake root config whose one registered
proxy is our proxy's COCOON port; our proxy, a worker and the fake engine run in this process. The
router does the proof of work and TLS 1.3 towards our port (``any`` policy), the client runner the
COCOON handshake (``client.connectToProxy``, short auth with the test mode's empty secret) and then
serves the OpenAI API, which the official ``openai`` SDK asks for the model list and a chat
completion, whole and streamed. The answers must be the fake engine's own, and our ledger must charge
exactly the tokens of their usage.

What the reference client checks of the proxy (``ClientProxyConnection.cpp``, ``ClientRunner::
register_proxy``): ``proxy.params`` flags, ``is_test`` equal to its own, and the proxy and client
contract addresses equal to the ones it derives from the proxy's key and owner under its root config
(parsed addresses compared with their flags: the reference writes them user-friendly, non-bounceable).
Without a chain our proxy derives them from the same fake root config (``cocoon_fake_root``). Its
``client.runQueryEx`` carries an all-zero ``public_key`` at protocol 3 and above (plaintext).

Skipped only where the reference binaries cannot run here. A refused handshake fails the test with the
client runner's own reason and how far it got (our port's accepted/refused counts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from cocoon_client import CocoonNet, cocoon_net
from openai.types.chat import ChatCompletionMessageParam
from reference_runner import (
    REFERENCE,
    ReferenceClient,
    cannot_run,
    reference_client,
    reference_network,
    root_address,
    skip_unless_runnable,
)

from cocoon.engine.fake import start_fake_engine
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.payments.pricing import adjusted_tokens
from cocoon.usage import Usage

pytestmark = pytest.mark.slow

MODEL = "fake-model"  # what our worker serves; the reference client passes any model name through
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "tell me about cocoons and moths"}]
READY_S = 45.0  # the client runner dials its proxy ~10 s after start, then re-dials every 10 s


@pytest.fixture(scope="module")
def reference_runs() -> None:
    skip_unless_runnable("router", "client-runner")


async def _models(http: aiohttp.ClientSession, ref: ReferenceClient) -> list[dict[str, Any]] | None:
    """The reference client's model list, or None while it has no ready proxy connection (503)."""
    try:
        async with http.get(f"{ref.base_url}/models") as r:
            if r.status != 200:
                return None
            data: list[dict[str, Any]] = (await r.json(content_type=None))["data"]
            return data
    except aiohttp.ClientError:
        return None  # its HTTP server is not up yet


async def _wait_ready(ref: ReferenceClient, net: CocoonNet | None) -> list[dict[str, Any]]:
    """Poll (a process we do not control) until the client lists a model; stop at its first refusal."""
    port = net.proxy.cocoon_port if net is not None else None
    deadline = time.monotonic() + READY_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            assert ref.exited() is None, ref.exited()
            if failures := ref.connection_failures():
                where = f" (our port accepted {port.accepted}, refused {port.refused})" if port else ""
                raise AssertionError(f"the reference client dropped its proxy{where}: {failures[0]}")
            if models := await _models(http, ref):
                return models
            await asyncio.sleep(0.2)
    counts = f"our port accepted {port.accepted}, refused {port.refused}; " if port is not None else ""
    raise AssertionError(
        f"the reference client listed no model within {READY_S:g} s; {counts}client log tail:\n"
        f"{ref.log()[-2000:]}"
    )


async def test_baseline_the_reference_client_runner_answers_through_the_reference_proxy(
    tmp_path: Path, reference_runs: None
) -> None:
    """The harness on the reference's own network (start.py: its proxy and worker before our fake
    engine): the client runner lists the worker's model and answers whole. (Its worker forwards only
    bare JSON from the engine, so an SSE stream is not asked of it here; our proxy's stream is.)"""
    if (why := cannot_run("proxy-runner", "worker-runner")) is not None:
        pytest.skip(f"the reference proxy or worker cannot run here ({why})")
    model = "Qwen/Qwen3-8B"  # the model the reference's test worker announces
    engine = await start_fake_engine(FakeEngineConfig(model=model))
    try:
        async with openai.AsyncOpenAI(base_url=engine.base_url, api_key="-", max_retries=0) as direct:
            expected = await direct.chat.completions.create(model=model, messages=PROMPT)
        with reference_network(tmp_path / "reference", engine.url.removeprefix("http://")) as ref:
            models = await _wait_ready(ref, None)
            assert [m["id"] for m in models] == [model]
            async with openai.AsyncOpenAI(base_url=ref.base_url, api_key="-", max_retries=0) as sdk:
                whole = await sdk.chat.completions.create(model=model, messages=PROMPT)
            assert whole.choices[0].message.content == expected.choices[0].message.content
            assert whole.usage is not None and expected.usage is not None
            assert whole.usage.completion_tokens == expected.usage.completion_tokens
            assert ref.connection_failures() == []
    finally:
        await engine.close()


async def _proxy_view(ref: ReferenceClient, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The client runner's record of its one proxy (``/jsonstats``), once ``done`` holds (or the last)."""
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"http://127.0.0.1:{ref.http_port}/jsonstats") as r:
                [view] = (await r.json(content_type=None))["proxies"]
            if done(view) or time.monotonic() > deadline:
                return view  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)  # its payment bookkeeping runs in its own process


def _charge(net: CocoonNet, usage: Any) -> int:
    u = Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
    return adjusted_tokens(u, 1000, net.proxy.params).total


async def test_the_reference_client_runner_answers_through_our_cocoon_port(
    tmp_path: Path, reference_runs: None
) -> None:
    # The proxy announces the contract addresses the client derives from the same fake root config.
    fake_root = {
        "cocoon_fake_root": str(REFERENCE / "config" / "fake-ton-config.json"),
        "cocoon_fake_root_address": root_address().friendly(),
    }
    async with cocoon_net(tmp_path, cocoon_pow_difficulty=16, **fake_root) as net:
        async with openai.AsyncOpenAI(
            base_url=net.engine.base_url, api_key="unused", max_retries=0
        ) as direct:
            expected = await direct.chat.completions.create(model=MODEL, messages=PROMPT)
        assert expected.usage is not None
        port = net.proxy.cocoon_port
        assert port is not None
        with reference_client(tmp_path / "reference", net.port) as ref:
            models = await _wait_ready(ref, net)
            assert [m["id"] for m in models] == [MODEL]
            [session] = port.sessions  # the client runner's one connection (through the router)
            account = net.proxy.ledger.client(session.client_id)
            before = account.charged_tokens

            sdk = openai.AsyncOpenAI(base_url=ref.base_url, api_key="unused", max_retries=0)
            async with sdk:
                whole = await sdk.chat.completions.create(model=MODEL, messages=PROMPT)
                assert whole.choices[0].message.content == expected.choices[0].message.content
                assert whole.usage is not None
                assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (
                    expected.usage.prompt_tokens,
                    expected.usage.completion_tokens,
                )
                charged = net.proxy.ledger.client(session.client_id).charged_tokens - before
                assert charged == _charge(net, whole.usage) > 0

                stream = await sdk.chat.completions.create(
                    model=MODEL,
                    messages=PROMPT,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                pieces, usage = [], None
                async for chunk in stream:
                    pieces += [c.delta.content or "" for c in chunk.choices]
                    usage = chunk.usage or usage
                assert len([p for p in pieces if p]) > 1  # streamed in pieces, not one block
                assert "".join(pieces) == expected.choices[0].message.content
                assert usage is not None and usage.completion_tokens == expected.usage.completion_tokens
                total = net.proxy.ledger.client(session.client_id).charged_tokens - before
                assert total == charged + _charge(net, usage)
            # The reference client's own books agree with our ledger (it reads our payment pushes).
            view = await _proxy_view(ref, lambda v: v["tokens_used_proxy_max"] == total)
            assert view["proxy_public_key"].lower() == net.proxy.identity.public_key.hex()
            assert view["tokens_used_proxy_committed_to_db"] == total
            assert ref.connection_failures() == []  # one connection the whole time, never dropped
            assert net.engine.state.by_path["/v1/chat/completions"] == 3  # ours direct, two through it

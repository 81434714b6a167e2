"""Our client daemon with COCOON-protocol proxies, through the reference's proxy and worker.

``start.py`` of the reference peer (``../shared/peers/cocoon-reference``) runs its proxy, router and
worker in their test mode (fake TON); the worker fronts our fake engine. Our client daemon, built as
``cocoon client run`` builds it with ``cocoon_proxies`` set to the reference's client port (PoW
difficulty 20, TLS 1.3, short auth with the test mode's empty secret), serves the official ``openai``
SDK. No proxy policy is configured: the reference's test mode presents a plain certificate, which
only the ``any`` policy accepts (the client logs that the proxy is not attested).

The reference worker forwards only JSON values from its engine (it re-serialises each on a line of
its own and drops what does not parse as JSON, SSE included), so for the streamed request the engine
is reached through a small adapter that writes the fake engine's SSE events as JSON lines, the way
the reference's own benchmark engine streams; our client turns them back into SSE. Skipped only
where the reference binaries cannot run here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from reference_runner import reference_processes, skip_unless_runnable

from cocoon.client.build import build_client
from cocoon.engine.fake import start_fake_engine
from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.roles import ClientConfig
from cocoon.wire.sse import SseParser
from waiting import wait_until

MODEL = "Qwen/Qwen3-8B"  # the model the reference's test configuration declares
PROMPT = [{"role": "user", "content": "tell me about cocoons and moths"}]


@asynccontextmanager
async def json_lines_front(engine_url: str) -> AsyncIterator[str]:
    """``host:port`` of an HTTP front to the engine that streams SSE events as JSON lines."""
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
        async with session.request(
            request.method, engine_url + request.path, data=body, headers=headers
        ) as up:
            if not up.headers.get("Content-Type", "").startswith("text/event-stream"):
                payload = await up.read()
                return web.Response(body=payload, status=up.status, content_type=up.content_type)
            out = web.StreamResponse(headers={"Content-Type": "application/json"})
            await out.prepare(request)
            parser = SseParser()
            async for data in up.content.iter_any():
                lines = b"".join(e.data.encode() + b"\n" for e in parser.feed(data) if not e.is_done)
                if lines:
                    await out.write(lines)
            await out.write_eof()
            return out

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await session.close()


@pytest.fixture(scope="module")
def reference_runs() -> None:
    skip_unless_runnable("proxy-runner", "worker-runner", "router")


async def test_our_client_answers_through_the_reference_proxy_and_worker(
    tmp_path: Path, reference_runs: None
) -> None:
    engine = await start_fake_engine(FakeEngineConfig(model=MODEL))
    try:
        async with openai.AsyncOpenAI(base_url=engine.base_url, api_key="unused", max_retries=0) as direct:
            expected = await direct.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
        async with json_lines_front(engine.url) as front:
            # start.py prints its ports as soon as it has started the runners: no wait on this loop.
            with reference_processes(tmp_path / "reference", "--worker", front) as reference:
                config = ClientConfig(
                    proxies=[],
                    cocoon_proxies=[f"127.0.0.1:{reference.client_port}"],
                    cocoon_test=True,
                    e2e="off",
                    http_port=0,
                    data_dir=str(tmp_path / "client"),
                )
                async with build_client(config) as client:
                    task = asyncio.create_task(client.run())
                    try:
                        await _check_answers(client.http_port, client.service, expected, engine)
                    finally:
                        task.cancel()
                        await asyncio.gather(task, return_exceptions=True)
    finally:
        await engine.close()


async def _check_answers(port: int, pool: Any, expected: Any, engine: Any) -> None:
    started = time.monotonic()
    # The PoW (difficulty 20) is solved off the loop; the reference worker joins its proxy on its own.
    await wait_until(lambda: pool.cocoon.links, 45, what="the client connected to the reference proxy")
    connected = time.monotonic() - started
    sdk = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
    async with sdk:
        deadline = time.monotonic() + 30
        while not [m for m in (await sdk.models.list()).data if m.id == MODEL]:
            assert time.monotonic() < deadline, "the reference worker never joined its proxy"
            await asyncio.sleep(0.2)  # polling processes we do not control for readiness
        whole = await sdk.chat.completions.create(model=MODEL, messages=PROMPT)  # type: ignore[arg-type]
        assert whole.choices[0].message.content == expected.choices[0].message.content
        assert whole.usage is not None and expected.usage is not None
        assert (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (
            expected.usage.prompt_tokens,
            expected.usage.completion_tokens,
        )
        stream = await sdk.chat.completions.create(
            model=MODEL,
            messages=PROMPT,  # type: ignore[arg-type]
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
        with pytest.raises(openai.NotFoundError, match="unknown model"):  # the reference's 621, as our 404
            await sdk.chat.completions.create(model="no-such-model", messages=PROMPT)  # type: ignore[arg-type]
    status = (await pool.status())["proxies"]
    [entry] = status.values()
    assert entry["protocol"] == "cocoon" and entry["auth"] == "short" and entry["requests"] == 3
    assert "unattested" in entry["attestation"]  # no policy: the plain certificate is taken as it is
    assert engine.state.by_path["/v1/chat/completions"] >= 3  # ours direct, then two through the reference
    print(f"connected (PoW + TLS + short auth) in {connected:.2f} s")

"""How fast the engines stream: the fake engine must never be a benchmark's bottleneck.

The fake engine runs as its own process (`cocoon engine fake`), so it has its own core, and is read by:

* `EngineClient` (aiohttp + our incremental SSE parser and usage probe): what the worker does;
* the official `openai` SDK (httpx + its SSE decoder + pydantic models per chunk): what an app does;
* the SSE parser alone on the same bytes in memory (the relay's parsing cost per event).

Each reads one long stream, then 32 concurrent streams. The ratio line says how many times faster the
fake engine produces chunks than the SDK consumes them. ``--builtin`` also measures the built-in
llama.cpp engine: process start to ready, and tokens/s for short answers.

    .venv/bin/python benchmarks/bench_engine.py [--chunks 20000] [--builtin]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import openai

from cocoon.engine.client import EngineClient
from cocoon.engine.process import EngineProcess, spawn_engine
from cocoon.wire.sse import SseParser

BODY: dict[str, Any] = {
    "model": "fake-model",
    "messages": [{"role": "user", "content": "one two three four five six seven eight"}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


async def read_with_client(client: EngineClient, chunks: int) -> tuple[int, int]:
    """Events and bytes of one stream of ``chunks`` content chunks read by `EngineClient`."""
    size = 0
    async with await client.stream("/v1/chat/completions", {**BODY, "max_tokens": chunks}) as answer:
        async for data in answer:
            size += len(data)
    assert answer.usage is not None
    return answer.events, size


async def read_with_sdk(sdk: openai.AsyncOpenAI, chunks: int) -> int:
    """Chunks of one stream of ``chunks`` content chunks read by the official SDK."""
    count = 0
    stream = await sdk.chat.completions.create(**BODY, max_tokens=chunks)
    async for _chunk in stream:
        count += 1
    return count


async def timed(label: str, chunks_per_stream: int, streams: int, run: Any) -> float:
    started = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(streams)))
    elapsed = time.perf_counter() - started
    rate = chunks_per_stream * streams / elapsed
    print(f"  {label:<44} {rate:>12,.0f} chunks/s   ({streams} x {chunks_per_stream} in {elapsed:.2f} s)")
    return rate


async def bench_fake(chunks: int) -> None:
    engine = await spawn_engine(["fake", "--port", "0", "--chunks", str(chunks)], ready_within=30)
    try:
        await bench_fake_against(engine, chunks)
    finally:
        await engine.stop()


async def bench_fake_against(engine: EngineProcess, chunks: int) -> None:
    print(f"fake engine (own process), {chunks} content chunks per stream:")
    small = max(1, chunks // 32)  # the concurrent runs move the same total number of chunks
    async with EngineClient(engine.base_url) as client:
        await read_with_client(client, small)  # warm up the connection pool
        client_rate = await timed(
            "EngineClient, 1 stream", chunks, 1, lambda: read_with_client(client, chunks)
        )
        await timed("EngineClient, 32 concurrent streams", small, 32, lambda: read_with_client(client, small))
        body = b""
        async with await client.stream("/v1/chat/completions", BODY) as answer:
            async for data in answer:
                body += data
    sdk = openai.AsyncOpenAI(base_url=engine.base_url, api_key="unused", max_retries=0)
    try:
        sdk_rate = await timed("openai SDK, 1 stream", chunks, 1, lambda: read_with_sdk(sdk, chunks))
        await timed("openai SDK, 32 concurrent streams", small, 32, lambda: read_with_sdk(sdk, small))
    finally:
        await sdk.close()
    started = time.perf_counter()
    events = len(SseParser().feed(body))
    parse_rate = events / (time.perf_counter() - started)
    print(f"  {'SseParser alone, in memory':<44} {parse_rate:>12,.0f} events/s   ({len(body) / 1e6:.1f} MB)")
    ratio = client_rate / sdk_rate
    print(f"  ratio: the fake engine delivers {ratio:.1f}x the chunks/s that the openai SDK can consume")


async def bench_builtin() -> None:
    started = time.perf_counter()
    engine = await spawn_engine(["serve", "--port", "0"], ready_within=120)
    ready = time.perf_counter() - started
    print(f"built-in engine: process start to ready {ready:.2f} s (model {engine.model_id[:40]}...)")
    sdk = openai.AsyncOpenAI(base_url=engine.base_url, api_key="unused", max_retries=0, timeout=120)
    question = [{"role": "user", "content": "Write a short story about a cat."}]
    try:
        for max_tokens in (16, 64, 128):
            began = time.perf_counter()
            first = None
            usage = None
            stream = await sdk.chat.completions.create(
                model=engine.model_id,
                messages=question,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            async for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - began
                usage = chunk.usage or usage
            total = time.perf_counter() - began
            assert usage is not None and first is not None
            decode = (usage.completion_tokens - 1) / max(total - first, 1e-9)
            print(
                f"  max_tokens={max_tokens:<4} prompt={usage.prompt_tokens} "
                f"completion={usage.completion_tokens}  first token {first * 1000:.0f} ms  "
                f"total {total:.2f} s  decode {decode:.0f} tokens/s"
            )
        await bench_concurrency(sdk, engine.model_id)
    finally:
        await sdk.close()
        await engine.stop()


async def one_answer(sdk: openai.AsyncOpenAI, model: str, max_tokens: int) -> int:
    """Completion tokens of one whole answer."""
    answer = await sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "Write a long story about a cat and a boat."}],
        max_tokens=max_tokens,
        temperature=0,
    )
    assert answer.usage is not None
    return answer.usage.completion_tokens


async def bench_concurrency(sdk: openai.AsyncOpenAI, model: str, max_tokens: int = 64) -> None:
    """Tokens/s with 1 and 4 requests at once: a server with slots decodes them together."""
    await one_answer(sdk, model, 8)  # warm up
    seconds = {}
    for concurrent in (1, 4):
        began = time.perf_counter()
        tokens = sum(await asyncio.gather(*(one_answer(sdk, model, max_tokens) for _ in range(concurrent))))
        seconds[concurrent] = time.perf_counter() - began
        print(
            f"  {concurrent} concurrent x max_tokens={max_tokens}: {tokens} tokens in "
            f"{seconds[concurrent]:.2f} s = {tokens / seconds[concurrent]:.0f} tokens/s"
        )
    print(f"  4 concurrent took {seconds[4] / seconds[1]:.2f}x the time of 1 (4.00x: one at a time)")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=20000, help="content chunks per stream")
    parser.add_argument("--builtin", action="store_true", help="also measure the built-in llama.cpp engine")
    args = parser.parse_args()
    await bench_fake(args.chunks)
    if args.builtin:
        await bench_builtin()


if __name__ == "__main__":
    asyncio.run(main())

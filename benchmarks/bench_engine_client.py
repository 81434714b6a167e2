"""CPU per request of `EngineClient`: aiohttp's client vs the lean HTTP/1.1 transport, side by side.

The engine is the raw-asyncio fake backend (``benchmarks/anchors/backend.py``) in its own process, so
the CPU time this process spends (``time.process_time``) is the client's alone: encoding the request,
the HTTP machinery, reading and parsing the answer (JSON decode for a whole answer, the SSE parser and
usage probe for a stream). Each row runs a non-streamed and a streamed chat call (16 tokens),
sequentially and 32 at a time; the best of ``--rounds`` is kept (the machine may be shared).

``--uvloop`` runs on uvloop's event loop, as the nodes do.

    .venv/bin/python benchmarks/bench_engine_client.py [--requests 2000] [--rounds 3] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent / "anchors"))

from setups import start_backend, stop

from cocoon.engine.client import EngineClient

CHAT = "/v1/chat/completions"
WHOLE: dict[str, Any] = {
    "model": "bench-fake",
    "messages": [{"role": "user", "content": "hi"}],
    "max_tokens": 16,
}
STREAM: dict[str, Any] = {**WHOLE, "stream": True, "stream_options": {"include_usage": True}}


def client(port: int, transport: str) -> EngineClient:
    engine = EngineClient(f"http://127.0.0.1:{port}/v1")
    if transport == "aiohttp":
        engine._lean = None  # what EngineClient did before the lean transport: aiohttp for every call
    return engine


async def whole(engine: EngineClient) -> None:
    answer = await engine.complete(CHAT, WHOLE)
    assert answer.usage is not None


async def streamed(engine: EngineClient) -> None:
    async with await engine.stream(CHAT, STREAM) as answer:
        async for _ in answer:
            pass
    assert answer.done and answer.usage is not None


async def measure(
    engine: EngineClient, call: Callable[[EngineClient], Awaitable[None]], requests: int, concurrency: int
) -> tuple[float, float]:
    """(CPU µs per request, requests per second of wall time)."""
    for _ in range(50):  # warm: connections open, caches filled
        await call(engine)
    per_worker = requests // concurrency

    async def worker() -> None:
        for _ in range(per_worker):
            await call(engine)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    done = per_worker * concurrency
    return cpu / done * 1e6, done / wall


async def run(port: int, requests: int, rounds: int) -> None:
    head = f"{'aiohttp µs/req':>14} {'req/s':>7} | {'lean µs/req':>11} {'req/s':>7}"
    print(f"{'call':<7} {'in flight':>9} | {head}")
    for name, call in (("whole", whole), ("stream", streamed)):
        for concurrency in (1, 32):
            row: dict[str, tuple[float, float]] = {}
            for transport in ("aiohttp", "lean"):
                best = (float("inf"), 0.0)
                for _ in range(rounds):
                    async with client(port, transport) as engine:
                        result = await measure(engine, call, requests, concurrency)
                    best = min(best, result)
                row[transport] = best
            (old_cpu, old_rate), (new_cpu, new_rate) = row["aiohttp"], row["lean"]
            old = f"{old_cpu:>14.0f} {old_rate:>7.0f}"
            new = f"{new_cpu:>11.0f} {new_rate:>7.0f}"
            print(f"{name:<7} {concurrency:>9} | {old} | {new}   ({1 - new_cpu / old_cpu:.0%} less CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop's event loop")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        loop_factory = uvloop.new_event_loop
    else:
        loop_factory = asyncio.new_event_loop
    with tempfile.TemporaryDirectory() as tmp:
        backend, port = start_backend(Path(tmp))
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(run(port, args.requests, args.rounds))
        finally:
            stop([backend])


if __name__ == "__main__":
    main()

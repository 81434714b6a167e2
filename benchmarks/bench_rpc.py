"""Throughput of the RPC layer: answer-stream frames/s and MB/s, and control-query round trips/s.

Measured in one process on loopback, both ends sharing the CPU (so real two-host numbers are higher):

* sans-IO: two `RpcEndpoint`s joined in memory (encode + frame + decode + stream rules only), the
  ceiling the asyncio shell can approach;
* memory: `RpcConnection` over the in-memory `MemoryStream` pair (the asyncio shell, no kernel);
* plain: `RpcConnection` over `PlainStream` (TCP, no TLS);
* ra-tls: `RpcConnection` over `AttestedStream` (mutual RA-TLS with fake quotes), when
  `cocoon.net.tls` is available.

Streams carry 100-byte chunks (token-sized SSE events) and 16 KiB chunks; queries are sequential
round trips and 32 in flight at once. The machine is shared, so the sans-IO figures are the best of
three runs; compare the rows of one run with each other rather than across runs.

    .venv/bin/python benchmarks/bench_rpc.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.net.stream import ByteStream, PlainStream, memory_stream_pair
from cocoon.wire.control import ControlBody, WorkerType, WorkerTypes
from cocoon.wire.endpoint import RpcEndpoint
from cocoon.wire.messages import AnswerChunk, Role, RunQuery
from cocoon.wire.session import EndpointConfig

PairFactory = Callable[[Handlers], AbstractAsyncContextManager[tuple[RpcConnection, RpcConnection]]]
ANSWER = WorkerTypes((WorkerType("qwen", workers=3, coefficient_min=900, coefficient_max=1100),))


async def answer_query(body: ControlBody) -> ControlBody:
    return ANSWER


async def stream_chunks(request: RunQuery, responder: Responder) -> None:
    """Answers with `max_tokens` chunks of `len(body)` bytes each."""
    await responder.head(200)
    data = request.body
    for _ in range(request.max_tokens):
        await responder.chunk(data)
    await responder.end()


HANDLERS = Handlers(on_query=answer_query, on_run_query=stream_chunks)


async def _open(client_stream: ByteStream, server_stream: ByteStream) -> tuple[RpcConnection, RpcConnection]:
    opening = asyncio.ensure_future(
        RpcConnection.open(client_stream, EndpointConfig(Role.CLIENT, "bench-client"), initiator=True)
    )
    server = await RpcConnection.open(
        server_stream, EndpointConfig(Role.PROXY, "bench-proxy"), initiator=False, handlers=HANDLERS
    )
    return await opening, server


@asynccontextmanager
async def plain_pair(handlers: Handlers) -> AsyncIterator[tuple[RpcConnection, RpcConnection]]:
    accepted: asyncio.Queue[PlainStream] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(PlainStream(reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    client_conn, server_conn = await _open(PlainStream(reader, writer), await accepted.get())
    try:
        yield client_conn, server_conn
    finally:
        await client_conn.aclose("bench over")
        await server_conn.aclose("bench over")
        server.close()
        await server.wait_closed()


@asynccontextmanager
async def memory_pair(handlers: Handlers) -> AsyncIterator[tuple[RpcConnection, RpcConnection]]:
    client_conn, server_conn = await _open(*memory_stream_pair())
    try:
        yield client_conn, server_conn
    finally:
        await client_conn.aclose("bench over")
        await server_conn.aclose("bench over")


@asynccontextmanager
async def tls_pair(handlers: Handlers) -> AsyncIterator[tuple[RpcConnection, RpcConnection]]:
    import os

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cocoon.attestation.identity import NodeIdentity
    from cocoon.attestation.policy import FakePolicy
    from cocoon.attestation.providers import FakeQuoteProvider
    from cocoon.net.listener import Listener
    from cocoon.net.tls import AttestedStream, connect_attested

    def identity() -> NodeIdentity:
        return NodeIdentity.create(Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, time.time())

    accepted: asyncio.Queue[AttestedStream] = asyncio.Queue()
    done = asyncio.Event()

    async def serve(stream: AttestedStream) -> None:
        await accepted.put(stream)
        await done.wait()

    async with Listener("127.0.0.1", 0, identity(), FakePolicy(), serve) as listener:
        client_stream = await connect_attested("127.0.0.1", listener.port, identity(), FakePolicy())
        client_conn, server_conn = await _open(client_stream, await accepted.get())
        try:
            yield client_conn, server_conn
        finally:
            await client_conn.aclose("bench over")
            await server_conn.aclose("bench over")
            done.set()


async def bench_stream(pair: PairFactory, size: int, chunks: int, concurrency: int) -> tuple[float, float]:
    """Frames/s and MB/s of answer chunks read by the client (`concurrency` streams at once)."""
    per_stream = chunks // concurrency
    async with pair(HANDLERS) as (client, _):

        async def one(request_id: int) -> int:
            request = RunQuery(request_id, "m", b"x" * size, 0, per_stream, 60_000)
            received = 0
            async for part in await client.run_query(request):
                if isinstance(part, AnswerChunk):
                    received += len(part.data)
            return received

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i + 1) for i in range(concurrency)))
        elapsed = time.perf_counter() - start
    assert sum(results) == per_stream * concurrency * size
    frames = per_stream * concurrency
    return frames / elapsed, frames * size / elapsed / 1e6


async def bench_queries(pair: PairFactory, count: int, in_flight: int) -> float:
    """Control-query round trips per second with `in_flight` outstanding at once."""
    async with pair(HANDLERS) as (client, _):

        async def worker(n: int) -> None:
            for _ in range(n):
                assert await client.query(ANSWER, timeout=30) == ANSWER

        start = time.perf_counter()
        await asyncio.gather(*(worker(count // in_flight) for _ in range(in_flight)))
        elapsed = time.perf_counter() - start
    return (count // in_flight) * in_flight / elapsed


def bench_sans_io(size: int, chunks: int) -> tuple[float, float]:
    """Frames/s and MB/s through two in-memory endpoints, delivering every 64 KiB like the shell."""
    client = RpcEndpoint(EndpointConfig(Role.CLIENT, "c"), initiator=True, now=0.0)
    server = RpcEndpoint(EndpointConfig(Role.PROXY, "p"), initiator=False, now=0.0)
    server.receive_data(client.data_to_send(), 0.0)
    client.receive_data(server.data_to_send(), 0.0)
    client.send_run_query(RunQuery(1, "m", b"", 0, 0, 0))
    server.receive_data(client.data_to_send(), 0.0)
    server.send_head(1, 200)
    data = b"x" * size
    received = 0
    start = time.perf_counter()
    for sent in range(chunks):
        server.send_chunk(1, data)
        if server.pending_bytes >= 65536 or sent == chunks - 1:
            received += len(client.receive_data(server.data_to_send(), 0.0))
    elapsed = time.perf_counter() - start
    assert received == chunks + 1  # the head and every chunk
    return chunks / elapsed, chunks * size / elapsed / 1e6


async def main(scale: float) -> None:
    small, large, queries = int(60_000 * scale), int(6_000 * scale), int(4_000 * scale)
    print(f"{'transport':10} {'case':34} {'frames/s':>12} {'MB/s':>9}")
    for size, count in ((100, small), (16384, large)):
        fps, mbps = max(bench_sans_io(size, count) for _ in range(3))
        print(f"{'sans-IO':10} {f'chunks of {size} B, in memory':34} {fps:12,.0f} {mbps:9.1f}")
    pairs: list[tuple[str, PairFactory]] = [("memory", memory_pair), ("plain", plain_pair)]
    if importlib.util.find_spec("cocoon.net.tls") is not None:
        pairs.append(("ra-tls", tls_pair))
    else:
        print("ra-tls: cocoon.net.tls is not available; skipped")
    figures: dict[tuple[str, str], float] = {}
    for name, pair in pairs:
        for size, count, streams in (
            (100, small, 1),
            (100, small, 16),
            (16384, large, 1),
            (16384, large, 16),
        ):
            fps, mbps = await bench_stream(pair, size, count, streams)
            figures[(name, f"{size}/{streams}")] = fps
            case = f"chunks of {size} B, {streams} stream(s)"
            print(f"{name:10} {case:34} {fps:12,.0f} {mbps:9.1f}")
        for in_flight in (1, 32):
            rps = await bench_queries(pair, queries, in_flight)
            figures[(name, f"q{in_flight}")] = rps
            print(f"{name:10} {f'query round trips, {in_flight} in flight':34} {rps:12,.0f} {'':>9}")
    if ("ra-tls", "q1") in figures:
        print("ra-tls / plain ratios:")
        for key in ("100/1", "100/16", "16384/1", "16384/16", "q1", "q32"):
            print(f"  {key:10} {figures[('ra-tls', key)] / figures[('plain', key)]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    asyncio.run(main(parser.parse_args().scale))

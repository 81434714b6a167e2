"""RA-TLS handshake cost on loopback: wall time, CPU time (both ends, one process) and bytes each way.

Two certificates are compared: a fake 64-byte quote checked by the ``fake`` policy, and a real 5 KB
TDX quote (shared/vectors/cocoon-tdx-quote.dat, or 5010 random bytes if the vector is missing)
accepted by the ``any`` policy, which isolates the transport cost of carrying a real quote.

    .venv/bin/python benchmarks/bench_handshake.py [-n 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy, FakePolicy, Policy
from cocoon.attestation.providers import FakeQuoteProvider, QuoteProvider, StaticQuoteProvider
from cocoon.net.tls import AttestedStream, accept_attested, connect_attested

VECTOR = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "cocoon-tdx-quote.dat"


@dataclass
class Case:
    """One certificate/policy combination with its own loopback server."""

    name: str
    provider: QuoteProvider
    policy: Policy
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    sent: int = 0
    received: int = 0
    cert_bytes: int = 0


def _identity(provider: QuoteProvider) -> NodeIdentity:
    return NodeIdentity.create(Ed25519PrivateKey.generate(), provider, os.urandom, time.time())


async def run(cases: list[Case], n: int) -> None:
    """n rounds; each round does one handshake per case, so machine noise hits all cases alike."""
    servers, ports, queues, clients = [], [], [], []
    for case in cases:
        server_id, client_id = _identity(case.provider), _identity(case.provider)
        queue: asyncio.Queue[AttestedStream] = asyncio.Queue()

        async def on_connect(
            reader: asyncio.StreamReader,
            writer: asyncio.StreamWriter,
            server_id: NodeIdentity = server_id,
            queue: asyncio.Queue[AttestedStream] = queue,
            policy: Policy = case.policy,
        ) -> None:
            await queue.put(await accept_attested(reader, writer, server_id, policy))

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        servers.append(server)
        ports.append(server.sockets[0].getsockname()[1])
        queues.append(queue)
        clients.append(client_id)
        case.cert_bytes = len(client_id.certificate.der)
    for _ in range(n):
        for case, port, queue, client_id in zip(cases, ports, queues, clients, strict=True):
            t0, c0 = time.perf_counter(), time.process_time()
            client = await connect_attested("127.0.0.1", port, client_id, case.policy)
            server_stream = await asyncio.wait_for(queue.get(), 5)  # both ends done and attested
            case.wall_ms.append((time.perf_counter() - t0) * 1000)
            case.cpu_ms.append((time.process_time() - c0) * 1000)
            case.sent, case.received = client.bytes_sent, client.bytes_received
            await client.aclose()
            await server_stream.aclose()
    for server in servers:
        server.close()
        await server.wait_closed()


def bench_cert_ops(provider: QuoteProvider, n: int) -> tuple[float, float]:
    identity = _identity(provider)
    t0 = time.process_time()
    for _ in range(n):
        identity.issue(time.time())
    issue_ms = (time.process_time() - t0) * 1000 / n
    der, now = identity.certificate.der, time.time()
    t0 = time.process_time()
    for _ in range(n):
        parse_certificate(der, now)
    parse_ms = (time.process_time() - t0) * 1000 / n
    return issue_ms, parse_ms


def report(c: Case) -> None:
    w = sorted(c.wall_ms)
    p95 = w[int(0.95 * (len(w) - 1))]
    print(
        f"{c.name:<20} wall mean {statistics.fmean(w):5.2f} ms  p50 {statistics.median(w):5.2f} ms  "
        f"p95 {p95:5.2f} ms  CPU both ends mean {statistics.fmean(c.cpu_ms):5.2f} ms  "
        f"p50 {statistics.median(c.cpu_ms):5.2f} ms  bytes c->s {c.sent:5d}  s->c {c.received:5d}  "
        f"cert {c.cert_bytes} B"
    )


async def main(n: int) -> None:
    real_quote = VECTOR.read_bytes() if VECTOR.is_file() else os.urandom(5010)
    source = "shared/vectors/cocoon-tdx-quote.dat" if VECTOR.is_file() else "random bytes"
    print(f"{n} handshakes per case on 127.0.0.1 (TLS 1.3, Ed25519, mutual); 5 KB quote from {source}")
    await run([Case("warm-up", FakeQuoteProvider(), FakePolicy())], 5)
    fake = Case("fake 64 B quote", FakeQuoteProvider(), FakePolicy())
    big = Case(f"{len(real_quote)} B quote (any)", StaticQuoteProvider(real_quote), AnyPolicy())
    await run([fake, big], n)
    report(fake)
    report(big)
    wall_ratio = statistics.median(big.wall_ms) / statistics.median(fake.wall_ms)
    print(
        f"ratios 5 KB / fake: wall p50 {wall_ratio:.2f}x, "
        f"CPU p50 {statistics.median(big.cpu_ms) / statistics.median(fake.cpu_ms):.2f}x, "
        f"bytes {big.sent / fake.sent:.2f}x"
    )
    for label, provider in (("fake", FakeQuoteProvider()), ("5 KB", StaticQuoteProvider(real_quote))):
        issue_ms, parse_ms = bench_cert_ops(provider, 200)
        print(f"certificate ({label}): issue {issue_ms:.3f} ms CPU, parse+check {parse_ms:.3f} ms CPU")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="handshakes per case")
    asyncio.run(main(parser.parse_args().n))

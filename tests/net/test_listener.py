"""The RA-TLS listener: handlers get attested streams, refusals are logged, shutdown is graceful."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.attestation.policy import FakePolicy
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.errors import ConnectionClosedError
from cocoon.net.listener import Listener
from cocoon.net.tls import AttestedStream, connect_attested
from waiting import wait_until

WAIT = 5.0


def _fake() -> NodeIdentity:
    return NodeIdentity.create(Ed25519PrivateKey.generate(), FakeQuoteProvider(), os.urandom, time.time())


async def _connect(port: int) -> AttestedStream:
    return await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)


async def echo(stream: AttestedStream) -> None:
    while data := await stream.read():
        stream.write(data)
        await stream.drain()


async def test_handler_gets_attested_streams() -> None:
    async with Listener("127.0.0.1", 0, _fake(), FakePolicy(), echo) as listener:
        assert listener.port > 0
        clients = [await _connect(listener.port) for _ in range(3)]
        for i, client in enumerate(clients):
            client.write(b"hello %d" % i)
        for i, client in enumerate(clients):
            async with asyncio.timeout(WAIT):
                assert await client.read() == b"hello %d" % i
            await client.aclose()
        assert listener.accepted == 3 and listener.refused == 0


async def test_refused_peer_is_logged_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    called = asyncio.Event()

    async def handler(stream: AttestedStream) -> None:
        called.set()

    policy = FakePolicy(allowed_image_hashes=frozenset({b"\xab" * 32}))
    caplog.set_level(logging.INFO, logger="cocoon.net.listener")
    async with Listener("127.0.0.1", 0, _fake(), policy, handler, name="workers") as listener:
        client = await _connect(listener.port)
        async with asyncio.timeout(WAIT):
            assert await client.read() == b""  # the listener closed us without a byte
        await wait_until(lambda: listener.refused == 1)
        await client.aclose()
    assert not called.is_set()
    assert listener.accepted == 0
    refusals = [r.getMessage() for r in caplog.records if "peer refused" in r.getMessage()]
    assert len(refusals) == 1
    assert f"workers: peer refused: image hash {FAKE_IMAGE_HASH.hex()} not allowed" in refusals[0]


async def test_handler_failure_is_logged_and_connection_closed(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(stream: AttestedStream) -> None:
        raise RuntimeError("boom")

    async with Listener("127.0.0.1", 0, _fake(), FakePolicy(), broken) as listener:
        client = await _connect(listener.port)
        async with asyncio.timeout(WAIT):
            assert await client.read() == b""
        await client.aclose()
        second = await _connect(listener.port)  # still serving
        await second.aclose()
    assert any("handler failed" in r.getMessage() for r in caplog.records)


async def test_graceful_shutdown_waits_then_closes_and_cancels() -> None:
    release = asyncio.Event()
    outcomes: list[str] = []

    async def handler(stream: AttestedStream) -> None:
        kind = await stream.read()
        try:
            if kind == b"polite":  # finishes when told to, inside the grace period
                await release.wait()
                stream.write(b"bye")
                outcomes.append("polite finished")
            elif kind == b"reader":  # blocks on read: closing its stream ends it cleanly
                assert await stream.read() == b""
                outcomes.append("reader saw EOF")
            else:  # ignores its stream entirely (waits on what never comes): must be cancelled
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcomes.append(f"{kind.decode()} cancelled")
            raise

    listener = Listener("127.0.0.1", 0, _fake(), FakePolicy(), handler, grace=0.3)
    await listener.start()
    port = listener.port
    clients = {}
    for kind in (b"polite", b"reader", b"stubborn"):
        clients[kind] = await _connect(port)
        clients[kind].write(kind)
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", port)  # stuck in handshake
    await wait_until(lambda: listener.live_connections == 3)

    started = time.monotonic()
    closing = asyncio.create_task(listener.aclose())
    await wait_until(lambda: not listener.accepting, WAIT)
    with pytest.raises(ConnectionClosedError):  # no longer accepting
        await _connect(port)
    release.set()
    async with asyncio.timeout(WAIT):
        await closing
        assert await clients[b"polite"].read() == b"bye"
        assert await silent_reader.read() == b""
    elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 2.0
    assert sorted(outcomes) == ["polite finished", "reader saw EOF", "stubborn cancelled"]
    assert listener.live_connections == 0
    for client in clients.values():
        await client.aclose()
    silent_writer.close()


async def test_half_open_connections_beyond_the_cap_are_closed_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with Listener("127.0.0.1", 0, _fake(), FakePolicy(), echo, max_handshakes=2) as listener:
        # Two connections that never start TLS hold both handshake slots.
        stalled = [await asyncio.open_connection("127.0.0.1", listener.port) for _ in range(2)]
        await wait_until(lambda: len(listener._handshakes) == 2)
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""  # closed without a handshake
        writer.close()
        assert listener.refused == 1
        assert "2 handshakes in progress" in caplog.text
        for _, w in stalled:
            w.close()
        await wait_until(lambda: not listener._handshakes)
        # With the slots free again, a real peer gets in.
        client = await _connect(listener.port)
        client.write(b"ok")
        async with asyncio.timeout(WAIT):
            assert await client.read() == b"ok"
        await client.aclose()

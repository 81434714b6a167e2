"""COCOON connections over loopback TCP with real TLS: PoW, handshake, queries, packets, keepalive."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from cocoon.attestation.certificate import parse_certificate
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy, FakePolicy
from cocoon.attestation.providers import FakeQuoteProvider
from cocoon.errors import ConnectionClosedError, PolicyError, RemoteProtocolError, RpcTimeoutError
from cocoon.net.cocoon_conn import (
    CocoonConnection,
    CocoonQueryError,
    accept_cocoon,
    connect_cocoon,
    serve_cocoon,
)
from cocoon.net.tls import AttestedStream, establish
from cocoon.tl import pow as tl_pow
from cocoon.tl.base import TLObject
from cocoon.tl.codec import encode
from cocoon.tl.frames import encode_frame
from cocoon.tl.types import (
    ClientAuthorizeWithProxyShort,
    TcpConnect,
    TcpConnected,
    TcpPing,
    TcpPong,
    TcpQuery,
)

WAIT = 5.0  # upper bound of every wait; a healthy run takes milliseconds
DIFFICULTY = 8


def _identity(*, attested: bool = False) -> NodeIdentity:
    provider = FakeQuoteProvider() if attested else None
    return NodeIdentity.create(Ed25519PrivateKey.generate(), provider, os.urandom, time.time())


class Server:
    """Our server on a free loopback port; `connections` yields each accepted connection."""

    def __init__(self) -> None:
        self.connections: asyncio.Queue[CocoonConnection] = asyncio.Queue()
        self.accepted: list[CocoonConnection] = []
        self.port = 0

    async def next(self) -> CocoonConnection:
        async with asyncio.timeout(WAIT):
            return await self.connections.get()


@asynccontextmanager
async def serving(identity: NodeIdentity | None = None, **options: Any) -> AsyncIterator[Server]:
    server = Server()

    async def on_connection(conn: CocoonConnection) -> None:
        server.accepted.append(conn)
        server.connections.put_nowait(conn)

    options.setdefault("difficulty", DIFFICULTY)
    listener = await serve_cocoon(
        "127.0.0.1", 0, identity or _identity(attested=True), on_connection, **options
    )
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for conn in server.accepted:
            await conn.aclose()
        await listener.wait_closed()


async def _connect(port: int, identity: NodeIdentity | None = None, **options: object) -> CocoonConnection:
    return await connect_cocoon("127.0.0.1", port, identity or _identity(), handshake_timeout=WAIT, **options)  # type: ignore[arg-type]


async def echo(obj: TLObject) -> TLObject:
    assert isinstance(obj, TcpPing)
    return TcpPong(id=obj.id)


# --- handshake ---------------------------------------------------------------------------------------


async def test_handshake_then_queries_both_ways_and_packets() -> None:
    async with serving() as server:
        client = await _connect(server.port, on_query=echo)
        inbound = await server.next()
        packets: asyncio.Queue[TLObject] = asyncio.Queue()

        async def on_packet(obj: TLObject) -> None:
            packets.put_nowait(obj)

        inbound.set_handlers(echo, on_packet)
        assert client.outbound and not inbound.outbound
        assert client.connect_id == inbound.connect_id is not None
        assert client.handshake is not None and client.handshake.difficulty == DIFFICULTY
        assert inbound.peer is not None and client.peer is not None
        assert inbound.peer.quote is None and client.peer.quote is not None  # the server is fake-attested

        assert await client.query(TcpPing(id=7), timeout=WAIT) == TcpPong(id=7)
        assert await inbound.query(TcpPing(id=-8), timeout=WAIT) == TcpPong(id=-8)
        many = await asyncio.gather(*(client.query(TcpPing(id=i), timeout=WAIT) for i in range(20)))
        assert many == [TcpPong(id=i) for i in range(20)]

        for i in range(3):
            await client.send_packet(TcpPong(id=i))
        async with asyncio.timeout(WAIT):
            assert [await packets.get() for _ in range(3)] == [TcpPong(id=i) for i in range(3)]
        await client.aclose()
        async with asyncio.timeout(WAIT):
            reason = await inbound.wait_closed()
        assert "closed" in reason


async def test_large_packets_and_answers_pass_whole() -> None:
    """Megabyte payloads cross TLS records and socket buffers in order (writes wait for drain)."""
    blobs = [os.urandom(3 << 20), os.urandom(1 << 20), b"end!"]

    async def reverse(obj: TLObject) -> TLObject:
        assert isinstance(obj, ClientAuthorizeWithProxyShort)
        return ClientAuthorizeWithProxyShort(data=obj.data[::-1])

    async with serving() as server:
        async with await _connect(server.port) as client:
            inbound = await server.next()
            received: asyncio.Queue[TLObject] = asyncio.Queue()

            async def on_packet(obj: TLObject) -> None:
                received.put_nowait(obj)

            inbound.set_handlers(reverse, on_packet)
            await asyncio.gather(*(client.send_packet(ClientAuthorizeWithProxyShort(data=b)) for b in blobs))
            async with asyncio.timeout(WAIT):
                assert [await received.get() for _ in blobs] == [
                    ClientAuthorizeWithProxyShort(data=b) for b in blobs
                ]
            answer = await client.query(ClientAuthorizeWithProxyShort(data=blobs[0]), timeout=WAIT)
            assert answer == ClientAuthorizeWithProxyShort(data=blobs[0][::-1])
        assert client.closed


async def test_client_verifies_the_server_with_a_policy() -> None:
    async with serving(_identity(attested=True)) as server:
        client = await _connect(server.port, policy=FakePolicy())
        assert client.peer is not None and client.peer.is_attested
        await client.aclose()
    async with serving(_identity(attested=False)) as server:
        with pytest.raises(PolicyError, match="requires a TDX quote"):
            await _connect(server.port, policy=FakePolicy())


async def test_client_refuses_a_difficulty_above_its_limit() -> None:
    async with serving(difficulty=29) as server:
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError, match="difficulty 29, above our limit 28"):
            await _connect(server.port)
        assert time.monotonic() - started < 2.0  # refused at once, nothing solved


async def test_pow_is_solved_off_the_event_loop_and_stops_at_its_timeout() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async with serving(difficulty=32) as server:  # about 2^32 hashes: hours in CPython
        task = asyncio.ensure_future(ticker())
        started = time.monotonic()
        with pytest.raises(ConnectionClosedError, match="could not solve the PoW of difficulty 32"):
            await _connect(server.port, pow_timeout=0.5, max_difficulty=32)
        elapsed = time.monotonic() - started
        task.cancel()
    assert elapsed < 2.0  # the search stopped after its current slice
    assert ticks >= 10  # the loop kept running while the search went on in a thread


async def test_wrong_pow_answer_closes_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cocoon.net.cocoon_accept")
    outcome: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await accept_cocoon(reader, writer, _identity(), difficulty=16)
            outcome.set_result(None)
        except Exception as exc:
            outcome.set_result(exc)

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.sockets[0].getsockname()[1])
        challenge = tl_pow.decode_challenge(await reader.readexactly(tl_pow.CHALLENGE_SIZE))
        assert challenge.difficulty == 16
        bad = next(n for n in range(1000) if not tl_pow.check(challenge.salt, n, 16))
        writer.write(tl_pow.encode_answer(bad))
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""  # the server closed without starting TLS
            error = await outcome
        writer.close()
    assert isinstance(error, RemoteProtocolError) and "wrong PoW answer" in str(error)
    assert "wrong PoW answer" in caplog.text


# --- queries -----------------------------------------------------------------------------------------


async def test_query_errors_reach_the_caller_and_handler_failures_do_not_kill(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(obj: TLObject) -> TLObject:
        assert isinstance(obj, TcpPing)
        if obj.id == 1:
            raise CocoonQueryError(602, "not today")
        if obj.id == 2:
            raise ValueError("handler bug")
        return TcpPong(id=obj.id)

    async with serving() as server:
        client = await _connect(server.port)
        (await server.next()).set_handlers(handler)
        with pytest.raises(CocoonQueryError) as refused:
            await client.query(TcpPing(id=1), timeout=WAIT)
        assert (refused.value.error_code, refused.value.error_message, refused.value.code) == (
            602,
            "not today",
            "602",
        )
        with pytest.raises(CocoonQueryError) as failed:
            await client.query(TcpPing(id=2), timeout=WAIT)
        assert failed.value.error_code == 601 and "handler bug" not in failed.value.error_message
        assert "handler bug" in caplog.text  # logged on the serving side
        assert await client.query(TcpPing(id=3), timeout=WAIT) == TcpPong(id=3)
        await client.aclose()


async def test_query_without_a_handler_answers_not_ready() -> None:
    async with serving() as server:
        client = await _connect(server.port)
        with pytest.raises(CocoonQueryError) as refused:
            await client.query(TcpPing(id=1), timeout=WAIT)
        assert refused.value.error_code == 651
        await client.aclose()


async def test_query_timeout_leaves_the_connection_usable() -> None:
    release = asyncio.Event()

    async def slow(obj: TLObject) -> TLObject:
        assert isinstance(obj, TcpPing)
        if obj.id == 0:
            await release.wait()
        return TcpPong(id=obj.id)

    async with serving() as server:
        client = await _connect(server.port)
        (await server.next()).set_handlers(slow)
        with pytest.raises(RpcTimeoutError, match=r"TcpPing within 0\.2 s"):
            await client.query(TcpPing(id=0), timeout=0.2)
        release.set()  # the late answer is dropped
        assert await client.query(TcpPing(id=5), timeout=WAIT) == TcpPong(id=5)
        await client.aclose()


async def test_pending_queries_fail_when_the_peer_closes() -> None:
    async def never(obj: TLObject) -> TLObject:
        await asyncio.Event().wait()
        raise AssertionError

    async with serving() as server:
        client = await _connect(server.port)
        inbound = await server.next()
        inbound.set_handlers(never)
        pending = asyncio.ensure_future(client.query(TcpPing(id=0), timeout=WAIT))
        await asyncio.sleep(0)
        await inbound.aclose("going away")
        with pytest.raises(ConnectionClosedError):
            await pending
        assert client.closed
        with pytest.raises(ConnectionClosedError):
            await client.send_packet(TcpPing(id=1))
        async with asyncio.timeout(WAIT):
            assert "closed" in await client.wait_closed()


# --- keepalive ---------------------------------------------------------------------------------------


async def test_pings_keep_a_quiet_connection_open() -> None:
    async with serving(idle_timeout=0.3) as server:
        client = await _connect(server.port, ping_interval=0.05, idle_timeout=0.3)
        inbound = await server.next()
        with pytest.raises(TimeoutError):  # three idle timeouts pass without a single message
            await asyncio.wait_for(inbound.wait_closed(), 1.0)
        assert not client.closed and not inbound.closed
        await client.aclose()


async def test_inbound_side_closes_a_silent_peer() -> None:
    async with serving(idle_timeout=0.2) as server:
        client = await _connect(server.port, ping_interval=100.0, idle_timeout=100.0)
        inbound = await server.next()
        async with asyncio.timeout(WAIT):
            assert "peer silent" in await inbound.wait_closed()
            assert "closed" in await client.wait_closed()


# --- raw peers: protocol violations ------------------------------------------------------------------


async def _raw_client(port: int, identity: NodeIdentity | None = None) -> AttestedStream:
    """PoW and TLS by hand, leaving the framing to the test."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    challenge = tl_pow.decode_challenge(await reader.readexactly(tl_pow.CHALLENGE_SIZE))
    writer.write(tl_pow.encode_answer(tl_pow.solve(challenge.salt, challenge.difficulty)))
    return await establish(
        reader, writer, identity or _identity(), AnyPolicy(), server=False, handshake_timeout=WAIT
    )


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([(0, TcpConnect(id=1)), (2, TcpPing(id=1))], "seqno"),
        ([(0, TcpConnect(id=1)), (1, b"\x01\x02\x03\x04")], "constructor"),
        ([(0, TcpConnect(id=1)), (1, TcpQuery(id=1, data=b"\x00" * 8))], "constructor"),
        ([(0, TcpConnect(id=1)), (1, TcpConnect(id=2))], "unexpected TcpConnect"),
    ],
)
async def test_protocol_violation_closes_the_connection(
    frames: list[tuple[int, TLObject | bytes]], reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cocoon.net.cocoon_session")
    async with serving() as server:
        raw = await _raw_client(server.port)
        for seqno, obj in frames[:1]:
            raw.write(encode_frame(seqno, obj if isinstance(obj, bytes) else encode(obj)))
        inbound = await server.next()
        for seqno, obj in frames[1:]:
            raw.write(encode_frame(seqno, obj if isinstance(obj, bytes) else encode(obj)))
        async with asyncio.timeout(WAIT):
            closed = await inbound.wait_closed()
            while await raw.read():  # tcp.connected, then the end of the stream
                pass
        assert "protocol violation" in closed and reason in closed
        assert reason in caplog.text
        await raw.aclose()


async def test_oversized_frame_closes_the_connection() -> None:
    async with serving() as server:
        raw = await _raw_client(server.port)
        raw.write(encode_frame(0, encode(TcpConnect(id=1))))
        inbound = await server.next()
        raw.write((1 << 25).to_bytes(4, "little") + (1).to_bytes(4, "little"))
        async with asyncio.timeout(WAIT):
            assert "protocol violation" in await inbound.wait_closed()
        await raw.aclose()


async def test_outbound_side_closes_a_server_that_never_answers() -> None:
    """A server that answers tcp.connect and then stays silent (ignores pings) is dropped."""
    identity = _identity()
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        salt = os.urandom(16)
        writer.write(tl_pow.encode_challenge(DIFFICULTY, salt))
        assert tl_pow.check(
            salt, tl_pow.decode_answer(await reader.readexactly(tl_pow.ANSWER_SIZE)), DIFFICULTY
        )
        stream = await establish(reader, writer, identity, AnyPolicy(), server=True, handshake_timeout=WAIT)
        await stream.read()  # tcp.connect
        stream.write(encode_frame(0, encode(TcpConnected(id=0))))
        await done.wait()
        await stream.aclose()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        port = listener.sockets[0].getsockname()[1]
        with pytest.raises(RemoteProtocolError, match=r"tcp\.connected"):  # id 0 is not the one we sent
            await _connect(port, random_bytes=lambda n: b"\x01" * n)
        client = await _connect(
            port, random_bytes=lambda n: b"\x00" * n, ping_interval=0.05, idle_timeout=0.2
        )
        async with asyncio.timeout(WAIT):
            assert "peer silent" in await client.wait_closed()
        done.set()


# --- certificates ------------------------------------------------------------------------------------


def _plain_certificate(key: Ed25519PrivateKey, *, version1: bool) -> bytes:
    """What ``openssl req -x509`` makes for an Ed25519 key (the SDK clients' certificate), or its v1 form."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(tz=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
    )
    if not version1:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = (
            builder.add_extension(ski, critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        )
        return builder.sign(key, None).public_bytes(serialization.Encoding.DER)
    return _as_version1(builder.sign(key, None).public_bytes(serialization.Encoding.DER), key)


def _as_version1(der: bytes, key: Ed25519PrivateKey) -> bytes:
    """Drop the (empty-extension) v3 version field from the TBS certificate and sign it again."""

    def tlv(data: bytes, at: int) -> tuple[int, int]:  # (start of the content, end of the element)
        length, start = data[at + 1], at + 2
        if length & 0x80:
            count = length & 0x7F
            length, start = int.from_bytes(data[start : start + count], "big"), start + count
        return start, start + length

    def wrap(tag: int, content: bytes) -> bytes:
        n = len(content)
        size = (
            bytes([n])
            if n < 0x80
            else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
        )
        return bytes([tag]) + size + content

    cert_start, _ = tlv(der, 0)
    tbs_start, tbs_end = tlv(der, cert_start)
    tbs = der[tbs_start:tbs_end]
    assert tbs[:5] == b"\xa0\x03\x02\x01\x02"  # [0] EXPLICIT INTEGER 2 (v3)
    new_tbs = wrap(0x30, tbs[5:])
    algorithm = bytes.fromhex("300506032b6570")  # Ed25519
    signature = wrap(0x03, b"\x00" + key.sign(new_tbs))
    return wrap(0x30, new_tbs + algorithm + signature)


@pytest.mark.parametrize("version1", [False, True], ids=["openssl-req-v3", "plain-v1"])
async def test_plain_self_signed_client_certificate_is_accepted(version1: bool) -> None:
    key = Ed25519PrivateKey.generate()
    der = _plain_certificate(key, version1=version1)
    cert = parse_certificate(der, time.time())
    assert cert.quote is None and cert.claims is None
    identity = NodeIdentity(key, None, os.urandom)
    identity.install(cert)
    async with serving() as server:
        client = await _connect(server.port, identity)
        inbound = await server.next()
        assert inbound.peer is not None and inbound.peer.public_key == identity.public_key
        assert inbound.peer.policy == "any"
        await client.aclose()

"""Mutual RA-TLS over loopback: data flows when both sides attest, and nothing flows when one does not."""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cocoon.attestation.certificate import TDX_QUOTE_OID, TDX_USER_CLAIMS_OID, RaTlsCertificate
from cocoon.attestation.claims import report_data_for
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.issue import SUBJECT
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import AnyPolicy, FakePolicy, Policy
from cocoon.attestation.providers import FakeQuoteProvider, StaticQuoteProvider
from cocoon.errors import CertificateError, ConnectionClosedError, PolicyError, QuoteError
from cocoon.net.tls import AttestedStream, accept_attested, connect_attested

WAIT = 5.0  # upper bound for every wait; a healthy run takes milliseconds
DAY = 86_400


def _identity(provider: object = None, *, issued_at: float | None = None) -> NodeIdentity:
    identity = NodeIdentity(Ed25519PrivateKey.generate(), provider, os.urandom)  # type: ignore[arg-type]
    identity.issue(time.time() if issued_at is None else issued_at)
    return identity


def _fake() -> NodeIdentity:
    return _identity(FakeQuoteProvider())


def _foreign_quote() -> NodeIdentity:
    other = Ed25519PrivateKey.generate().public_key()
    raw = other.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _identity(StaticQuoteProvider(report_data_for(raw)))


def _unknown_critical_extension() -> NodeIdentity:
    """A fake-attested certificate that also carries a critical extension nobody understands."""
    identity = _fake()
    good = identity.certificate
    key = identity.private_key
    now = datetime.fromtimestamp(good.not_before, tz=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(SUBJECT)
        .issuer_name(SUBJECT)
        .public_key(key.public_key())
        .serial_number(good.serial)
        .not_valid_before(now)
        .not_valid_after(datetime.fromtimestamp(good.not_after, tz=UTC))
        .add_extension(x509.UnrecognizedExtension(TDX_QUOTE_OID, good.quote or b""), critical=True)
        .add_extension(x509.UnrecognizedExtension(TDX_USER_CLAIMS_OID, good.public_key), critical=True)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4.5"), b"?"), critical=True)
    )
    der = builder.sign(key, None).public_bytes(serialization.Encoding.DER)
    identity.install(RaTlsCertificate(good.public_key, good.quote, good.claims, 0, 0, 1, der))
    return identity


BAD_IDENTITIES = {
    "quote-for-another-key": (_foreign_quote, QuoteError, "bound to a different key"),
    "no-quote": (lambda: _identity(None), PolicyError, "requires a TDX quote"),
    "expired": (
        lambda: _identity(FakeQuoteProvider(), issued_at=time.time() - 2 * DAY),
        CertificateError,
        "expired",
    ),
    "not-yet-valid": (
        lambda: _identity(FakeQuoteProvider(), issued_at=time.time() + 3600),
        CertificateError,
        "not yet valid",
    ),
    "unknown-critical-extension": (
        _unknown_critical_extension,
        CertificateError,
        r"unknown critical extension 1\.2\.3\.4\.5",
    ),
}


class ServerSpy:
    """TLS server side: records the handshake outcome and every application byte the handler sees."""

    def __init__(self, identity: NodeIdentity, policy: Policy) -> None:
        self.identity = identity
        self.policy = policy
        self.outcome: asyncio.Future[AttestedStream | Exception] = asyncio.get_running_loop().create_future()
        self.finished = asyncio.Event()
        self.received = bytearray()
        self.sent = 0

    async def on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            stream = await accept_attested(reader, writer, self.identity, self.policy, handshake_timeout=WAIT)
        except Exception as exc:  # recorded for the test to inspect
            self.outcome.set_result(exc)
            self.finished.set()
            return
        self.outcome.set_result(stream)
        try:
            while data := await stream.read():  # echo
                self.received += data
                stream.write(data)
                self.sent += len(data)
                await stream.drain()
        finally:
            await stream.aclose()
            self.finished.set()


@asynccontextmanager
async def serving(identity: NodeIdentity, policy: Policy) -> AsyncIterator[tuple[ServerSpy, int]]:
    spy = ServerSpy(identity, policy)
    server = await asyncio.start_server(spy.on_connect, "127.0.0.1", 0)
    try:
        yield spy, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        async with asyncio.timeout(WAIT):
            await server.wait_closed()


async def _read_exactly(stream: AttestedStream, n: int) -> bytes:
    buf = bytearray()
    async with asyncio.timeout(WAIT):
        while len(buf) < n:
            chunk = await stream.read()
            assert chunk, f"stream ended after {len(buf)} of {n} bytes: {stream.close_reason}"
            buf += chunk
    return bytes(buf)


async def test_fake_attestation_both_ways_and_data_flows() -> None:
    server_id, client_id = _fake(), _fake()
    async with serving(server_id, FakePolicy()) as (spy, port):
        client = await connect_attested("127.0.0.1", port, client_id, FakePolicy(), handshake_timeout=WAIT)
        payload = os.urandom(200_000)
        client.write(payload)
        await client.drain()
        assert await _read_exactly(client, len(payload)) == payload
        server = await asyncio.wait_for(spy.outcome, WAIT)
        assert isinstance(server, AttestedStream)
        assert client.peer.public_key == server_id.public_key
        assert server.peer.public_key == client_id.public_key
        assert client.peer.policy == server.peer.policy == "fake"
        assert client.peer.certificate_sha256 == server_id.certificate.fingerprint
        assert client.protocol == "TLSv1.3"
        assert client.cipher in {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384"}
        await client.aclose()
        await asyncio.wait_for(spy.finished.wait(), WAIT)
    assert bytes(spy.received) == payload
    assert client.bytes_sent > len(payload)  # ciphertext: handshake and record overhead included


@pytest.mark.parametrize("case", list(BAD_IDENTITIES))
async def test_server_refuses_bad_client_before_any_data(case: str) -> None:
    make_bad, error, message = BAD_IDENTITIES[case]
    async with serving(_fake(), FakePolicy()) as (spy, port):
        # TLS 1.3: the client finishes its handshake before the server has judged the client cert.
        client = await connect_attested("127.0.0.1", port, make_bad(), FakePolicy(), handshake_timeout=WAIT)
        client.write(b"secret prompt")
        async with asyncio.timeout(WAIT):
            assert await client.read() == b""
        assert client.close_reason is not None
        outcome = await asyncio.wait_for(spy.outcome, WAIT)
        await client.aclose()
    assert isinstance(outcome, error), outcome
    assert re.search(message, str(outcome)), outcome
    assert spy.received == b"" and spy.sent == 0


@pytest.mark.parametrize("case", list(BAD_IDENTITIES))
async def test_client_refuses_bad_server_before_any_data(case: str) -> None:
    make_bad, error, message = BAD_IDENTITIES[case]
    async with serving(make_bad(), FakePolicy()) as (spy, port):
        with pytest.raises(error, match=message):
            await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        await asyncio.wait_for(spy.finished.wait(), WAIT)
    # The server either saw our alert or, its own handshake done, read EOF: never a byte either way.
    assert spy.received == b"" and spy.sent == 0


async def test_any_policy_accepts_an_unattested_client() -> None:
    async with serving(_fake(), AnyPolicy()) as (spy, port):
        client = await connect_attested(
            "127.0.0.1", port, _identity(None), FakePolicy(), handshake_timeout=WAIT
        )
        client.write(b"ping")
        assert await _read_exactly(client, 4) == b"ping"
        server = await asyncio.wait_for(spy.outcome, WAIT)
        assert isinstance(server, AttestedStream)
        assert server.peer.policy == "any" and server.peer.measurements is None and server.peer.quote is None
        await client.aclose()


async def test_image_allowlist_refusal_names_the_hash() -> None:
    policy = FakePolicy(allowed_image_hashes=frozenset({b"\x01" * 32}))
    async with serving(_fake(), FakePolicy()) as (_, port):
        with pytest.raises(PolicyError, match=r"image hash 5c55c8f4\w+ not allowed"):
            await connect_attested("127.0.0.1", port, _fake(), policy, handshake_timeout=WAIT)


async def test_read_and_write_after_close_are_inert() -> None:
    async with serving(_fake(), FakePolicy()) as (spy, port):
        client = await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        await client.aclose()
        await client.aclose()  # idempotent
        assert client.closed
        client.write(b"ignored")
        await client.drain()
        assert await client.read() == b""
        await asyncio.wait_for(spy.finished.wait(), WAIT)
    assert spy.received == b""


async def test_refreshed_certificate_serves_new_connections_while_old_ones_live() -> None:
    server_id = _fake()
    async with serving(server_id, FakePolicy()) as (_, port):
        old = await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        first = server_id.certificate.fingerprint
        server_id.issue(time.time())
        new = await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        assert old.peer.certificate_sha256 == first
        assert new.peer.certificate_sha256 == server_id.certificate.fingerprint != first
        old.write(b"still here")
        assert await _read_exactly(old, 10) == b"still here"
        await old.aclose()
        await new.aclose()


async def test_handshake_timeout_against_a_silent_peer() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers the ClientHello
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConnectionClosedError, match=r"did not finish within 0\.3 s"):
        await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=0.3)
    assert time.monotonic() - started < WAIT
    server.close()
    async with asyncio.timeout(WAIT):
        await server.wait_closed()


async def test_plain_tcp_and_tls12_peers_are_refused() -> None:
    async with serving(_fake(), AnyPolicy()) as (spy, port):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        outcome = await asyncio.wait_for(spy.outcome, WAIT)
        writer.close()
    assert isinstance(outcome, ConnectionClosedError) and "TLS handshake failed" in str(outcome)

    tls12 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tls12.check_hostname = False
    tls12.verify_mode = ssl.CERT_NONE
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    async with serving(_fake(), AnyPolicy()) as (spy, port):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            async with asyncio.timeout(WAIT):
                await asyncio.open_connection("127.0.0.1", port, ssl=tls12)
        outcome = await asyncio.wait_for(spy.outcome, WAIT)
    assert isinstance(outcome, ConnectionClosedError)


async def test_connect_to_a_closed_port_says_so() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ConnectionClosedError, match=f"cannot connect to 127.0.0.1:{port}"):
        await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)


def test_odd_certificate_helper_adds_only_the_unknown_extension() -> None:
    cert = x509.load_der_x509_certificate(_unknown_critical_extension().certificate.der)
    oids = [e.oid.dotted_string for e in cert.extensions if e.critical]
    assert oids == [TDX_QUOTE_OID.dotted_string, TDX_USER_CLAIMS_OID.dotted_string, "1.2.3.4.5"]


async def test_prepare_runs_on_the_peer_certificate_before_the_policy() -> None:
    order: list[str] = []

    class RecordingPolicy(FakePolicy):
        def verify(self, cert: RaTlsCertificate, now: float) -> AttestedPeer:
            order.append("policy")
            return super().verify(cert, now)

    async def prepare(cert: RaTlsCertificate, now: float) -> None:
        # suspends as a DCAP collateral fetch would: the behaviour under test, not synchronisation
        await asyncio.sleep(0)
        order.append(f"prepare {cert.public_key.hex()}")

    server_id = _fake()
    async with serving(server_id, FakePolicy()) as (_, port):
        client = await connect_attested(
            "127.0.0.1", port, _fake(), RecordingPolicy(), handshake_timeout=WAIT, prepare=prepare
        )
        await client.aclose()
    assert order == [f"prepare {server_id.public_key.hex()}", "policy"]


async def test_slow_prepare_is_bounded_by_the_handshake_timeout() -> None:
    async def stuck(cert: RaTlsCertificate, now: float) -> None:
        await asyncio.Event().wait()  # never returns: only the handshake timeout ends it

    async with serving(_fake(), FakePolicy()) as (spy, port):
        with pytest.raises(ConnectionClosedError, match="did not finish within"):
            await connect_attested(
                "127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=0.2, prepare=stuck
            )
        await asyncio.wait_for(spy.finished.wait(), WAIT)
    assert spy.received == b""


async def test_a_peer_whose_clock_runs_a_minute_ahead_is_accepted() -> None:
    """Certificates are backdated by CLOCK_SKEW_S, so a small skew between peers does not break TLS."""
    ahead = _identity(FakeQuoteProvider(), issued_at=time.time() + 60)
    async with serving(ahead, FakePolicy()) as (spy, port):
        client = await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        assert client.peer.public_key == ahead.public_key
        await client.aclose()
        await asyncio.wait_for(spy.finished.wait(), WAIT)


async def test_records_of_one_socket_read_come_as_one_read_and_the_close_after_them() -> None:
    """Records that arrive together are returned by one `read` (the RPC layer decodes them as one
    batch); a close_notify in the same burst ends the stream only after their data."""
    server_id = _fake()
    records = [bytes([i]) * (100 + i) for i in range(5)]

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = await accept_attested(reader, writer, server_id, FakePolicy(), handshake_timeout=WAIT)
        for record in records:  # one TLS record each, all written in the same loop iteration
            stream.write(record)
        await stream.aclose()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        client = await connect_attested("127.0.0.1", port, _fake(), FakePolicy(), handshake_timeout=WAIT)
        async with asyncio.timeout(WAIT):
            await asyncio.sleep(0.05)  # let the whole burst reach our socket
            assert await client.read() == b"".join(records)
            assert await client.read() == b""
        assert client.close_reason == "peer closed the TLS session"
        await client.aclose()
    finally:
        server.close()
        async with asyncio.timeout(WAIT):
            await server.wait_closed()

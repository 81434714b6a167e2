"""Mutual RA-TLS 1.3 over asyncio streams: pyOpenSSL driven through memory BIOs.

The stdlib ``ssl`` module has no verify callback, and RA-TLS certificates fail standard verification
("self signed", "unhandled critical extension"). So OpenSSL runs on memory BIOs: we move ciphertext
between them and an asyncio reader/writer ourselves. The verify callback accepts exactly those two
errors at depth 0 (expiry and everything else still fail); after the handshake the policy decides on
the peer certificate before a single application byte is delivered or sent.

TLS 1.3 note: a client's handshake completes before the server has checked the client certificate. A
server that refuses the client closes the connection, so the client sees it on its first read (EOF,
with `AttestedStream.close_reason` saying why when the server sent an alert).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from cocoon.attestation.certificate import RaTlsCertificate, parse_certificate
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import AttestationError, CertificateError, ConnectionClosedError
from cocoon.net.tls_context import VerifyState, context_for, ssl_reason
from cocoon.net.tls_pump import CHUNK, BioPump, close_connection, run_handshake

log = logging.getLogger(__name__)

DEFAULT_HANDSHAKE_TIMEOUT = 10.0

Prepare = Callable[[RaTlsCertificate, float], Awaitable[None]]
"""Async step run on the parsed peer certificate before the policy decides (see `establish`)."""


def policy_prepare(policy: Policy) -> Prepare | None:
    """The policy's own step before its verdict, if it has one: a ``prepare`` attribute (the ``tdx``
    policy's collateral fetch, `cocoon.net.collateral.keep_collateral`; wrappers pass their inner
    policy's on)."""
    step: Prepare | None = getattr(policy, "prepare", None)
    return step


class AttestedStream:
    """A `ByteStream` over mutual RA-TLS whose peer was accepted by a policy (`peer`)."""

    def __init__(
        self,
        conn: SSL.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: AttestedPeer,
        pump: BioPump,
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._pump = pump
        self.peer = peer
        self.close_reason: str | None = None
        self._closed = False
        self._eof = False
        self._bio_has_data = True  # OpenSSL may hold plaintext or ciphertext: try to decrypt first
        self._pending_end: str | None = None  # why the session ended, found after data still returned

    @property
    def bytes_sent(self) -> int:
        """Ciphertext bytes written to the socket so far, handshake included."""
        return self._pump.sent

    @property
    def bytes_received(self) -> int:
        """Ciphertext bytes read from the socket so far, handshake included."""
        return self._pump.received

    @property
    def cipher(self) -> str:
        """Negotiated cipher suite name."""
        return str(self._conn.get_cipher_name())

    @property
    def protocol(self) -> str:
        """Negotiated protocol version name (always ``TLSv1.3``)."""
        return str(self._conn.get_protocol_version_name())

    @property
    def closed(self) -> bool:
        """True after `aclose`."""
        return self._closed

    async def read(self, max_bytes: int = CHUNK) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` once the peer closed, on TLS errors, or after close.

        One call returns every record that one socket read completed (up to ``max_bytes``), so the
        layer above decodes and dispatches them as one batch instead of one loop pass per record.
        """
        while not (self._closed or self._eof):
            if self._pending_end is not None:
                return self._end(self._pending_end)
            if self._bio_has_data:
                data = self._recv_available(max_bytes)
                if data:
                    return data
                if self._pending_end is not None:
                    continue
                self._pump.flush(self._conn, self._writer)
            try:
                data = await self._reader.read(CHUNK)
            except (ConnectionError, OSError) as exc:
                return self._end(f"connection error: {exc}")
            if not data:
                return self._end("peer closed the TCP connection")
            self._pump.feed(self._conn, data)
            self._bio_has_data = True
        return b""

    def _recv_available(self, max_bytes: int) -> bytes:
        """Decrypt what the fed ciphertext holds, up to ``max_bytes``; clears `_bio_has_data` once
        OpenSSL wants more ciphertext. A close or error after some data is kept for the next call."""
        conn = self._conn
        parts: list[bytes] = []
        size = 0
        while size < max_bytes:
            try:
                chunk = conn.recv(max_bytes - size)
            except SSL.WantReadError:
                self._bio_has_data = False
                break
            except SSL.ZeroReturnError:
                self._pending_end = "peer closed the TLS session"
                break
            except SSL.Error as exc:
                self._pending_end = f"TLS error: {ssl_reason(exc)}"
                break
            parts.append(chunk)
            size += len(chunk)
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _end(self, reason: str) -> bytes:
        self._eof = True
        if self.close_reason is None:
            self.close_reason = reason
        return b""

    def write(self, data: bytes) -> None:
        """Encrypt and queue ``data``; silently ignored once the stream is closed (as `PlainStream`)."""
        if self._closed or not data or self._writer.is_closing():
            return
        try:
            self._conn.sendall(data)
        except SSL.Error as exc:
            self._end(f"TLS error while sending: {ssl_reason(exc)}")
            return
        self._pump.flush(self._conn, self._writer)

    async def drain(self) -> None:
        """Wait for the socket's send buffer to drain below its high-water mark."""
        transport = self._writer.transport
        # Fast path, once per message sent: an empty send buffer is below any high-water mark.
        if not transport.get_write_buffer_size() and not transport.is_closing():
            return
        try:  # noqa: SIM105 (a plain try is cheaper than contextlib.suppress)
            await self._writer.drain()
        except OSError:  # ConnectionError included; the reader side reports the loss
            pass

    async def aclose(self) -> None:
        """Send TLS close_notify and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.close_reason is None:
            self.close_reason = "closed locally"
        await close_connection(self._conn, self._writer, self._pump, notify=True)


def _peer_certificate(conn: SSL.Connection, now: float) -> RaTlsCertificate:
    cert = conn.get_peer_certificate(as_cryptography=True)
    if cert is None:  # VERIFY_FAIL_IF_NO_PEER_CERT makes this unreachable on a completed handshake
        raise CertificateError("peer presented no certificate; RA-TLS requires one on both sides")
    return parse_certificate(cert.public_bytes(serialization.Encoding.DER), now)


async def establish(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: NodeIdentity,
    policy: Policy,
    *,
    server: bool,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    prepare: Prepare | None = None,
) -> AttestedStream:
    """Run the RA-TLS handshake on a connected socket and apply ``policy`` to the peer.

    ``prepare(cert, now)``, if given, runs after the handshake and before the (synchronous) policy,
    within the handshake timeout: the place to fetch what the policy needs, e.g. DCAP collateral for
    the peer's platform; by default the policy's own (`policy_prepare`). On any failure the socket
    is closed and a `CocoonError` raised: `CertificateError`, `QuoteError` or `PolicyError` when the
    peer's attestation is refused, `ConnectionClosedError` otherwise. Certificates are checked at
    ``clock.time()`` (wall seconds).
    """
    if prepare is None:
        prepare = policy_prepare(policy)
    conn = SSL.Connection(context_for(identity), None)
    conn.set_app_data(VerifyState())
    if server:
        conn.set_accept_state()
    else:
        conn.set_connect_state()
    pump = BioPump()
    handshake_done = False
    try:
        try:
            async with asyncio.timeout(handshake_timeout):
                await run_handshake(conn, reader, writer, pump)
                handshake_done = True
                cert = _peer_certificate(conn, clock.time())
                if prepare is not None:
                    await prepare(cert, clock.time())
        except TimeoutError:
            raise ConnectionClosedError(
                f"TLS handshake did not finish within {handshake_timeout:g} s; "
                "the peer is too slow or does not speak RA-TLS"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosedError(f"connection lost during the TLS handshake: {exc}") from exc
        peer = policy.verify(cert, clock.time())
    except BaseException as exc:
        if isinstance(exc, AttestationError):
            log.debug("attestation refused: %s", exc)
        await asyncio.shield(close_connection(conn, writer, pump, notify=handshake_done))
        raise
    return AttestedStream(conn, reader, writer, peer, pump)


async def connect_attested(
    host: str,
    port: int,
    identity: NodeIdentity,
    policy: Policy,
    *,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    prepare: Prepare | None = None,
) -> AttestedStream:
    """Connect to ``host:port``, handshake as the TLS client, and return the accepted stream."""
    try:
        async with asyncio.timeout(handshake_timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise ConnectionClosedError(
            f"cannot connect to {host}:{port} within {handshake_timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectionClosedError(f"cannot connect to {host}:{port}: {exc}; is the node running?") from exc
    return await establish(
        reader,
        writer,
        identity,
        policy,
        server=False,
        clock=clock,
        handshake_timeout=handshake_timeout,
        prepare=prepare,
    )


async def accept_attested(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: NodeIdentity,
    policy: Policy,
    *,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    prepare: Prepare | None = None,
) -> AttestedStream:
    """Handshake as the TLS server on an accepted connection and return the accepted stream."""
    return await establish(
        reader,
        writer,
        identity,
        policy,
        server=True,
        clock=clock,
        handshake_timeout=handshake_timeout,
        prepare=prepare,
    )

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
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL

from cocoon.attestation.certificate import RaTlsCertificate, parse_certificate
from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.errors import AttestationError, CertificateError, ConnectionClosedError

log = logging.getLogger(__name__)

CIPHERSUITES = b"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384"
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
_CLOSE_TIMEOUT = 2.0
_CHUNK = 65536
# OpenSSL verify errors that RA-TLS certificates always raise and that we therefore tolerate at depth 0.
X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18
X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION = 34
_TOLERATED_VERIFY_ERRORS = frozenset(
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION}
)
_VERIFY_ERROR_NAMES = {
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    13: "format error in certificate's notBefore field",
    14: "format error in certificate's notAfter field",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    22: "certificate chain too long",
}

NowFn = Callable[[], float]
Prepare = Callable[[RaTlsCertificate, float], Awaitable[None]]
"""Async step run on the parsed peer certificate before the policy decides (see `establish`)."""


@dataclass
class _VerifyState:
    """Per-connection record of why OpenSSL's verification refused the peer (read after a failure)."""

    error: str | None = None


def _verify_callback(conn: SSL.Connection, cert: object, errnum: int, depth: int, ok: int) -> bool:
    state: _VerifyState = conn.get_app_data()
    if depth != 0:
        state.error = "peer sent a certificate chain; RA-TLS allows only one self-signed certificate"
        return False
    if ok or errnum in _TOLERATED_VERIFY_ERRORS:
        return True
    name = _VERIFY_ERROR_NAMES.get(errnum, "certificate verification error")
    state.error = f"{name} (X509 error {errnum})"
    return False


def build_context(identity: NodeIdentity) -> SSL.Context:
    """A TLS 1.3-only context presenting ``identity``'s current certificate and requiring the peer's."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_tls13_ciphersuites(CIPHERSUITES)
    ctx.set_options(SSL.OP_NO_TICKET)
    ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
    ctx.use_certificate(x509.load_der_x509_certificate(identity.certificate.der))
    ctx.use_privatekey(identity.private_key)
    ctx.check_privatekey()
    ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, _verify_callback)
    ctx.set_verify_depth(1)
    return ctx


# One context per (identity, certificate): building one costs more than a handshake's key exchange.
_contexts: weakref.WeakKeyDictionary[NodeIdentity, tuple[bytes, SSL.Context]] = weakref.WeakKeyDictionary()


def _context_for(identity: NodeIdentity) -> SSL.Context:
    fingerprint = identity.certificate.fingerprint
    cached = _contexts.get(identity)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, build_context(identity))
        _contexts[identity] = cached
    return cached[1]


def _ssl_reason(exc: SSL.Error) -> str:
    """OpenSSL's error queue as one readable string."""
    parts = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(p[2]) for p in parts if isinstance(p, tuple) and len(p) == 3 and p[2]]
    return "; ".join(reasons) or str(exc) or type(exc).__name__


class AttestedStream:
    """A `ByteStream` over mutual RA-TLS whose peer was accepted by a policy (`peer`)."""

    def __init__(
        self,
        conn: SSL.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: AttestedPeer,
        counters: _Counters,
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._counters = counters
        self.peer = peer
        self.close_reason: str | None = None
        self._closed = False
        self._eof = False

    @property
    def bytes_sent(self) -> int:
        """Ciphertext bytes written to the socket so far, handshake included."""
        return self._counters.sent

    @property
    def bytes_received(self) -> int:
        """Ciphertext bytes read from the socket so far, handshake included."""
        return self._counters.received

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

    async def read(self, max_bytes: int = _CHUNK) -> bytes:
        """Up to ``max_bytes`` of plaintext; ``b""`` once the peer closed, on TLS errors, or after close."""
        while not (self._closed or self._eof):
            try:
                return bytes(self._conn.recv(max_bytes))
            except SSL.WantReadError:
                self._counters.flush(self._conn, self._writer)
            except SSL.ZeroReturnError:
                return self._end("peer closed the TLS session")
            except SSL.Error as exc:
                return self._end(f"TLS error: {_ssl_reason(exc)}")
            try:
                data = await self._reader.read(_CHUNK)
            except (ConnectionError, OSError) as exc:
                return self._end(f"connection error: {exc}")
            if not data:
                return self._end("peer closed the TCP connection")
            self._counters.feed(self._conn, data)
        return b""

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
            self._end(f"TLS error while sending: {_ssl_reason(exc)}")
            return
        self._counters.flush(self._conn, self._writer)

    async def drain(self) -> None:
        """Wait for the socket's send buffer to drain below its high-water mark."""
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.drain()

    async def aclose(self) -> None:
        """Send TLS close_notify and close the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.close_reason is None:
            self.close_reason = "closed locally"
        await _close(self._conn, self._writer, self._counters, notify=True)


@dataclass
class _Counters:
    """Moves ciphertext between the memory BIOs and the socket, counting bytes each way."""

    sent: int = 0
    received: int = 0

    def flush(self, conn: SSL.Connection, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                chunk = conn.bio_read(_CHUNK)
            except SSL.WantReadError:
                return
            if not chunk:
                return
            self.sent += len(chunk)
            if not writer.is_closing():
                writer.write(chunk)

    def feed(self, conn: SSL.Connection, data: bytes) -> None:
        self.received += len(data)
        conn.bio_write(data)


async def _close(
    conn: SSL.Connection, writer: asyncio.StreamWriter, counters: _Counters, *, notify: bool
) -> None:
    if notify:
        with contextlib.suppress(SSL.Error):
            conn.shutdown()
    counters.flush(conn, writer)
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT):
            await writer.wait_closed()


async def _handshake(
    conn: SSL.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counters: _Counters
) -> None:
    while True:
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            counters.flush(conn, writer)
            await writer.drain()
            data = await reader.read(_CHUNK)
            if not data:
                raise ConnectionClosedError(
                    "peer closed the connection during the TLS handshake; it may have refused our "
                    "certificate or not speak RA-TLS"
                ) from None
            counters.feed(conn, data)
            continue
        except SSL.Error as exc:
            counters.flush(conn, writer)  # deliver our alert so the peer learns why
            raise _handshake_error(conn, exc) from exc
        counters.flush(conn, writer)
        await writer.drain()
        return


def _handshake_error(conn: SSL.Connection, exc: SSL.Error) -> Exception:
    state: _VerifyState = conn.get_app_data()
    if state.error is not None:
        return CertificateError(f"peer certificate refused by TLS verification: {state.error}")
    reason = _ssl_reason(exc)
    hint = (
        "the peer refused our certificate" if "alert" in reason else "check that the peer speaks RA-TLS 1.3"
    )
    return ConnectionClosedError(f"TLS handshake failed: {reason}; {hint}")


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
    now_fn: NowFn = time.time,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    prepare: Prepare | None = None,
) -> AttestedStream:
    """Run the RA-TLS handshake on a connected socket and apply ``policy`` to the peer.

    ``prepare(cert, now)``, if given, runs after the handshake and before the (synchronous) policy,
    within the handshake timeout: the place to fetch what the policy needs, e.g. DCAP collateral for
    the peer's platform. On any failure the socket is closed and a `CocoonError` raised:
    `CertificateError`, `QuoteError` or `PolicyError` when the peer's attestation is refused,
    `ConnectionClosedError` otherwise.
    """
    conn = SSL.Connection(_context_for(identity), None)
    conn.set_app_data(_VerifyState())
    if server:
        conn.set_accept_state()
    else:
        conn.set_connect_state()
    counters = _Counters()
    handshake_done = False
    try:
        try:
            async with asyncio.timeout(handshake_timeout):
                await _handshake(conn, reader, writer, counters)
                handshake_done = True
                cert = _peer_certificate(conn, now_fn())
                if prepare is not None:
                    await prepare(cert, now_fn())
        except TimeoutError:
            raise ConnectionClosedError(
                f"TLS handshake did not finish within {handshake_timeout:g} s; "
                "the peer is too slow or does not speak RA-TLS"
            ) from None
        except (ConnectionError, OSError) as exc:
            raise ConnectionClosedError(f"connection lost during the TLS handshake: {exc}") from exc
        peer = policy.verify(cert, now_fn())
    except BaseException as exc:
        if isinstance(exc, AttestationError):
            log.debug("attestation refused: %s", exc)
        await asyncio.shield(_close(conn, writer, counters, notify=handshake_done))
        raise
    return AttestedStream(conn, reader, writer, peer, counters)


async def connect_attested(
    host: str,
    port: int,
    identity: NodeIdentity,
    policy: Policy,
    *,
    now_fn: NowFn = time.time,
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
        now_fn=now_fn,
        handshake_timeout=handshake_timeout,
        prepare=prepare,
    )


async def accept_attested(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: NodeIdentity,
    policy: Policy,
    *,
    now_fn: NowFn = time.time,
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
        now_fn=now_fn,
        handshake_timeout=handshake_timeout,
        prepare=prepare,
    )

"""Opening COCOON connections: proof of work, TLS 1.3 with Ed25519 certificates, ``tcp.connect``.

The byte stack of every COCOON hop (the reference's ``tee/cocoon/pow.cpp`` and ``net/TcpConnection``):

1. the server sends a 24-byte PoW challenge (difficulty, 16-byte salt); the client answers 12 bytes
   (a nonce whose SHA-256 with the salt has ``difficulty`` leading zero bits);
2. TLS 1.3 on the same socket, both sides presenting self-signed Ed25519 certificates (RA-TLS ones
   when attested; `cocoon.net.tls.establish`), the server requiring the client's;
3. frames carrying ``tcp.*`` objects: the client sends ``tcp.connect{id}``, the server answers
   ``tcp.connected{id}``; then `CocoonConnection` (`cocoon.net.cocoon_session`) takes over.

`connect_cocoon` is the client (it solves the PoW in a worker thread, off the event loop);
`accept_cocoon` (the server for one accepted socket) and `serve_cocoon` (a listener around it) live
in `cocoon.net.cocoon_accept` and are exported here too, with the connection's types.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy, Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ConnectionClosedError, RemoteProtocolError
from cocoon.net.cocoon_accept import accept_cocoon, serve_cocoon
from cocoon.net.cocoon_common import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_POW_TIMEOUT,
    CocoonQueryError,
    HandshakeInfo,
    PacketHandler,
    QueryHandler,
    close_writer,
)
from cocoon.net.cocoon_session import CocoonConnection
from cocoon.net.tls import establish
from cocoon.tl import pow as tl_pow
from cocoon.tl.errors import PowNotFoundError
from cocoon.tl.types import TcpConnect, TcpConnected

__all__ = [
    "CocoonConnection",
    "CocoonQueryError",
    "HandshakeInfo",
    "PacketHandler",
    "QueryHandler",
    "accept_cocoon",
    "connect_cocoon",
    "serve_cocoon",
    "solve_pow",
]

log = logging.getLogger(__name__)

POW_CHUNK = 1 << 16
"""Nonces tried per worker-thread call: small enough that a cancelled connect stops within ~0.1 s."""


async def connect_cocoon(
    host: str,
    port: int,
    identity: NodeIdentity,
    *,
    policy: Policy | None = None,
    max_difficulty: int = tl_pow.MAX_CLIENT_DIFFICULTY,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    pow_timeout: float = DEFAULT_POW_TIMEOUT,
    on_query: QueryHandler | None = None,
    on_packet: PacketHandler | None = None,
    ping_interval: float | None = None,
    idle_timeout: float | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> CocoonConnection:
    """Open a COCOON connection to ``host:port`` as the outbound side and return it started.

    With ``policy=None`` any valid self-signed Ed25519 certificate of the server is accepted, without
    looking at its attestation: this is what the published COCOON client SDKs do, and it is insecure
    (anyone on the path can pose as the proxy). Pass a `Policy` (e.g. a ``tdx`` policy with the proxy
    image hashes of the root contract) to verify the proxy.

    Each network step is bounded by `handshake_timeout`, solving the PoW by `pow_timeout`. Raises
    `ConnectionClosedError` (unreachable, refused, too slow, difficulty above `max_difficulty`),
    an `AttestationError` when the policy refuses the server, or a `DecodeError` on garbage.
    """
    started = clock.monotonic()
    try:
        async with asyncio.timeout(handshake_timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        raise ConnectionClosedError(
            f"cannot connect to {host}:{port} within {handshake_timeout:g} s"
        ) from None
    except OSError as exc:
        raise ConnectionClosedError(f"cannot connect to {host}:{port}: {exc}; is the proxy running?") from exc
    try:
        difficulty, pow_seconds = await _client_pow(
            reader, writer, max_difficulty, clock, handshake_timeout, pow_timeout
        )
    except BaseException:
        await close_writer(writer)
        raise
    stream = await establish(
        reader,
        writer,
        identity,
        policy or AnyPolicy(),
        server=False,
        clock=clock,
        handshake_timeout=handshake_timeout,
    )
    conn = CocoonConnection(
        stream,
        stream.peer,
        outbound=True,
        clock=clock,
        ping_interval=ping_interval,
        idle_timeout=idle_timeout,
        random_bytes=random_bytes,
        name=f"cocoon to {host}:{port}",
    )
    try:
        async with asyncio.timeout(handshake_timeout):
            connect_id = int.from_bytes(random_bytes(8), "little", signed=True)
            await conn.send(TcpConnect(id=connect_id))
            answer = await conn.receive()
        if not isinstance(answer, TcpConnected) or answer.id != connect_id:
            raise RemoteProtocolError(
                f"expected tcp.connected{{id={connect_id}}}, the server sent {answer!r:.200}"
            )
    except TimeoutError:
        await conn.aclose("no tcp.connected")
        raise ConnectionClosedError(
            f"{host}:{port} did not answer tcp.connect within {handshake_timeout:g} s; is it a COCOON node?"
        ) from None
    except BaseException as exc:
        await conn.aclose(f"handshake failed: {exc!r}")
        raise
    conn.connect_id = connect_id
    conn.handshake = HandshakeInfo(difficulty, pow_seconds, clock.monotonic() - started)
    conn.set_handlers(on_query, on_packet)
    conn.start()
    return conn


async def _client_pow(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    max_difficulty: int,
    clock: Clock,
    handshake_timeout: float,
    pow_timeout: float,
) -> tuple[int, float]:
    try:
        async with asyncio.timeout(handshake_timeout):
            challenge = tl_pow.decode_challenge(await reader.readexactly(tl_pow.CHALLENGE_SIZE))
    except TimeoutError:
        raise ConnectionClosedError(
            f"no PoW challenge within {handshake_timeout:g} s; is it a COCOON port?"
        ) from None
    except (asyncio.IncompleteReadError, OSError) as exc:
        raise ConnectionClosedError(f"connection lost before the PoW challenge arrived: {exc}") from exc
    if challenge.difficulty > max_difficulty:
        raise ConnectionClosedError(
            f"the server demands PoW difficulty {challenge.difficulty}, above our limit {max_difficulty} "
            f"(2^{challenge.difficulty} hashes); raise max_difficulty only for a server you trust"
        )
    started = clock.monotonic()
    try:
        async with asyncio.timeout(pow_timeout):
            nonce = await solve_pow(challenge.salt, challenge.difficulty)
    except TimeoutError:
        raise ConnectionClosedError(
            f"could not solve the PoW of difficulty {challenge.difficulty} within {pow_timeout:g} s"
        ) from None
    pow_seconds = clock.monotonic() - started
    log.debug("PoW difficulty %d solved in %.2f s", challenge.difficulty, pow_seconds)
    writer.write(tl_pow.encode_answer(nonce))
    try:
        async with asyncio.timeout(handshake_timeout):
            await writer.drain()
    except (TimeoutError, OSError) as exc:
        raise ConnectionClosedError(f"could not send the PoW answer: {exc!r}") from exc
    return challenge.difficulty, pow_seconds


async def solve_pow(salt: bytes, difficulty: int) -> int:
    """Find a nonce for the challenge in worker-thread chunks (the event loop keeps running; a
    cancellation stops the search after the current chunk)."""
    start = 0
    while True:
        try:
            return await asyncio.to_thread(tl_pow.solve, salt, difficulty, start, POW_CHUNK)
        except PowNotFoundError:
            start += POW_CHUNK

"""The server side of opening COCOON connections: `accept_cocoon` for one socket, `serve_cocoon`.

The server sends the PoW challenge (a fresh random salt), checks the answer, runs the TLS 1.3 server
handshake requiring a client certificate, then answers the client's ``tcp.connect`` with
``tcp.connected``; see `cocoon.net.cocoon_conn` for the whole stack.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.policy import AnyPolicy, Policy
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError, ConnectionClosedError, RemoteProtocolError
from cocoon.net.cocoon_common import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_POW_TIMEOUT,
    HandshakeInfo,
    PacketHandler,
    QueryHandler,
    close_writer,
)
from cocoon.net.cocoon_session import CocoonConnection
from cocoon.net.tls import establish
from cocoon.tl import pow as tl_pow
from cocoon.tl.types import TcpConnect, TcpConnected

log = logging.getLogger(__name__)


async def accept_cocoon(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: NodeIdentity,
    *,
    difficulty: int = tl_pow.DEFAULT_DIFFICULTY,
    policy: Policy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    pow_timeout: float = DEFAULT_POW_TIMEOUT,
    on_query: QueryHandler | None = None,
    on_packet: PacketHandler | None = None,
    ping_interval: float | None = None,
    idle_timeout: float | None = None,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> CocoonConnection:
    """Run the server side of the handshake on an accepted socket and return the started connection.

    The client gets `pow_timeout` seconds to answer the challenge; TLS and ``tcp.connect`` are bounded
    by `handshake_timeout`. ``policy=None`` accepts any valid self-signed Ed25519 client certificate,
    RA-TLS extensions optional (`AnyPolicy`), as the reference's client port does. On failure the
    socket is closed, the reason logged and raised: `ConnectionClosedError`, `RemoteProtocolError`
    (wrong PoW answer, no ``tcp.connect``), `DecodeError`, or an `AttestationError`.
    """
    started = clock.monotonic()
    peername = writer.get_extra_info("peername")
    try:
        salt = random_bytes(16)
        writer.write(tl_pow.encode_challenge(difficulty, salt))
        try:
            async with asyncio.timeout(pow_timeout):
                await writer.drain()
                nonce = tl_pow.decode_answer(await reader.readexactly(tl_pow.ANSWER_SIZE))
        except TimeoutError:
            raise ConnectionClosedError(f"no PoW answer within {pow_timeout:g} s") from None
        except (asyncio.IncompleteReadError, OSError) as exc:
            raise ConnectionClosedError(f"connection lost before the PoW answer arrived: {exc}") from exc
        if not tl_pow.check(salt, nonce, difficulty):
            raise RemoteProtocolError(
                f"wrong PoW answer (nonce {nonce} does not reach difficulty {difficulty})"
            )
    except BaseException as exc:
        log.info("cocoon client %s refused: %s", peername, exc)
        await close_writer(writer)
        raise
    pow_seconds = clock.monotonic() - started
    try:
        stream = await establish(
            reader,
            writer,
            identity,
            policy or AnyPolicy(),
            server=True,
            clock=clock,
            handshake_timeout=handshake_timeout,
        )
    except CocoonError as exc:
        log.info("cocoon client %s refused: %s", peername, exc)
        raise
    conn = CocoonConnection(
        stream,
        stream.peer,
        outbound=False,
        clock=clock,
        ping_interval=ping_interval,
        idle_timeout=idle_timeout,
        random_bytes=random_bytes,
        name=f"cocoon from {peername}",
    )
    try:
        async with asyncio.timeout(handshake_timeout):
            hello = await conn.receive()
            if not isinstance(hello, TcpConnect):
                raise RemoteProtocolError(
                    f"expected tcp.connect first, the client sent {type(hello).__name__}"
                )
            await conn.send(TcpConnected(id=hello.id))
    except BaseException as exc:
        reason = (
            f"no tcp.connect within {handshake_timeout:g} s" if isinstance(exc, TimeoutError) else repr(exc)
        )
        await conn.aclose(f"handshake failed: {reason}")
        if isinstance(exc, TimeoutError):
            raise ConnectionClosedError(f"cocoon client {peername}: {reason}") from None
        raise
    conn.connect_id = hello.id
    conn.handshake = HandshakeInfo(difficulty, pow_seconds, clock.monotonic() - started)
    conn.set_handlers(on_query, on_packet)
    conn.start()
    return conn


async def serve_cocoon(
    host: str,
    port: int,
    identity: NodeIdentity,
    on_connection: Callable[[CocoonConnection], Awaitable[None]],
    *,
    difficulty: int = tl_pow.DEFAULT_DIFFICULTY,
    policy: Policy | None = None,
    clock: Clock = SYSTEM_CLOCK,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    pow_timeout: float = DEFAULT_POW_TIMEOUT,
    idle_timeout: float | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0 = a free port) and run `accept_cocoon` for each client, then
    ``on_connection(conn)``, which should call ``conn.set_handlers`` before its first ``await`` (the
    connection already reads). Refused clients are logged by `accept_cocoon`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            conn = await accept_cocoon(
                reader,
                writer,
                identity,
                difficulty=difficulty,
                policy=policy,
                clock=clock,
                handshake_timeout=handshake_timeout,
                pow_timeout=pow_timeout,
                idle_timeout=idle_timeout,
            )
        except CocoonError:
            return  # accept_cocoon logged why
        try:
            await on_connection(conn)
        except Exception:
            log.exception("%s: connection handler failed", conn.name)
            await conn.aclose("connection handler failed")

    return await asyncio.start_server(handle, host, port)

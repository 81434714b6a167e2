"""What the COCOON connection modules share: handler types, the reference's timings, errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cocoon.errors import RemoteQueryError
from cocoon.tl.base import TLObject

QueryHandler = Callable[[TLObject], Awaitable[TLObject]]
"""Answers a query from the peer (its decoded payload) with a TL object."""
PacketHandler = Callable[[TLObject], Awaitable[None]]
"""Takes a packet from the peer; packets are handed over one at a time, in order."""

DEFAULT_HANDSHAKE_TIMEOUT = 10.0
"""Bound of each network step of opening a connection (TLS, ``tcp.connect``)."""
DEFAULT_POW_TIMEOUT = 60.0
"""Bound of solving the PoW (client) and of waiting for the answer (server)."""
OUTBOUND_PING_INTERVAL = 10.0
OUTBOUND_IDLE_TIMEOUT = 20.0
INBOUND_IDLE_TIMEOUT = 60.0
DEFAULT_QUERY_TIMEOUT = 30.0
ERROR_FAILURE = 601
"""TON's generic failure code: what a query handler's unexpected exception answers."""
ERROR_NOT_READY = 651
"""TON's "not ready" code: what a query answers when no query handler is set."""


@dataclass(frozen=True, slots=True)
class HandshakeInfo:
    """How the connection was opened: the PoW difficulty and the time spent (seconds)."""

    difficulty: int
    pow_seconds: float
    """Client: time to solve the challenge; server: time until the client's answer arrived."""
    total_seconds: float


class CocoonQueryError(RemoteQueryError):
    """A ``tcp.queryError``: the peer refused our query (`error_code`, `error_message`).

    Raise it from a query handler to answer with a chosen code. `code` is ``str(error_code)``.
    """

    def __init__(self, error_code: int, error_message: str) -> None:
        super().__init__(f"peer answered error {error_code}: {error_message}", str(error_code))
        self.error_code = error_code
        self.error_message = error_message


async def close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a socket that carries no TLS yet (bounded wait)."""
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(2.0):
            await writer.wait_closed()

"""The proxy's COCOON-compatible client port: reference clients (C++ client runner, TypeScript and Go
SDKs, our client with ``protocol = "cocoon"``) on our network.

Each accepted socket runs COCOON's handshake (`cocoon.net.cocoon_conn.accept_cocoon`: proof of work
at ``cocoon_pow_difficulty``, TLS 1.3 with any Ed25519 client certificate, ``tcp.connect``), then a
:class:`~cocoon.proxy.cocoon_session.CocoonClientSession` serves it: handshake and authorization
queries, ``client.runQueryEx`` through the proxy's own router (reservation, metering, ledger and
settlement shared with our client port), payment status. A client that fails the proof of work or
the TLS handshake is logged and counted as refused; a protocol violation closes its connection with
a logged reason (counted). Nothing is reserved or charged for either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cocoon.errors import CocoonError, ConfigError
from cocoon.net.cocoon_conn import accept_cocoon
from cocoon.net.cocoon_session import CocoonConnection
from cocoon.proxy.cocoon_auth import LONG_AUTH_TIMEOUT_S, RegisterWatch
from cocoon.proxy.cocoon_session import CocoonClientSession
from cocoon.ton.address import Address
from cocoon.ton.reference.fake_root import FakeRoot

if TYPE_CHECKING:
    from cocoon.proxy.service import ProxyService

log = logging.getLogger(__name__)

MAX_HANDSHAKES = 256
"""Connections in their handshake (proof of work, TLS) at once; more are closed at once (refused)."""


def cocoon_port_of(client_port: int, cocoon_port: int | None) -> int | None:
    """The COCOON port to bind: as configured; by default (None) the client port + 1, or any free port
    when the client port is 0 (tests); None when configured off (-1)."""
    if cocoon_port is None:
        return client_port + 1 if client_port else 0
    return None if cocoon_port < 0 else cocoon_port


def load_fake_root(path: str, address: str) -> FakeRoot | None:
    """The fake-TON root config at ``path`` (None when unset), named by the root ``address``."""
    if not path:
        return None
    if not address:
        raise ConfigError(
            "cocoon_fake_root needs cocoon_fake_root_address (the runners' root_contract_address)"
        )
    try:
        return FakeRoot.from_json(json.loads(Path(path).read_text()), Address.parse(address))
    except (OSError, ValueError, CocoonError) as exc:
        raise ConfigError(f"cannot read the fake root config {path}: {exc}") from exc


class CocoonPort:
    """Listens for COCOON clients on ``host:port`` for a :class:`~cocoon.proxy.service.ProxyService`."""

    def __init__(
        self,
        service: ProxyService,
        host: str,
        port: int,
        *,
        difficulty: int,
        long_auth_timeout_s: float = LONG_AUTH_TIMEOUT_S,
    ) -> None:
        self.service = service
        self.host = host
        self._requested_port = port
        self.difficulty = difficulty
        self.long_auth_timeout_s = long_auth_timeout_s
        self.root_version: int | None = None
        """The root contract's version as this proxy last read it (`build_proxy` follows the root): a
        client's ``min_config_version`` above it is refused. None without a chain: no root to be behind."""
        self.registers = RegisterWatch()
        """Nonces of clients in long authorization, matched to the register notes the chain shows."""
        self.sessions: set[CocoonClientSession] = set()
        self.accepted = 0
        self.refused = 0
        """Sockets dropped in the handshake (proof of work, TLS, tcp.connect)."""
        self.violations = 0
        """Connections closed for a protocol violation or a failed authorization."""
        self.refused_requests = 0
        """Requests refused before routing (fields, http.request, body validation)."""
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        if service.chain is not None:
            service.chain.reader.on_client_register = self.registers.on_register
        self.fake_root = load_fake_root(
            service.config.cocoon_fake_root, service.config.cocoon_fake_root_address
        )
        """Without a chain: the reference runners' fake root whose contract addresses the port announces."""

    @property
    def port(self) -> int:
        """The bound TCP port (valid after `start`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the COCOON port is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self._requested_port)
        log.info(
            "COCOON client port listening on %s:%d (PoW difficulty %d)", self.host, self.port, self.difficulty
        )

    async def aclose(self) -> None:
        """Stop accepting, close every connection, wait for their handlers."""
        if self._server is not None:
            self._server.close()
        for session in list(self.sessions):
            await session.conn.aclose("proxy closing")
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(OSError):
                await self._server.wait_closed()
            self._server = None

    def count_violation(self) -> None:
        self.violations += 1

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._handlers) - len(self.sessions) >= MAX_HANDSHAKES:
            self.refused += 1
            log.warning("COCOON port: %d handshakes in progress; refusing a new connection", MAX_HANDSHAKES)
            writer.close()
            return
        self._handlers.add(task)
        try:
            try:
                conn = await accept_cocoon(
                    reader,
                    writer,
                    self.service.identity,
                    difficulty=self.difficulty,
                    clock=self.service.clock,
                )
            except CocoonError:
                self.refused += 1  # accept_cocoon logged why
                return
            self.accepted += 1
            await self._serve(conn)
        finally:
            self._handlers.discard(task)

    async def _serve(self, conn: CocoonConnection) -> None:
        session = CocoonClientSession(self, conn)
        conn.set_handlers(session.on_query, session.on_packet)  # before any await: it already reads
        self.sessions.add(session)
        clients = self.service.clients
        clients[session.client_id] = clients.get(session.client_id, 0) + 1
        try:
            reason = await conn.wait_closed()
            log.info("cocoon client %s left: %s", session.client_id[:16], reason)
        finally:
            clients[session.client_id] -= 1
            self.sessions.discard(session)
            await session.closed()
            await conn.aclose("proxy closing")

    def stats(self) -> dict[str, Any]:
        """The port's part of ``/jsonstats``."""
        return {
            "port": self.port if self._server is not None else None,
            "pow_difficulty": self.difficulty,
            "connections": len(self.sessions),
            "accepted": self.accepted,
            "refused": self.refused,
            "violations": self.violations,
            "refused_requests": self.refused_requests,
            "long_auth_waiting": len(self.registers),
            "register_notes": {"matched": self.registers.notes_seen, "ignored": self.registers.notes_ignored},
        }

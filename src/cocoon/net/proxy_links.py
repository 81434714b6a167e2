"""Outbound connections to a changing set of proxies (what workers and clients both need).

One attested RPC connection per proxy address, re-opened with capped, jittered exponential backoff
when it fails or ends. The address set can change at run time (`update`), e.g. when the root
contract registers or removes a proxy: new addresses get a connection, removed ones are closed.
What happens on a connection is the caller's: `session_for(address)` gives the handlers and the
`opened` step (join a payment channel, declare a worker's offer) for each attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from typing import Protocol

from cocoon.attestation.identity import NodeIdentity
from cocoon.attestation.peer import AttestedPeer
from cocoon.attestation.policy import Policy
from cocoon.errors import CocoonError
from cocoon.net.address import parse_host_port
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.tls import connect_attested
from cocoon.wire.session import EndpointConfig

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.2
BACKOFF_MAX_S = 5.0


class Session(Protocol):
    """What one connection attempt to a proxy does."""

    @property
    def handlers(self) -> Handlers:
        """Callbacks for what the proxy sends on this connection."""
        ...

    async def opened(self, conn: RpcConnection, peer: AttestedPeer) -> None:
        """Runs once the session is up; raising `CocoonError` drops the connection and retries."""
        ...


class ProxyLinks:
    """Keeps `connections` to every address in the current set (see the module docstring)."""

    def __init__(
        self,
        identity: NodeIdentity,
        policy: Policy,
        endpoint: EndpointConfig,
        session_for: Callable[[str], Session],
        *,
        give_up: Callable[[str], bool] = lambda address: False,
        role: str = "node",
    ) -> None:
        self.identity = identity
        self.policy = policy
        self.endpoint = endpoint
        self.session_for = session_for
        self.give_up = give_up
        self.role = role
        self.connections: dict[str, RpcConnection] = {}
        self.peers: dict[str, AttestedPeer] = {}
        self.last_error: dict[str, str] = {}
        self.connects = 0
        self._loops: dict[str, asyncio.Task[None]] = {}

    @property
    def addresses(self) -> list[str]:
        return list(self._loops)

    def keeping(self, address: str) -> bool:
        """True while a connection to ``address`` is kept; False once removed or given up on."""
        task = self._loops.get(address)
        return task is not None and not task.done()

    def update(self, addresses: Iterable[str]) -> None:
        """Connect to new addresses and close connections to those no longer listed."""
        wanted = list(dict.fromkeys(addresses))
        for address in [a for a in self._loops if a not in wanted]:
            log.info("%s: proxy %s is no longer listed; disconnecting", self.role, address)
            self._loops.pop(address).cancel()
            self.last_error.pop(address, None)
        for address in wanted:
            loop = self._loops.get(address)
            if loop is None or loop.done():  # new, or given up on and perhaps wanted again
                parse_host_port(address)  # a bad address is a configuration error, said at once
                self._loops[address] = asyncio.create_task(self._keep(address), name=f"proxy {address}")

    def close_all(self, reason: str) -> int:
        """Close every live connection with ``reason`` (each is re-opened as usual, unless given up
        on); returns how many were closed."""
        conns = list(self.connections.values())
        for conn in conns:
            conn.close_soon(reason)
        return len(conns)

    def restart(self) -> None:
        """Connect again to every address whose loop was given up on (``give_up`` may say otherwise now)."""
        self.update(list(self._loops))

    def reconnect_all(self, reason: str, params_version: int) -> None:
        """Close every connection and connect again to every address, given up on or not: the root's
        params moved to ``params_version`` and the proxies' contracts with them."""
        closed = self.close_all(reason)
        self.restart()
        log.warning(
            "closed %d proxy connections to reconnect under params version %d",
            closed,
            params_version,
        )

    async def run(self, addresses: Iterable[str]) -> None:
        """Keep the connections until cancelled."""
        self.update(addresses)
        try:
            await asyncio.Event().wait()
        finally:
            loops = list(self._loops.values())
            self._loops.clear()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def _keep(self, address: str) -> None:
        host, port = parse_host_port(address)
        backoff = BACKOFF_START_S
        while not self.give_up(address):
            session = self.session_for(address)
            try:
                stream = await connect_attested(host, port, self.identity, self.policy)
                conn = await RpcConnection.open(
                    stream, self.endpoint, initiator=True, handlers=session.handlers
                )
            except CocoonError as exc:
                backoff = await self._retry_later(address, f"cannot connect: {exc}", backoff)
                continue
            try:
                await session.opened(conn, stream.peer)
                backoff = BACKOFF_START_S
                self.connects += 1
                self.connections[address] = conn
                self.peers[address] = stream.peer
                self.last_error.pop(address, None)
                log.info("%s: connected to proxy %s (%s)", self.role, address, stream.peer.describe())
                ended = await conn.wait_closed()
                self.last_error[address] = ended.reason
                log.warning("%s: proxy %s ended the connection: %s", self.role, address, ended.reason)
            except CocoonError as exc:
                backoff = await self._retry_later(address, f"session failed: {exc}", backoff)
            finally:
                self.connections.pop(address, None)
                self.peers.pop(address, None)
                with contextlib.suppress(CocoonError):
                    await conn.aclose(f"{self.role} reconnecting")

    async def _retry_later(self, address: str, why: str, backoff: float) -> float:
        """Record and log the failure, wait a jittered `backoff`, return the next (doubled, capped) one."""
        self.last_error[address] = why
        log.warning("%s: proxy %s: %s; retrying in %.1f s", self.role, address, why, backoff)
        await asyncio.sleep(backoff * (0.5 + random.random()))
        return min(backoff * 2, BACKOFF_MAX_S)

"""One connection of a client to a proxy, seen from its payments (:mod:`cocoon.client.payments`).

`ClientProxySession` is the client's side of each connection attempt the pool makes
(`cocoon.net.proxy_links.Session`): its handlers take the proxy's payment updates, and once the
connection is up it registers the client contract (`ClientLink.join`). Without payments on chain
(the proxy's off-chain credit) it has nothing to do.
"""

from __future__ import annotations

import logging

from cocoon.attestation.peer import AttestedPeer
from cocoon.client.payments import ClientPayments
from cocoon.errors import PaymentError
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.wire.messages import PaymentUpdate

log = logging.getLogger(__name__)


class ClientLink:
    """One connection to a proxy, seen from the payments: open and register, check its updates."""

    def __init__(self, payments: ClientPayments, proxy: str) -> None:
        self.payments = payments
        self.proxy = proxy
        self.proxy_contract: str | None = None
        self.conn: RpcConnection | None = None

    async def join(self, conn: RpcConnection, proxy_key: bytes) -> None:
        self.conn = conn
        channel = await self.payments.join(conn, proxy_key)
        self.proxy_contract = channel.proxy_contract.raw

    def on_payment(self, update: PaymentUpdate) -> None:
        """``Handlers.on_payment``: a bad update drops the proxy and closes the connection."""
        if self.proxy_contract is None:
            return
        try:
            self.payments.on_update(self.proxy_contract, update)
        except PaymentError as exc:
            log.error("dropping proxy %s: %s", self.proxy, exc)
            self.payments.dropped[self.proxy] = str(exc)
            if self.conn is not None:
                self.conn.close_soon(f"dropped: {exc}")


class ClientProxySession:
    """The client's side of one connection attempt to a proxy: receive its payment updates, register
    our client contract."""

    def __init__(self, link: ClientLink | None) -> None:
        self.link = link
        self.handlers = Handlers(on_payment=link.on_payment if link is not None else None)

    async def opened(self, conn: RpcConnection, peer: AttestedPeer) -> None:
        if self.link is not None:
            await self.link.join(conn, peer.public_key)

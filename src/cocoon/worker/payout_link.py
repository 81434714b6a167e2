"""One connection of a worker to a proxy, seen from its payouts (:mod:`cocoon.worker.payouts`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from cocoon.errors import CocoonError, PaymentError
from cocoon.net.rpc import RpcConnection
from cocoon.ton.address import Address
from cocoon.wire.control import GetProxyInfo, ProxyInfo
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.payouts import WorkerPayouts

log = logging.getLogger(__name__)


class PayoutLink:
    """One connection to a proxy, seen from the payouts: learn its contract, check its updates."""

    def __init__(
        self, payouts: WorkerPayouts, proxy: str, on_leave: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self.payouts = payouts
        self.proxy = proxy
        self.proxy_contract: str | None = None
        self.conn: RpcConnection | None = None
        self.on_leave = on_leave  # tells the proxy this worker takes no more requests

    async def leave(self, why: str) -> None:
        """Serve this proxy nothing more (it is told at once), but stay connected for its last
        payment updates."""
        if self.on_leave is not None and self.conn is not None:
            try:
                await self.on_leave()
            except CocoonError as exc:  # the connection is going anyway: it stops serving
                log.warning("could not tell proxy %s this worker leaves it (%s): closing", self.proxy, exc)
                self.close(why)

    def close(self, why: str) -> None:
        """Close the connection (if there is one) with ``why``."""
        if self.conn is not None:
            self.conn.close_soon(why)

    async def join(self, conn: RpcConnection, proxy_key: bytes) -> None:
        """Ask the proxy for its contract and attach our worker contract to it (before serving)."""
        self.conn = conn
        try:
            info = await conn.query(GetProxyInfo(), timeout=30)
            if not isinstance(info, ProxyInfo) or not info.proxy_contract:
                raise PaymentError(f"proxy {self.proxy} does not settle on chain; it cannot pay this worker")
            channel = await self.payouts.attach(Address.parse(info.proxy_contract), proxy_key, self.proxy)
        except BaseException:
            await conn.aclose("cannot settle with this proxy")
            raise
        self.proxy_contract = channel.proxy_contract.raw
        self.payouts.links[self.proxy_contract] = self

    def on_payment(self, update: PaymentUpdate) -> None:
        """``Handlers.on_payment``: a bad update drops the proxy and closes the connection."""
        if self.proxy_contract is None:
            return
        try:
            self.payouts.on_update(self.proxy_contract, update)
        except PaymentError as exc:
            self.payouts.drop(self.proxy, str(exc))
            if self.conn is not None:
                self.conn.close_soon(f"dropped: {exc}")

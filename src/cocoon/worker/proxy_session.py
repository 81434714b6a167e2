"""One connection attempt of the worker to a proxy: its offer, its queries and its payment channel.

A proxy the worker leaves (its contract closes: :mod:`cocoon.worker.payouts`) is told the worker's
offer is disabled and any request it still sends is refused, while the connection stays open for the
proxy's last payment updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cocoon.attestation.peer import AttestedPeer
from cocoon.net.rpc import Handlers, RpcConnection
from cocoon.net.rpc_stream import Responder
from cocoon.wire.messages import RunQuery
from cocoon.worker.payout_link import PayoutLink

if TYPE_CHECKING:
    from cocoon.worker.service import WorkerService


class WorkerProxySession:
    """One connection attempt of the worker to a proxy: serve its queries, join its payment channel."""

    def __init__(self, service: WorkerService, address: str) -> None:
        self.service = service
        self.address = address
        self.link: PayoutLink | None = None
        self.conn: RpcConnection | None = None
        self.handlers = Handlers(on_run_query=self.serve)

    async def opened(self, conn: RpcConnection, peer: AttestedPeer) -> None:
        self.conn = conn
        if self.link is not None:
            await self.link.join(conn, peer.public_key)
        await self.tell_state()

    async def tell_state(self) -> None:
        """Send the proxy our current offer (disabled once we leave it)."""
        if self.conn is not None:
            await self.conn.send_worker_state(self.service.state_for(self.address))

    async def serve(self, request: RunQuery, responder: Responder) -> None:
        why = self.service.leaving(self.address)
        if why is not None:  # a request sent before the proxy saw our disabled offer
            await responder.error(503, "worker_leaving", f"worker {self.service.worker_id}: {why}")
            return
        await self.service._serve(request, responder)

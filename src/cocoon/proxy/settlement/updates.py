"""Pushing payment updates: every connected counterpart learns its channel's counters and signature.

A :class:`~cocoon.wire.messages.PaymentUpdate` carries a channel's three counters and the proxy-signed
payment for its chain-committed total (:mod:`.payment_signer`); a worker cashes that payout out itself,
a client checks it. The proxy sends one whenever a channel moved, to every connection of its
counterpart: the workers the registry holds (by the owner of their offer) and the clients bound to a
client contract (:mod:`.clients`).

An update counts as delivered only once every connection of its counterpart took it. A send that raises
is logged (who, why), counted in :class:`~.counters.SettlementCounters`, and the update is sent again on
the next push, so one failed send cannot cost a counterpart its final signed payment. Updates are
cumulative totals: a connection that receives the same one twice learns nothing new and loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

from cocoon.errors import CocoonError
from cocoon.payments.channel import Counters
from cocoon.payments.counterpart import counters_of
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL
from cocoon.proxy.settlement.channels import ChannelKey, Channels
from cocoon.proxy.settlement.counters import SettlementCounters
from cocoon.proxy.settlement.payment_signer import PaymentSigner
from cocoon.wire.messages import PaymentUpdate, WorkerState

log = logging.getLogger(__name__)

PUSH_INTERVAL_S = 0.5
"""How often moved channels are pushed (and failed sends retried)."""


class PaymentPeer(Protocol):
    """A connection that takes payment updates (an :class:`~cocoon.net.rpc.RpcConnection`)."""

    async def send_payment_update(self, update: PaymentUpdate) -> None: ...


class WorkerPeer(Protocol):
    """A connected worker, as the proxy's worker registry holds it (a ``WorkerLink``)."""

    @property
    def worker_id(self) -> str: ...

    @property
    def state(self) -> WorkerState | None: ...

    @property
    def conn(self) -> PaymentPeer: ...


ClientPeer = tuple[str, str, PaymentPeer]
"""A bound client connection: (client id, owner of its client contract, connection)."""


class UpdatePusher:
    """Sends each channel's update to its counterpart's connections until all of them took it."""

    def __init__(self, channels: Channels, signer: PaymentSigner, counters: SettlementCounters) -> None:
        self.channels = channels
        self.signer = signer
        self.counters = counters
        self._delivered: dict[ChannelKey, Counters] = {}  # the counters every connection last took

    def update_for(self, kind: str, owner: str) -> PaymentUpdate | None:
        """The update to send for a channel, or None when its counterpart already has these counters."""
        counters = self.channels.counters(kind, owner)
        if self._delivered.get((kind, owner)) == counters:
            return None
        return PaymentUpdate(
            counterpart=owner,
            tokens_max=counters.tokens_max,
            committed_to_db=counters.committed_to_db,
            committed_to_chain=counters.committed_to_chain,
            signed_payment=self.signer.signed_payment(kind, owner),
        )

    async def push(self, workers: Iterable[WorkerPeer], clients: Iterable[ClientPeer]) -> None:
        """Send every moved channel's update to each connection of its counterpart."""
        for (kind, owner), peers in _peers_by_channel(workers, clients).items():
            update = self.update_for(kind, owner)
            if update is not None and await self._send(update, peers):
                self._delivered[(kind, owner)] = counters_of(update)

    async def push_forever(
        self, workers: Iterable[WorkerPeer], clients: Callable[[], Iterable[ClientPeer]]
    ) -> None:
        """:meth:`push` every :data:`PUSH_INTERVAL_S` until cancelled (``clients``: read anew each time)."""
        while True:
            await self.push(workers, clients())
            await asyncio.sleep(PUSH_INTERVAL_S)

    async def _send(self, update: PaymentUpdate, peers: list[tuple[str, PaymentPeer]]) -> bool:
        """Send ``update`` to every peer; whether all of them took it (each failure logged and counted)."""
        delivered = True
        for who, peer in peers:
            try:
                await peer.send_payment_update(update)
            except CocoonError as exc:  # connection closing or closed: the next push sends it again
                delivered = False
                self.counters.updates_failed += 1
                log.warning(
                    "payment update for %s (committed to chain %d) not sent to %s: %s; retrying",
                    update.counterpart,
                    update.committed_to_chain,
                    who,
                    exc,
                )
            else:
                self.counters.updates_sent += 1
        return delivered


def _peers_by_channel(
    workers: Iterable[WorkerPeer], clients: Iterable[ClientPeer]
) -> dict[ChannelKey, list[tuple[str, PaymentPeer]]]:
    """The connections of each channel's counterpart, each with a name for the logs."""
    peers: dict[ChannelKey, list[tuple[str, PaymentPeer]]] = {}
    for link in workers:
        if link.state is not None and link.state.owner:
            key = (WORKER_CHANNEL, link.state.owner)
            peers.setdefault(key, []).append((f"worker {link.worker_id}", link.conn))
    for client_id, owner, conn in clients:
        peers.setdefault((CLIENT_CHANNEL, owner), []).append((f"client {client_id[:16]}", conn))
    return peers

"""Signing cumulative payments: the proxy-signed charge, payout or refund grant for a total.

Every payment the proxy signs names a cumulative token total, never a delta, so a copy replayed or
delivered twice cannot move more than once; the settlement only ever signs chain-committed totals.
The counterpart (or the proxy itself) sends the signed request to the client or worker contract.
"""

from __future__ import annotations

import secrets

from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.proxy.settlement.channels import ChannelKey, Channels
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.ton.cells import Cell, cell_to_boc
from cocoon.ton.ops import Op
from cocoon.ton.signed import sign_request
from cocoon.wallet.sender import MessageSender


def new_query_id() -> int:
    """A random 64-bit query id for a message the proxy sends."""
    return secrets.randbits(64)


class PaymentSigner:
    """Signs requests to counterpart contracts with the proxy's key; excesses return to ``sender``."""

    def __init__(
        self, secret_key: bytes, channels: Channels, counterparts: Counterparts, sender: MessageSender
    ) -> None:
        self.secret_key = secret_key
        self.channels = channels
        self.counterparts = counterparts
        self.sender = sender
        self._boc: dict[ChannelKey, tuple[int, bytes]] = {}

    def signed_payment(self, kind: str, owner: str) -> bytes | None:
        """BoC of the signed charge (client) or payout (worker) for the channel's chain-committed total;
        ``None`` while nothing is chain-committed. What payment updates and payment status carry."""
        tokens = self.channels.counters(kind, owner).committed_to_chain
        return self.boc(kind, owner, tokens) if tokens else None

    def cell(self, kind: str, owner: str, tokens: int, op: int | None = None) -> Cell:
        """The signed request for ``tokens`` in total: a charge (client) or payout (worker) by default."""
        target = self.counterparts.target(kind, owner).address
        if op is None:
            op = (
                Op.EXT_CLIENT_CHARGE_SIGNED if kind == CLIENT_CHANNEL else Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED
            )
        request = sign_request(
            self.secret_key,
            op,
            query_id=new_query_id(),
            target=target,
            new_tokens=tokens,
            send_excesses_to=self.sender.address,
        )
        return request.to_cell()

    def boc(self, kind: str, owner: str, tokens: int) -> bytes:
        """BoC of the default signed request for ``tokens``; the last one per channel is cached."""
        cached = self._boc.get((kind, owner))
        if cached is not None and cached[0] == tokens:
            return cached[1]
        boc = cell_to_boc(self.cell(kind, owner, tokens))
        self._boc[(kind, owner)] = (tokens, boc)
        return boc

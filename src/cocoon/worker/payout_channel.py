"""What a worker knows of its channel with one proxy, and of the live connection to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cocoon.payments.counterpart import ChannelView
from cocoon.payments.params import NO_TOKENS, Tokens


class ProxyConnection(Protocol):
    """A live connection to a proxy as the payouts see it (:class:`~cocoon.worker.payout_link.PayoutLink`)."""

    proxy: str
    """The proxy's ``host:port``."""

    async def leave(self, why: str) -> None:
        """Serve this proxy nothing more, but stay connected for its last payment updates."""
        ...

    def close(self, why: str) -> None:
        """Close the connection."""
        ...


@dataclass
class ProxyChannel(ChannelView):
    """What the worker knows of its channel with one proxy."""

    paid_tokens: Tokens = NO_TOKENS
    contract_closed: bool = False
    """The worker contract is closed on chain (a last payout went through): nothing more to claim."""
    leaving: str | None = None
    """Why the worker no longer serves this proxy contract (it closes, or the params moved on)."""
    fee_per_token: int = 0
    """What the worker contract pays per token (its params' ``worker_fee_per_token``)."""

    def due(self) -> bool:
        """Whether submitting the latest signed payout would still pay or close something."""
        if self.signed is None or self.contract_closed:
            return False
        return self.signed_tokens > self.paid_tokens or self.signed_final

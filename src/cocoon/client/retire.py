"""Closing a client contract under params the root has left (spec/economics.md "Closing").

When the root's ``params_version`` rises, the client's contracts under the old params are retired:
the proxy normally answers its own move by signing ``grant_refund`` for each client, which closes
the contract and refunds everything at once. If it has not after ``0.5 * (proxy_delay_before_close
- client_delay_before_close)`` seconds (chain time), the client asks for its refund itself
(``owner_client_request_refund``: the balance above the stake comes back, the contract is closing)
and, once the contract's ``unlock_ts`` has passed, asks again to close it, the rest paid from the
proxy's stake. The wait is short enough that this forced close lands before the proxy's contract
can finish closing (``proxy_delay`` after its own close request).

:func:`retire_step` is the decision, pure; :class:`~cocoon.client.payments.ClientPayments` acts on it
and keeps the retirements on disk, so a restarted client still brings its old balances back.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from cocoon.payments.params import NetworkParams
from cocoon.ton.address import Address

CLOSING, CLOSED = 1, 2
"""Client contract states (0 is normal)."""


class RetireStep(enum.Enum):
    WAIT = "wait"
    REQUEST_REFUND = "request_refund"
    """Move the contract to closing: the balance above the stake comes back."""
    CLOSE = "close"
    """The contract is unlocked: close it, the rest paid from the proxy's stake."""
    DONE = "done"


def refund_delay_s(old: NetworkParams) -> int:
    """How long (chain seconds) the client leaves the proxy to grant its refund before asking."""
    return max(0, (old.proxy_delay_before_close - old.client_delay_before_close) // 2)


def retire_step(state: int, unlock_ts: int, now: int, refund_at: int) -> RetireStep:
    """What to do now with a retired client contract in ``state`` (``now``: the chain's time)."""
    if state == CLOSED:
        return RetireStep.DONE
    if state == CLOSING:
        return RetireStep.CLOSE if now >= unlock_ts else RetireStep.WAIT
    return RetireStep.REQUEST_REFUND if now >= refund_at else RetireStep.WAIT


@dataclass
class Retiring:
    """A client contract under old params, on its way to closed."""

    contract: Address
    """The client contract."""
    proxy_contract: Address
    refund_at: int
    """Chain time from which the client asks for its refund itself."""
    why: str
    requests: int = 0
    """Refund requests the client sent."""

    def to_json(self) -> dict[str, Any]:
        """The retirement as saved on disk (``retiring.json`` in the client's data dir)."""
        doc = asdict(self)
        doc["contract"], doc["proxy_contract"] = self.contract.raw, self.proxy_contract.raw
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Retiring:
        return cls(
            Address.parse(doc["contract"]),
            Address.parse(doc["proxy_contract"]),
            int(doc["refund_at"]),
            str(doc["why"]),
            int(doc.get("requests", 0)),
        )

"""Follow an account's transaction list: the chain is also a log (register notes, save-state commits).

:class:`TxCursor` is the pure part (which transactions are new, in order, exactly once); :func:`poll` asks
any :class:`~cocoon.ton.chain.Chain` for what happened since the cursor. Services call ``poll`` on their
own schedule and persist ``cursor.last_lt`` to resume after a restart without re-reading history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cocoon.ton.address import Address
from cocoon.ton.chain import Chain, Transaction


@dataclass
class TxCursor:
    """Position in one account's transaction list: everything with ``lt <= last_lt`` was seen."""

    address: Address
    last_lt: int = 0

    def advance(self, txs: Iterable[Transaction]) -> list[Transaction]:
        """The transactions not seen yet, oldest first; moves the cursor past them."""
        fresh = sorted(
            (tx for tx in txs if tx.account == self.address and tx.lt > self.last_lt), key=lambda t: t.lt
        )
        if fresh:
            self.last_lt = fresh[-1].lt
        return fresh


async def poll(chain: Chain, cursor: TxCursor, *, page: int = 100) -> list[Transaction]:
    """Every transaction of ``cursor.address`` after the cursor (all pages), and advance the cursor."""
    seen: list[Transaction] = []
    while True:
        batch = cursor.advance(
            await chain.get_transactions(cursor.address, after_lt=cursor.last_lt, limit=page)
        )
        seen.extend(batch)
        if len(batch) < page:
            return seen

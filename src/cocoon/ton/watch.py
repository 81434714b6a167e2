"""Follow an account's transaction list: the chain is also a log (register notes, save-state commits).

:class:`TxCursor` is the decision, pure: what to ask the chain next (:meth:`TxCursor.query`), which
transactions of a page are new, in order, exactly once, and whether another page may follow
(:meth:`TxCursor.take_page`). The shell loop that asks a :class:`~cocoon.ton.chain.Chain` for pages
is :func:`cocoon.chainsvc.watch.poll`. Services poll on their own schedule and persist
``cursor.last_lt`` to resume after a restart without re-reading history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cocoon.ton.address import Address
from cocoon.ton.chain import Transaction

DEFAULT_PAGE = 100
"""Transactions asked for per ``get_transactions`` call."""


@dataclass(frozen=True, slots=True)
class TxQuery:
    """One ``Chain.get_transactions`` call: the account, everything after ``after_lt``, at most ``limit``."""

    address: Address
    after_lt: int
    limit: int


@dataclass
class TxCursor:
    """Position in one account's transaction list: everything with ``lt <= last_lt`` was seen."""

    address: Address
    last_lt: int = 0

    def query(self, page: int = DEFAULT_PAGE) -> TxQuery:
        """The next page to ask for: the transactions after the cursor."""
        return TxQuery(self.address, self.last_lt, page)

    def advance(self, txs: Iterable[Transaction]) -> list[Transaction]:
        """The transactions not seen yet, oldest first; moves the cursor past them."""
        fresh = sorted(
            (tx for tx in txs if tx.account == self.address and tx.lt > self.last_lt), key=lambda t: t.lt
        )
        if fresh:
            self.last_lt = fresh[-1].lt
        return fresh

    def take_page(self, txs: Iterable[Transaction], page: int) -> tuple[list[Transaction], bool]:
        """The new transactions of an answer to :meth:`query` (cursor moved past them), and whether
        another page may follow: a page with fewer than ``page`` new transactions was the last."""
        fresh = self.advance(txs)
        return fresh, len(fresh) >= page

"""``poll``: ask a ``Chain`` for an account's new transactions, page by page, until the last page.

The decisions (what to ask, which transactions are new, whether a page was the last) are
:class:`cocoon.ton.watch.TxCursor`'s; this loop only awaits the chain between them.
"""

from __future__ import annotations

from cocoon.ton.chain import Chain, Transaction
from cocoon.ton.watch import DEFAULT_PAGE, TxCursor


async def poll(chain: Chain, cursor: TxCursor, *, page: int = DEFAULT_PAGE) -> list[Transaction]:
    """Every transaction of ``cursor.address`` after the cursor (all pages), and advance the cursor."""
    seen: list[Transaction] = []
    more = True
    while more:
        query = cursor.query(page)
        txs = await chain.get_transactions(query.address, after_lt=query.after_lt, limit=query.limit)
        fresh, more = cursor.take_page(txs, page)
        seen.extend(fresh)
    return seen

"""``TxCursor``'s decisions without a chain: what to ask, what is new, whether a page was the last."""

from __future__ import annotations

from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Transaction
from cocoon.ton.watch import TxCursor, TxQuery

ALICE = Address(0, bytes(32))
BOB = Address(0, bytes([1]) * 32)


def _tx(account: Address, lt: int) -> Transaction:
    return Transaction(
        account=account, lt=lt, hash=lt.to_bytes(32, "big"), now=0, in_msg=None, out_msgs=(),
        compute_skipped=True, exit_code=None, action_result_code=None, aborted=False,
        bounced_back=False, gas_used=0, total_fees=0, end_status=AccountStatus.ACTIVE, boc=b"",
    )  # fmt: skip


def test_query_asks_for_what_follows_the_cursor() -> None:
    cursor = TxCursor(ALICE, last_lt=7)
    assert cursor.query(5) == TxQuery(ALICE, after_lt=7, limit=5)


def test_a_full_page_of_new_transactions_may_have_a_successor() -> None:
    cursor = TxCursor(ALICE)
    fresh, more = cursor.take_page([_tx(ALICE, 20), _tx(ALICE, 10)], page=2)
    assert [tx.lt for tx in fresh] == [10, 20] and more and cursor.last_lt == 20
    assert cursor.query(2).after_lt == 20


def test_seen_or_foreign_transactions_do_not_count_towards_a_page() -> None:
    cursor = TxCursor(ALICE, last_lt=10)
    fresh, more = cursor.take_page([_tx(ALICE, 10), _tx(BOB, 30), _tx(ALICE, 11)], page=2)
    assert [tx.lt for tx in fresh] == [11] and not more and cursor.last_lt == 11

"""Liteserver answers (pytoniq objects) -> our structs, through the same TL-B parsing as every backend.

pytoniq's liteclient returns deserialized ``ShardAccount``/``Transaction`` objects that keep their cells;
we re-parse those cells with :mod:`cocoon.ton.tlb`, so a transaction read from a liteserver is equal to
the same transaction read from the local chain or toncenter. The asyncio client lives in
:mod:`cocoon.chainsvc.lite`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountState, StackItem, Transaction
from cocoon.ton.tlb import account_from_shard_account, plain_stack_value, transaction_from_cell


def account_from_lite(address: Address, shard_account: Any) -> AccountState:
    """The second item of ``raw_get_account_state`` (``None`` if the account does not exist)."""
    if shard_account is None:
        return account_from_shard_account(address, None)
    cell = getattr(shard_account, "cell", None)
    if cell is None:
        raise ChainDataError(f"the liteserver answer for {address} carries no ShardAccount cell")
    return account_from_shard_account(address, cell)


def transactions_from_lite(address: Address, newest_first: Sequence[Any], after_lt: int) -> list[Transaction]:
    """pytoniq transactions (newest first) -> ours, oldest first, only those with lt > ``after_lt``."""
    out = []
    for tx in reversed(newest_first):
        if int(tx.lt) <= after_lt:
            continue
        parsed = transaction_from_cell(tx.cell)
        out.append(parsed if address.workchain == 0 else _in_workchain(parsed, address.workchain))
    return out


def _in_workchain(tx: Transaction, workchain: int) -> Transaction:
    return replace(tx, account=Address(workchain, tx.account.hash_part))


def stack_from_lite(values: Sequence[Any]) -> list[StackItem]:
    """A ``run_get_method`` result (pytoniq values) -> plain stack items."""
    return [plain_stack_value(v) for v in values]

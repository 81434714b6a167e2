"""Block-level TL-B -> our structs: transactions, shard accounts, TVM stacks.

Every backend funnels its raw BoCs through these functions (the local emulator's results, toncenter's
``data`` fields, liteserver answers), so all backends parse identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.slice import Slice
from pytoniq_core.tlb.account import ShardAccount
from pytoniq_core.tlb.transaction import MessageAny
from pytoniq_core.tlb.transaction import Transaction as TlbTransaction
from pytoniq_core.tlb.vm_stack import VmStack, VmTuple

from cocoon.errors import ChainDataError
from cocoon.ton.address import Address, crc16
from cocoon.ton.cells import cell_from_boc, cell_hash, cell_to_boc, from_pt_address
from cocoon.ton.chain import AccountState, AccountStatus, Message, StackItem, Transaction
from cocoon.ton.parse import parse_body, parse_bounced

_ACCOUNT_STATUS = {
    "account_active": AccountStatus.ACTIVE,
    "account_uninit": AccountStatus.UNINIT,
    "account_frozen": AccountStatus.FROZEN,
}
_TX_STATUS = {
    "active": AccountStatus.ACTIVE,
    "uninitialized": AccountStatus.UNINIT,
    "frozen": AccountStatus.FROZEN,
    "nonexist": AccountStatus.NONEXIST,
}


def message_from_tlb(msg: Any) -> Message:
    """A pytoniq ``MessageAny`` -> :class:`Message` with the parsed body."""
    info = msg.info
    body = msg.body if msg.body is not None else Cell.empty()
    if msg.is_internal:
        return Message(
            src=from_pt_address(info.src),
            dest=from_pt_address(info.dest),
            value=int(info.value.grams),
            body=body,
            bounce=bool(info.bounce),
            bounced=bool(info.bounced),
            external=False,
            created_lt=int(info.created_lt),
            parsed=parse_bounced(body) if info.bounced else parse_body(body),
        )
    internal_dest = msg.is_external
    return Message(
        src=None if internal_dest else _internal_or_none(info.src),
        dest=from_pt_address(info.dest) if internal_dest else None,
        value=0,
        body=body,
        bounce=False,
        bounced=False,
        external=True,
        created_lt=0 if internal_dest else int(info.created_lt),
        parsed=parse_body(body) if internal_dest else None,
    )


def _internal_or_none(value: Any) -> Address | None:
    try:
        return from_pt_address(value)
    except ChainDataError:
        return None


def transaction_from_cell(cell: Cell) -> Transaction:
    """Parse a ``Transaction`` cell (as stored in blocks and returned by every API)."""
    try:
        tx = TlbTransaction.deserialize(cell.begin_parse())
        descr = tx.description
        compute = descr.compute_ph
    except Exception as exc:
        raise ChainDataError(f"cannot decode a transaction: {exc}") from exc
    if getattr(descr, "type_", None) != "ordinary":
        raise ChainDataError(f"unsupported transaction kind {getattr(descr, 'type_', '?')}")
    skipped = compute.type_ == "skipped"
    action = descr.action
    return Transaction(
        account=Address(0, bytes(tx.account_addr)),
        lt=int(tx.lt),
        hash=cell_hash(cell),
        now=int(tx.now),
        in_msg=message_from_tlb(tx.in_msg) if tx.in_msg is not None else None,
        out_msgs=tuple(message_from_tlb(m) for m in tx.out_msgs),
        compute_skipped=skipped,
        exit_code=None if skipped else int(compute.exit_code),
        action_result_code=None if action is None else int(action.result_code),
        aborted=bool(descr.aborted),
        bounced_back=descr.bounce is not None and descr.bounce.type_ == "ok",
        gas_used=0 if skipped else int(compute.gas_used),
        total_fees=int(tx.total_fees.grams),
        end_status=_TX_STATUS[tx.end_status.type_],
        boc=cell_to_boc(cell),
    )


def transaction_from_boc(data: bytes, workchain: int = 0) -> Transaction:
    """Parse a transaction BoC (the account's workchain is not in the cell; pass it if not 0)."""
    tx = transaction_from_cell(cell_from_boc(data))
    if workchain != 0:
        tx = replace(tx, account=Address(workchain, tx.account.hash_part))
    return tx


def account_from_shard_account(address: Address, cell: Cell | None) -> AccountState:
    """Parse a ``ShardAccount`` cell (``None`` or account_none -> NONEXIST)."""
    if cell is None:
        return AccountState(address, 0, AccountStatus.NONEXIST, None, None, 0, bytes(32))
    try:
        sa = ShardAccount.deserialize(cell.begin_parse())
    except Exception as exc:
        raise ChainDataError(f"cannot decode the account state of {address}: {exc}") from exc
    last_lt, last_hash = int(sa.last_trans_lt), bytes(sa.last_trans_hash)
    if sa.account is None:
        return AccountState(address, 0, AccountStatus.NONEXIST, None, None, last_lt, last_hash)
    storage = sa.account.storage
    status = _ACCOUNT_STATUS[storage.state.type_]
    init = storage.state.state_init if status is AccountStatus.ACTIVE else None
    return AccountState(
        address=address,
        balance=int(storage.balance.grams),
        status=status,
        code=init.code if init else None,
        data=init.data if init else None,
        last_lt=last_lt,
        last_hash=last_hash,
    )


def method_id(name: str) -> int:
    """TVM method id of a get-method name."""
    return (crc16(name.encode()) & 0xFFFF) | 0x10000


def stack_to_cell(stack: Sequence[StackItem]) -> Cell:
    """Serialize a stack for the emulator / liteserver (``VmStack``); lists become TVM tuples."""
    return VmStack.serialize([_vm_value(v) for v in stack])


def _vm_value(value: StackItem) -> Any:
    # pytoniq serializes a plain list as nothing at all: tuples must be VmTuple
    return VmTuple([_vm_value(v) for v in value]) if isinstance(value, list) else value


def stack_from_cell(cell: Cell) -> list[StackItem]:
    """Parse a ``VmStack`` cell into plain values (slices and builders become cells)."""
    try:
        items = VmStack.deserialize(cell.begin_parse())
    except Exception as exc:
        raise ChainDataError(f"cannot decode a TVM stack: {exc}") from exc
    return [plain_stack_value(v) for v in items]


def plain_stack_value(value: Any) -> StackItem:
    """A pytoniq stack value -> ours (slices and builders become cells, tuples lists)."""
    if value is None or isinstance(value, int | Cell):
        return value
    if isinstance(value, Slice):
        return value.to_cell()
    if isinstance(value, Builder):
        return value.end_cell()
    if isinstance(value, VmTuple):
        return [plain_stack_value(v) for v in value.list]
    if isinstance(value, list | tuple):
        return [plain_stack_value(v) for v in value]
    raise ChainDataError(f"unsupported TVM stack value {type(value).__name__}")


def message_from_cell(cell: Cell) -> Message:
    """Parse a full ``Message Any`` cell (e.g. an external we are about to submit)."""
    try:
        return message_from_tlb(MessageAny.deserialize(cell.begin_parse()))
    except ChainDataError:
        raise
    except Exception as exc:
        raise ChainDataError(f"cannot decode a message: {exc}") from exc

"""The result shapes of toncenter's v2 JSON-RPC as the local chain answers them (for ``jsonrpc``).

:mod:`cocoon.ton.toncenter` holds the subset our own adapter reads; these are the fuller objects that
third-party clients (``@ton/ton``'s ``TonClient`` validates them field by field) expect: accounts with a
``block_id``, transactions whose messages carry fees, ``created_lt`` and ``body_hash``, tonlib's nested
stack entries inside tuples, wallet information, fee estimates.

The local chain has no blocks: every block id is synthetic, one masterchain "block" per second of
chain time (``seqno`` = the chain's unix time), with hashes derived from the seqno. Clients only echo
them back, nothing verifies them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from pytoniq_core.tlb.transaction import MessageAny
from pytoniq_core.tlb.transaction import Transaction as TlbTransaction

from cocoon.errors import ChainDataError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc, cell_hash, cell_to_boc, from_pt_address
from cocoon.ton.chain import AccountState, AccountStatus, StackItem

FULL_SHARD = "-9223372036854775808"  # shard prefix 0x8000000000000000 as toncenter prints it (signed)
MASTERCHAIN = -1

# Standard wallets by code hash: (toncenter's wallet_type, whether the data starts with a
# signature-allowed bit). v3/v4 data: seqno:32 wallet_id:32 ...; v5r1: allowed:1 seqno:32 wallet_id:32 ...
WALLETS = {
    "84dafa449f98a6987789ba232358072bc0f76dc4524002a5d0918b9a75d2d599": ("wallet v3 r2", False),
    "feb5ff6820e2ff0d9483e7e0d62c817d846789fb4ae580c878866d959dabd5c0": ("wallet v4 r2", False),
    "20834b7b72b112147e1b2fb457b84e74d1a30f04f737d4f62a668e9552d2b72f": ("wallet v5 r1", True),
}


def block_id(seqno: int, workchain: int = MASTERCHAIN) -> dict[str, Any]:
    """A synthetic ``ton.blockIdExt`` (see the module doc)."""
    seed = f"cocoon-local-block:{workchain}:{seqno}".encode()
    return {
        "@type": "ton.blockIdExt",
        "workchain": workchain,
        "shard": FULL_SHARD,
        "seqno": seqno,
        "root_hash": tc.b64(hashlib.sha256(seed + b":root").digest()),
        "file_hash": tc.b64(hashlib.sha256(seed + b":file").digest()),
    }


def masterchain_info(seqno: int) -> dict[str, Any]:
    return {
        "@type": "blocks.masterchainInfo",
        "last": block_id(seqno),
        "state_root_hash": tc.b64(hashlib.sha256(f"cocoon-local-state:{seqno}".encode()).digest()),
        "init": block_id(0),
    }


def address_information(state: AccountState, now: int) -> dict[str, Any]:
    """``getAddressInformation``: toncenter's ``raw.fullAccountState`` with its ``block_id``."""
    return {**tc.account_json(state, now), "extra_currencies": [], "block_id": block_id(now)}


def state_name(state: AccountState) -> str:
    """``active`` / ``uninitialized`` / ``frozen``: toncenter v2 has no separate ``nonexist``."""
    return str(tc.account_json(state, 0)["state"])


def wallet_information(state: AccountState) -> dict[str, Any]:
    """``getWalletInformation``: ``wallet`` is true for the standard wallets toncenter knows by code."""
    info: dict[str, Any] = {
        "@type": "ext.wallet.info",
        "wallet": False,
        "balance": str(state.balance),
        "account_state": state_name(state),
        "last_transaction_id": tc.account_json(state, 0)["last_transaction_id"],
    }
    known = WALLETS.get(cell_hash(state.code).hex()) if state.code is not None else None
    if known is None or state.data is None or state.status is not AccountStatus.ACTIVE:
        return info
    wallet_type, signature_bit = known
    cs = state.data.begin_parse()
    if signature_bit:
        cs.skip_bits(1)
    seqno, wallet_id = cs.load_uint(32), cs.load_uint(32)
    return {**info, "wallet": True, "wallet_type": wallet_type, "seqno": seqno, "wallet_id": wallet_id}


# ---- transactions -------------------------------------------------------------------------------


def transaction(boc: bytes, workchain: int) -> dict[str, Any]:
    """A ``raw.transaction`` as toncenter renders it (the BoC in ``data`` is what clients parse)."""
    cell = cell_from_boc(boc)
    try:
        tx = TlbTransaction.deserialize(cell.begin_parse())
    except Exception as exc:  # pytoniq raises bare exceptions on bad TL-B
        raise ChainDataError(f"cannot decode a stored transaction: {exc}") from exc
    storage = tx.description.storage_ph
    storage_fee = int(storage.storage_fees_collected) if storage is not None else 0
    fee = int(tx.total_fees.grams)
    out: dict[str, Any] = {
        "@type": "raw.transaction",
        "address": {
            "@type": "accountAddress",
            "account_address": Address(workchain, bytes(tx.account_addr)).friendly(),
        },
        "utime": int(tx.now),
        "data": tc.b64(boc),
        "transaction_id": {
            "@type": "internal.transactionId",
            "lt": str(tx.lt),
            "hash": tc.b64(cell_hash(cell)),
        },
        "fee": str(fee),
        "storage_fee": str(storage_fee),
        "other_fee": str(fee - storage_fee),
        "out_msgs": [message(m) for m in tx.out_msgs],
    }
    if tx.in_msg is not None:  # TonClient accepts a missing in_msg, not a null one
        out["in_msg"] = message(tx.in_msg)
    return out


def message(msg: MessageAny) -> dict[str, Any]:
    """A ``raw.message``: external sources and destinations are empty strings, as in tonlib."""
    info = msg.info
    body = msg.body if msg.body is not None else Cell.empty()
    internal = msg.is_internal
    return {
        "@type": "raw.message",
        "source": _friendly(info.src) if internal or not msg.is_external else "",
        "destination": _friendly(info.dest) if internal or msg.is_external else "",
        "value": str(int(info.value.grams)) if internal else "0",
        "extra_currencies": [],
        "fwd_fee": str(int(info.fwd_fee)) if internal else "0",
        "ihr_fee": str(int(info.ihr_fee)) if internal else "0",
        "created_lt": str(int(info.created_lt)) if not msg.is_external else "0",
        "body_hash": tc.b64(cell_hash(body)),
        "msg_data": {
            "@type": "msg.dataRaw",
            "body": tc.b64(cell_to_boc(body)),
            "init_state": tc.b64(cell_to_boc(msg.init.serialize())) if msg.init is not None else "",
        },
        "message": _comment(body),
    }


def _friendly(value: Any) -> str:
    try:
        address = from_pt_address(value)
    except ChainDataError:  # an external (non-std) address
        return ""
    return address.friendly() if address is not None else ""


def _comment(body: Cell) -> str:
    """The text of a plain comment (op 0), as toncenter shows it; empty otherwise."""
    cs = body.begin_parse()
    if cs.remaining_bits < 32 or cs.load_uint(32) != 0 or cs.remaining_refs:
        return ""
    try:
        return bytes(cs.load_bytes(cs.remaining_bits // 8)).decode()
    except (UnicodeDecodeError, ValueError):
        return ""


def fees(boc: bytes) -> dict[str, Any]:
    """``estimateFee``'s ``query.fees`` from a dry-run transaction: what the source account pays."""
    try:
        tx = TlbTransaction.deserialize(cell_from_boc(boc).begin_parse())
    except Exception as exc:  # pytoniq raises bare exceptions on bad TL-B
        raise ChainDataError(f"cannot decode the emulated transaction: {exc}") from exc
    d = tx.description
    storage = int(d.storage_ph.storage_fees_collected) if d.storage_ph is not None else 0
    compute = d.compute_ph
    gas = int(compute.gas_fees) if compute is not None and compute.type_ == "vm" else 0
    action = d.action
    fwd = int(action.total_fwd_fees or 0) if action is not None else 0
    action_fees = int(action.total_action_fees or 0) if action is not None else 0
    # total_fees = import fee + storage + gas + the action fees the sender keeps
    in_fwd = max(int(tx.total_fees.grams) - storage - gas - action_fees, 0)
    source = {"@type": "fees", "in_fwd_fee": in_fwd, "storage_fee": storage, "gas_fee": gas, "fwd_fee": fwd}
    return {"@type": "query.fees", "source_fees": source, "destination_fees": []}


# ---- TVM stack ----------------------------------------------------------------------------------

_EMPTY_LIST = {"@type": "tvm.list", "elements": []}


def stack(items: Sequence[StackItem]) -> list[Any]:
    """toncenter's ``runGetMethod`` stack: ``["num", hex]``, ``["cell", {"bytes"}]`` (slices too),
    ``["tuple", tvm.tuple]`` whose elements are tonlib entries; a null is an empty list, as tonlib has it."""
    out: list[Any] = []
    for item in items:
        if item is None:
            out.append(["list", _EMPTY_LIST])
        elif isinstance(item, int):
            out.append(["num", hex(item)])
        elif isinstance(item, list):
            out.append(["tuple", {"@type": "tvm.tuple", "elements": [_tonlib(v) for v in item]}])
        else:
            out.append(["cell", {"bytes": tc.b64(cell_to_boc(item))}])
    return out


def _tonlib(item: StackItem) -> dict[str, Any]:
    if item is None:
        return {"@type": "tvm.stackEntryList", "list": _EMPTY_LIST}
    if isinstance(item, int):
        return {
            "@type": "tvm.stackEntryNumber",
            "number": {"@type": "tvm.numberDecimal", "number": str(item)},
        }
    if isinstance(item, list):
        return {
            "@type": "tvm.stackEntryTuple",
            "tuple": {"@type": "tvm.tuple", "elements": [_tonlib(v) for v in item]},
        }
    return {"@type": "tvm.stackEntryCell", "cell": {"@type": "tvm.cell", "bytes": tc.b64(cell_to_boc(item))}}

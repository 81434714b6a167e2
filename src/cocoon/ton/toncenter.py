"""The toncenter v2 JSON shapes, both ways (sans-IO): our local chain server and the HTTP adapter share it.

Endpoints (all under ``/api/v2``; answers are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "...", "code": N}``):

- ``GET  getAddressInformation?address=`` -> ``raw.fullAccountState`` (balance as a string, code/data as
  base64 BoCs, ``last_transaction_id``, ``state``, ``sync_utime`` = the chain's current time);
- ``GET  getTransactions?address=&limit=&lt=&hash=&to_lt=`` -> newest first, from (lt, hash) inclusive
  down to ``to_lt`` exclusive; each item carries the transaction BoC in ``data``;
- ``GET  getConfigParam?config_id=`` -> ``{"config": {"bytes": b64}}``;
- ``POST runGetMethod {"address", "method", "stack"}`` -> ``{"exit_code", "gas_used", "stack"}``;
  stack entries ``["num", "0x.."]``, ``["cell", {"bytes": b64}]``, ``["null", null]``,
  ``["tuple", {"elements": [...]}]``;
- ``POST sendBoc {"boc": b64}``; a rejected external answers ``ok: false`` (ours adds ``exit_code``);
- local network only: ``POST local/faucet {"address", "amount"}``, ``POST local/advanceTime {"seconds"}``.

Clients parse transactions from the ``data`` BoC only, so our server and a real toncenter read alike.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from cocoon.errors import ChainDataError, ChainError, ContractError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_from_boc, cell_to_boc
from cocoon.ton.chain import AccountState, AccountStatus, StackItem, Transaction
from cocoon.ton.tlb import transaction_from_boc

_STATE_NAMES = {
    AccountStatus.ACTIVE: "active",
    AccountStatus.UNINIT: "uninitialized",
    AccountStatus.FROZEN: "frozen",
    AccountStatus.NONEXIST: "uninitialized",  # toncenter v2 has no separate "nonexist"
}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except ValueError as exc:
        raise ChainDataError(f"bad base64 in a toncenter answer: {text[:40]!r}") from exc


def ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def error(message: str, code: int, exit_code: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": message, "code": code}
    if exit_code is not None:
        body["exit_code"] = exit_code
    return body


def unwrap(answer: Any) -> Any:
    """The ``result`` of an answer, or the matching exception (ContractError if an exit code is given)."""
    if not isinstance(answer, dict):
        raise ChainDataError(f"toncenter answered with {type(answer).__name__}, expected a JSON object")
    if answer.get("ok"):
        return answer.get("result")
    message = str(answer.get("error", "unknown error"))
    if "exit_code" in answer:
        raise ContractError(f"the chain rejected the message: {message}", int(answer["exit_code"]))
    raise ChainError(f"toncenter error {answer.get('code', '?')}: {message}")


# ---- accounts -----------------------------------------------------------------------------------


def account_json(state: AccountState, now: int) -> dict[str, Any]:
    return {
        "@type": "raw.fullAccountState",
        "balance": str(state.balance),
        "code": b64(cell_to_boc(state.code)) if state.code is not None else "",
        "data": b64(cell_to_boc(state.data)) if state.data is not None else "",
        "last_transaction_id": {
            "@type": "internal.transactionId",
            "lt": str(state.last_lt),
            "hash": b64(state.last_hash),
        },
        "frozen_hash": "",
        "sync_utime": now,
        "state": _STATE_NAMES[state.status],
    }


def account_from_json(address: Address, result: dict[str, Any]) -> AccountState:
    try:
        last = result.get("last_transaction_id") or {}
        last_lt = int(last.get("lt", 0))
        name = result.get("state", "uninitialized")
        status = {"active": AccountStatus.ACTIVE, "frozen": AccountStatus.FROZEN}.get(name)
        if status is None:
            status = AccountStatus.UNINIT if last_lt else AccountStatus.NONEXIST
        code, data = result.get("code") or "", result.get("data") or ""
        return AccountState(
            address=address,
            balance=int(result.get("balance", 0)),
            status=status,
            code=cell_from_boc(unb64(code)) if code else None,
            data=cell_from_boc(unb64(data)) if data else None,
            last_lt=last_lt,
            last_hash=unb64(last.get("hash", "")) or bytes(32),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainDataError(f"unexpected getAddressInformation answer for {address}: {exc}") from exc


# ---- transactions -------------------------------------------------------------------------------


def transaction_json(tx: Transaction) -> dict[str, Any]:
    in_msg = tx.in_msg
    return {
        "@type": "raw.transaction",
        "utime": tx.now,
        "data": b64(tx.boc),
        "transaction_id": {"@type": "internal.transactionId", "lt": str(tx.lt), "hash": b64(tx.hash)},
        "fee": str(tx.total_fees),
        "in_msg": None
        if in_msg is None
        else {
            "source": in_msg.src.raw if in_msg.src else "",
            "destination": in_msg.dest.raw if in_msg.dest else "",
            "value": str(in_msg.value),
            "msg_data": {"@type": "msg.dataRaw", "body": b64(cell_to_boc(in_msg.body))},
        },
        "out_msgs": [
            {
                "source": m.src.raw if m.src else "",
                "destination": m.dest.raw if m.dest else "",
                "value": str(m.value),
            }
            for m in tx.out_msgs
        ],
    }


def transaction_from_json(address: Address, item: dict[str, Any]) -> Transaction:
    try:
        data = item["data"]
    except (KeyError, TypeError) as exc:
        raise ChainDataError("a getTransactions item has no 'data' (transaction BoC)") from exc
    return transaction_from_boc(unb64(data), workchain=address.workchain)


# ---- TVM stack ----------------------------------------------------------------------------------


def stack_to_json(items: Sequence[StackItem]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if item is None:
            out.append(["null", None])
        elif isinstance(item, int):
            out.append(["num", hex(item)])
        elif isinstance(item, list):
            out.append(["tuple", {"elements": stack_to_json(item)}])
        else:
            out.append(["cell", {"bytes": b64(cell_to_boc(item))}])
    return out


def stack_from_json(entries: Sequence[Any]) -> list[StackItem]:
    return [_entry(e) for e in entries]


def _entry(entry: Any) -> StackItem:
    if isinstance(entry, dict):  # tonlib's form, which toncenter uses inside tuples and lists
        return _tonlib_entry(entry)
    try:
        kind, value = entry[0], entry[1]
        if kind == "num":
            if isinstance(value, int):
                return value
            return int(value, 16) if value.lstrip("-").startswith("0x") else int(value)
        if kind in ("cell", "slice", "builder", "tvm.Cell", "tvm.Slice", "tvm.Builder"):
            raw = value["bytes"] if isinstance(value, dict) else value
            cell: Cell = cell_from_boc(unb64(raw))
            return cell
        if kind == "null":
            return None
        if kind in ("tuple", "list"):
            return stack_from_json(value["elements"])
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise ChainDataError(f"bad stack entry {entry!r}: {exc}") from exc
    raise ChainDataError(f"unsupported stack entry type {entry!r}")


_TONLIB_WRAPPERS = {
    "tvm.stackEntryNumber": "number",
    "tvm.stackEntryCell": "cell",
    "tvm.stackEntrySlice": "slice",
    "tvm.stackEntryTuple": "tuple",
    "tvm.stackEntryList": "list",
}


def _tonlib_entry(entry: dict[str, Any]) -> StackItem:
    """A ``tvm.stackEntry*`` object (or the value inside one) -> a stack value."""
    kind = entry.get("@type")
    try:
        if kind in _TONLIB_WRAPPERS:
            return _tonlib_entry(entry[_TONLIB_WRAPPERS[kind]])
        if kind in ("tvm.tuple", "tvm.list"):
            return [_entry(e) for e in entry["elements"]]
        if kind == "tvm.numberDecimal":
            return int(entry["number"])
        if kind in ("tvm.cell", "tvm.slice") or (kind is None and "bytes" in entry):
            cell: Cell = cell_from_boc(unb64(entry["bytes"]))
            return cell
        if kind == "tvm.stackEntryUnsupported":
            return None  # what tonlib makes of a null
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainDataError(f"bad stack entry {entry!r:.200}: {exc}") from exc
    raise ChainDataError(f"unsupported stack entry type {kind!r}")


def get_method_result(result: dict[str, Any], address: Address, method: str) -> list[StackItem]:
    """The stack of a runGetMethod result; exit codes other than 0/1 raise ContractError."""
    exit_code = int(result.get("exit_code", 0))
    if exit_code not in (0, 1):
        raise ContractError(
            f"get-method {method!r} of {address} failed with exit code {exit_code}", exit_code
        )
    return stack_from_json(result.get("stack", []))

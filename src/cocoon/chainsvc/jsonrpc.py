"""toncenter's v2 JSON-RPC over the local chain, as ``@ton/ton``'s ``TonClient`` calls it.

``POST /api/v2/jsonRPC`` takes ``{"id", "jsonrpc": "2.0", "method", "params": {...}}`` and answers
``{"ok": true, "result": ..., "id", "jsonrpc": "2.0"}`` or ``{"ok": false, "error": "...", "code": N,
"id", "jsonrpc": "2.0"}`` with the HTTP status ``N``, as toncenter does (422 unknown method or bad
parameters, 416 bad address, 400 undecodable BoC, 500 chain errors; a rejected external also carries
``exit_code``). The same methods answer at ``/api/v2/<method>`` with the parameters in the query
string (GET) or the body (POST). Result shapes: :mod:`cocoon.chainsvc.v2json`.

Synchronous and transport-free: :func:`handle` is called by the server's route with the parsed body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pytoniq_core.boc.cell import Cell
from pytoniq_core.tlb.vm_stack import VmStack, VmTuple

from cocoon.chainsvc import v2json
from cocoon.chainsvc.local import LocalChain
from cocoon.errors import ChainDataError, ChainError, ContractError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_from_boc, cell_hash, cell_to_boc, external_message
from cocoon.ton.tlb import stack_from_cell

Params = Mapping[str, Any]
Method = Callable[[LocalChain, Params], Any]
MAX_TX_PAGE = 100
NO_CODE_EXIT = -13  # what toncenter reports for a get-method on an account without code


class RpcError(Exception):
    """An error answer: ``code`` is toncenter's error code and the HTTP status."""

    def __init__(self, message: str, code: int, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code


def handle(chain: LocalChain, request: Any) -> tuple[int, dict[str, Any]]:
    """One JSON-RPC request (the parsed body) -> (HTTP status, answer body)."""
    rid = request.get("id") if isinstance(request, dict) else None
    try:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            raise RpcError("a JSON-RPC request is an object with a string 'method'", 422)
        params = request.get("params") or {}
        if not isinstance(params, dict):
            raise RpcError("'params' must be an object of named parameters", 422)
        result = call(chain, request["method"], params)
    except RpcError as exc:
        return exc.code, _envelope(tc.error(str(exc), exc.code, exc.exit_code), rid)
    return 200, _envelope(tc.ok(result), rid)


def call(chain: LocalChain, method: str, params: Params) -> Any:
    """Run ``method``; every failure is an :class:`RpcError` with toncenter's code."""
    impl = METHODS.get(method)
    if impl is None:
        raise RpcError(
            f"Unknown method {method!r}: the local chain implements {', '.join(sorted(METHODS))}", 422
        )
    try:
        return impl(chain, params)
    except ContractError as exc:
        raise RpcError(f"LITE_SERVER_UNKNOWN: {exc}", 500, exc.exit_code) from exc
    except ChainDataError as exc:
        raise RpcError(f"bad request: {exc}", 400) from exc
    except ChainError as exc:
        raise RpcError(f"LITE_SERVER_UNKNOWN: {exc}", 500) from exc


def _envelope(body: dict[str, Any], rid: Any) -> dict[str, Any]:
    return {**body, "id": rid, "jsonrpc": "2.0"}


# ---- parameters ---------------------------------------------------------------------------------


def _required(params: Params, name: str) -> Any:
    if params.get(name) is None:
        raise RpcError(f"TypeError: missing required parameter '{name}'", 422)
    return params[name]


def _address(params: Params, name: str = "address") -> Address:
    value = _required(params, name)
    try:
        return Address.parse(str(value))
    except (ValueError, ChainDataError) as exc:
        raise RpcError(f"Incorrect address {value!r}: {exc}", 416) from exc


def _int(params: Params, name: str, default: int | None = None) -> int | None:
    """toncenter accepts integers as JSON numbers or strings (lt does not fit a JS number)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise RpcError(f"TypeError: Can't parse integer in parameter {name}", 422) from exc


def _boc(params: Params, name: str) -> Cell:
    value = _required(params, name)
    if not isinstance(value, str):
        raise RpcError(f"TypeError: parameter '{name}' must be a base64 BoC", 422)
    return cell_from_boc(tc.unb64(value))


def _optional_boc(params: Params, name: str) -> Cell | None:
    return _boc(params, name) if params.get(name) else None


# ---- methods ------------------------------------------------------------------------------------


def get_address_information(chain: LocalChain, params: Params) -> Any:
    return v2json.address_information(chain.account(_address(params)), chain.now)


def get_address_balance(chain: LocalChain, params: Params) -> Any:
    return str(chain.account(_address(params)).balance)


def get_address_state(chain: LocalChain, params: Params) -> Any:
    return v2json.state_name(chain.account(_address(params)))


def get_wallet_information(chain: LocalChain, params: Params) -> Any:
    return v2json.wallet_information(chain.account(_address(params)))


def get_masterchain_info(chain: LocalChain, params: Params) -> Any:
    return v2json.masterchain_info(chain.now)


def get_config_param(chain: LocalChain, params: Params) -> Any:
    index = _int(params, "config_id")
    if index is None:
        raise RpcError("TypeError: missing required parameter 'config_id'", 422)
    cell = chain.get_config_param(index)
    if cell is None:
        raise RpcError(f"LITE_SERVER_UNKNOWN: config param {index} is not set", 500)
    return {"@type": "configInfo", "config": {"@type": "tvm.cell", "bytes": tc.b64(cell_to_boc(cell))}}


def get_transactions(chain: LocalChain, params: Params) -> Any:
    """Newest first, from (``lt``, ``hash``) inclusive down to ``to_lt`` exclusive."""
    address = _address(params)
    limit = _int(params, "limit", 10) or 10
    if not 0 < limit <= MAX_TX_PAGE:
        raise RpcError(f"TypeError: 'limit' must be within 1..{MAX_TX_PAGE}", 422)
    lt, to_lt = _int(params, "lt"), _int(params, "to_lt", 0) or 0
    bocs = chain.transaction_bocs_before(address, None if lt is None else lt + 1, limit)
    txs = [v2json.transaction(b, address.workchain) for b in bocs]
    wanted = params.get("hash")
    if lt is not None and wanted and txs:
        first = txs[0]["transaction_id"]
        if first["lt"] != str(lt) or _hash_bytes(str(wanted)) != tc.unb64(first["hash"]):
            raise RpcError(f"LITE_SERVER_UNKNOWN: no transaction of {address} at lt {lt} with that hash", 500)
    return [tx for tx in txs if int(tx["transaction_id"]["lt"]) > to_lt]


def _hash_bytes(text: str) -> bytes:
    """A transaction hash in hex (what TonClient sends) or base64 (toncenter takes both)."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return tc.unb64(text)


def run_get_method(chain: LocalChain, params: Params) -> Any:
    address = _address(params)
    method = _required(params, "method")
    if not isinstance(method, str | int):
        raise RpcError("TypeError: 'method' must be a method name or id", 422)
    entries = params.get("stack") or []
    if not isinstance(entries, list):
        raise RpcError("TypeError: 'stack' must be a list of [type, value] entries", 422)
    stack = VmStack.serialize([_input(e) for e in entries])
    state = chain.account(address)
    extra = {
        "block_id": v2json.block_id(chain.now),
        "last_transaction_id": tc.account_json(state, 0)["last_transaction_id"],
    }
    if state.code is None:
        return {"@type": "smc.runResult", "gas_used": 0, "stack": [], "exit_code": NO_CODE_EXIT, **extra}
    out = chain.run_get_method_raw(address, method, stack)
    return {
        "@type": "smc.runResult",
        "gas_used": out.gas_used,
        "stack": v2json.stack(stack_from_cell(out.stack)),
        "exit_code": out.exit_code,
        **extra,
    }


_SLICES = ("slice", "tvm.Slice")
_BUILDERS = ("builder", "tvm.Builder")


def _input(entry: Any) -> Any:
    """A toncenter input stack entry -> a pytoniq stack value (slices stay slices: getters check types)."""
    try:
        kind, value = entry[0], entry[1]
    except (IndexError, KeyError, TypeError) as exc:
        raise RpcError(f"TypeError: bad stack entry {entry!r:.100}: expected [type, value]", 422) from exc
    if kind in _SLICES or kind in _BUILDERS:
        cell = cell_from_boc(tc.unb64(str(value["bytes"] if isinstance(value, dict) else value)))
        return cell.begin_parse() if kind in _SLICES else cell.to_builder()
    return _tuples(tc.stack_from_json([entry])[0])  # numbers, cells, null; tuples of those


def _tuples(value: Any) -> Any:
    """Python lists -> ``VmTuple`` (``VmStack`` would silently drop a plain list)."""
    return VmTuple([_tuples(v) for v in value]) if isinstance(value, list) else value


def send_boc(chain: LocalChain, params: Params) -> Any:
    _send(chain, params)
    return {"@type": "ok", "@extra": "0:0:0"}


def send_boc_return_hash(chain: LocalChain, params: Params) -> Any:
    message = _send(chain, params)
    return {"@type": "raw.extMessageInfo", "hash": tc.b64(cell_hash(message))}


def _send(chain: LocalChain, params: Params) -> Cell:
    message = _boc(params, "boc")
    try:
        chain.send_external(message)
    except ContractError as exc:
        raise RpcError(
            f"LITE_SERVER_UNKNOWN: cannot apply external message to current state : "
            f"External message was not accepted: {exc}",
            500,
            exc.exit_code,
        ) from exc
    return message


def estimate_fee(chain: LocalChain, params: Params) -> Any:
    """A dry run of the external (signatures ignored unless ``ignore_chksig`` is false)."""
    address = _address(params)
    body = _optional_boc(params, "body") or begin_cell().end_cell()
    code, data = _optional_boc(params, "init_code"), _optional_boc(params, "init_data")
    if (code is None) != (data is None):
        raise RpcError("TypeError: give both 'init_code' and 'init_data', or neither", 422)
    init = (code, data) if code is not None and data is not None else None
    ignore = params.get("ignore_chksig", True) not in (False, "false", 0)
    tx = chain.emulate_external(external_message(address, body, init), ignore_chksig=ignore)
    return v2json.fees(tx.boc)


METHODS: dict[str, Method] = {
    "getAddressInformation": get_address_information,
    "getAddressBalance": get_address_balance,
    "getAddressState": get_address_state,
    "getWalletInformation": get_wallet_information,
    "getMasterchainInfo": get_masterchain_info,
    "getConfigParam": get_config_param,
    "getTransactions": get_transactions,
    "runGetMethod": run_get_method,
    "sendBoc": send_boc,
    "sendBocReturnHash": send_boc_return_hash,
    "estimateFee": estimate_fee,
}
"""Every JSON-RPC method the local chain answers, by toncenter's name."""

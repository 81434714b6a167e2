"""The subset of the "TON API v4" HTTP interface that ``@ton/ton``'s ``TonClient4`` needs to read
accounts, run get-methods and send a wallet's externals, served over the local chain under ``/v4``.

The TS SDK sends its transactions (wallet transfers, the client contract's long-auth registration)
through ``TonClient4``, so this is what lets it pay and register against a local network. Routes
(``TonClient4({endpoint: "<chain URL>/v4"})``):

- ``GET  /v4/block/latest`` -> the last (synthetic) block and the chain's time;
- ``GET  /v4/block/{seqno}/{address}`` and ``.../lite`` -> the account (code/data, or their hashes);
- ``GET  /v4/block/{seqno}/{address}/run/{method}[/{args}]`` -> ``exitCode`` and ``resultRaw`` (a
  ``VmStack`` BoC); ``args`` is the URL-safe base64 ``VmStack`` BoC of the arguments;
- ``POST /v4/send {"boc"}`` -> ``{"status": 1}``; a rejected external answers HTTP 500 with ``error``
  and ``exit_code``.

The local chain keeps no history: every ``seqno`` reads the current state (blocks are synthetic,
see :mod:`cocoon.chainsvc.v2json`). Accounts, transactions by (lt, hash), config and block contents
are not served; those routes answer 404.
"""

from __future__ import annotations

import base64
from typing import Any

from aiohttp import web
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon.chainsvc import v2json
from cocoon.chainsvc.local import LocalChain
from cocoon.errors import ChainDataError, ChainError, ContractError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import cell_from_boc, cell_hash, cell_to_boc
from cocoon.ton.chain import AccountState, AccountStatus

PREFIX = "/v4"
CHAIN = web.AppKey("v4_chain", LocalChain)
_EMPTY_STACK = VmStack.serialize([])


def block(seqno: int) -> dict[str, Any]:
    """A block reference in v4's camelCase (the same synthetic ids as the v2 API)."""
    b = v2json.block_id(seqno)
    return {
        "workchain": b["workchain"],
        "seqno": seqno,
        "shard": b["shard"],
        "rootHash": b["root_hash"],
        "fileHash": b["file_hash"],
    }


def last_block(now: int) -> dict[str, Any]:
    info = v2json.masterchain_info(now)
    last = block(now)
    init = block(0)
    return {
        "last": last,
        "init": {"fileHash": init["fileHash"], "rootHash": init["rootHash"]},
        "stateRootHash": info["state_root_hash"],
        "now": now,
    }


def account(state: AccountState, *, lite: bool) -> dict[str, Any]:
    """``account`` of ``/block/{seqno}/{address}`` (``lite``: code and data hashes instead)."""
    kind: dict[str, Any]
    if state.status is AccountStatus.ACTIVE:
        code, data = state.code, state.data
        if lite:
            kind = {
                "type": "active",
                "codeHash": tc.b64(cell_hash(code)) if code is not None else "",
                "dataHash": tc.b64(cell_hash(data)) if data is not None else "",
            }
        else:
            kind = {
                "type": "active",
                "code": tc.b64(cell_to_boc(code)) if code is not None else None,
                "data": tc.b64(cell_to_boc(data)) if data is not None else None,
            }
    elif state.status is AccountStatus.FROZEN:
        kind = {"type": "frozen", "stateHash": tc.b64(bytes(32))}  # our chain never freezes accounts
    else:
        kind = {"type": "uninit"}
    last = {"lt": str(state.last_lt), "hash": tc.b64(state.last_hash)} if state.last_lt else None
    return {
        "state": kind,
        "balance": {"coins": str(state.balance), "currencies": {}},
        "last": last,
        "storageStat": None,
    }


def _error(message: str, status: int, exit_code: int | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if exit_code is not None:
        body["exit_code"] = exit_code
    return web.json_response(body, status=status)


def _address(request: web.Request) -> Address:
    return Address.parse(request.match_info["address"])


async def _last(request: web.Request) -> web.Response:
    return web.json_response(last_block(request.app[CHAIN].now))


async def _account(request: web.Request) -> web.Response:
    chain = request.app[CHAIN]
    state = chain.account(_address(request))
    return web.json_response({"account": account(state, lite=False), "block": block(chain.now)})


async def _account_lite(request: web.Request) -> web.Response:
    chain = request.app[CHAIN]
    return web.json_response({"account": account(chain.account(_address(request)), lite=True)})


async def _run(request: web.Request) -> web.Response:
    chain = request.app[CHAIN]
    address = _address(request)
    args = request.match_info.get("args", "")
    stack = cell_from_boc(base64.urlsafe_b64decode(args + "=" * (-len(args) % 4))) if args else _EMPTY_STACK
    here = block(chain.now)
    answer: dict[str, Any] = {"exitCode": -13, "resultRaw": None, "block": here, "shardBlock": here}
    if chain.account(address).code is not None:  # else -13, as for an account without code
        out = chain.run_get_method_raw(address, request.match_info["method"], stack)
        answer.update(exitCode=out.exit_code, resultRaw=tc.b64(cell_to_boc(out.stack)))
    return web.json_response(answer)


async def _send(request: web.Request) -> web.Response:
    chain = request.app[CHAIN]
    boc = (await request.json()).get("boc")
    if not isinstance(boc, str):
        return _error("missing 'boc' (base64 of the external message)", 400)
    try:
        chain.send_external(cell_from_boc(tc.unb64(boc)))
    except ContractError as exc:
        return _error(str(exc), 500, exc.exit_code)
    return web.json_response({"status": 1})


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except (ChainDataError, ValueError) as exc:
        return _error(f"bad request: {exc}", 400)
    except ChainError as exc:
        return _error(str(exc), 500)
    return response


def add_routes(app: web.Application, chain: LocalChain) -> None:
    """Mount the v4 routes under :data:`PREFIX` (a sub-app with its own error mapping)."""
    sub = web.Application(middlewares=[_errors])
    sub[CHAIN] = chain
    sub.router.add_get("/block/latest", _last)
    sub.router.add_get("/block/{seqno:\\d+}/{address}", _account)
    sub.router.add_get("/block/{seqno:\\d+}/{address}/lite", _account_lite)
    sub.router.add_get("/block/{seqno:\\d+}/{address}/run/{method}", _run)
    sub.router.add_get("/block/{seqno:\\d+}/{address}/run/{method}/{args}", _run)
    sub.router.add_post("/send", _send)
    app.add_subapp(PREFIX, sub)

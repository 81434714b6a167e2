"""``cocoon chain serve``: the local chain over a toncenter-style HTTP API, so processes share one chain.

The JSON shapes live in :mod:`cocoon.ton.toncenter`; this module only routes requests to a
:class:`~cocoon.chainsvc.local.LocalChain`. toncenter's v2 JSON-RPC (``POST /api/v2/jsonRPC``, what
``@ton/ton``'s ``TonClient`` calls) and its REST form of the other methods (``/api/v2/<method>``) are
answered by :mod:`cocoon.chainsvc.jsonrpc`; ``TonClient4``'s v4 API subset by
:mod:`cocoon.chainsvc.v4api`. Clock modes: ``wall`` (before each request the chain's time moves
up to the wall clock; what a local network wants) and ``manual`` (time moves only through
``POST /api/v2/local/advanceTime``; what tests want). The wall clock is read here, in the shell.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cocoon.chainsvc import jsonrpc, v4api
from cocoon.chainsvc.local import LocalChain
from cocoon.clock import Clock
from cocoon.errors import ChainDataError, ChainError, ContractError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import cell_from_boc, cell_to_boc
from cocoon.ton.chain import raise_on_failure
from cocoon.ton.tlb import transaction_from_boc

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CHAIN_KEY = web.AppKey("chain", LocalChain)
MAX_TX_PAGE = 100


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status)


class _BadRequest(Exception):
    pass


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map our exceptions to toncenter-style error bodies; never leak a traceback to the client."""
    try:
        return await handler(request)
    except _BadRequest as exc:
        return _json(tc.error(str(exc), 400), 400)
    except ContractError as exc:
        return _json(tc.error(str(exc), 500, exc.exit_code), 500)
    except (ChainDataError, ValueError) as exc:
        return _json(tc.error(f"bad request: {exc}", 400), 400)
    except ChainError as exc:
        return _json(tc.error(str(exc), 500), 500)


def _address(value: Any) -> Address:
    if not isinstance(value, str) or not value:
        raise _BadRequest("missing 'address'")
    return Address.parse(value)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise _BadRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _BadRequest("the body must be a JSON object")
    return data


async def _account(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    state = chain.account(_address(request.query.get("address")))
    return _json(tc.ok(tc.account_json(state, chain.now)))


async def _transactions(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    q = request.query
    address = _address(q.get("address"))
    limit = min(int(q.get("limit", "10")), MAX_TX_PAGE)
    start_lt = int(q["lt"]) + 1 if q.get("lt") else None  # toncenter's lt bound is inclusive
    to_lt = int(q.get("to_lt", "0"))
    bocs = chain.transaction_bocs_before(address, start_lt, limit)
    txs = [transaction_from_boc(b, workchain=address.workchain) for b in bocs]
    return _json(tc.ok([tc.transaction_json(tx) for tx in txs if tx.lt > to_lt]))


async def _config_param(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    index = int(request.query.get("config_id", "-1"))
    cell = chain.get_config_param(index)
    if cell is None:
        raise _BadRequest(f"config param {index} is not set")
    return _json(
        tc.ok({"@type": "configInfo", "config": {"@type": "tvm.cell", "bytes": tc.b64(cell_to_boc(cell))}})
    )


async def _run_get_method(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    body = await _body(request)
    address, method = _address(body.get("address")), body.get("method")
    if not isinstance(method, str | int):
        raise _BadRequest("missing 'method'")
    try:
        stack = chain.run_get_method(address, method, tc.stack_from_json(body.get("stack", [])))
    except ContractError as exc:
        return _json(
            tc.ok({"@type": "smc.runResult", "gas_used": 0, "stack": [], "exit_code": exc.exit_code})
        )
    return _json(
        tc.ok({"@type": "smc.runResult", "gas_used": 0, "stack": tc.stack_to_json(stack), "exit_code": 0})
    )


async def _send_boc(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    boc = (await _body(request)).get("boc")
    if not isinstance(boc, str):
        raise _BadRequest("missing 'boc' (base64)")
    trace = chain.send_external(cell_from_boc(tc.unb64(boc)))
    return _json(tc.ok({"@type": "ok", "hash": tc.b64(trace[0].hash), "transactions": len(trace)}))


async def _faucet(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    body = await _body(request)
    amount = int(body.get("amount", 0))
    if amount <= 0:
        raise _BadRequest("'amount' must be a positive number of nanoTON")
    raise_on_failure(chain.fund(_address(body.get("address")), amount))
    return _json(tc.ok({"balance": str(chain.balance(_address(body.get("address"))))}))


async def _advance_time(request: web.Request) -> web.Response:
    chain = request.app[CHAIN_KEY]
    seconds = int((await _body(request)).get("seconds", 0))
    if seconds < 0:
        raise _BadRequest("'seconds' must be >= 0: chain time never goes back")
    chain.advance(seconds)
    return _json(tc.ok({"now": chain.now}))


async def _json_rpc(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except json.JSONDecodeError as exc:
        return _json({**tc.error(f"the body is not JSON: {exc}", 400), "id": None, "jsonrpc": "2.0"}, 400)
    status, answer = jsonrpc.handle(request.app[CHAIN_KEY], body)
    return _json(answer, status)


async def _rest_method(request: web.Request) -> web.Response:
    """``/api/v2/<method>``: a JSON-RPC method with its parameters in the query (GET) or body (POST)."""
    params: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        params.update(await _body(request))
    try:
        result = jsonrpc.call(request.app[CHAIN_KEY], request.match_info["method"], params)
    except jsonrpc.RpcError as exc:
        return _json(tc.error(str(exc), exc.code, exc.exit_code), exc.code)
    return _json(tc.ok(result))


def create_app(chain: LocalChain, *, wall_clock: Clock | None = None) -> web.Application:
    """The HTTP app over ``chain``; with ``wall_clock`` (the ``wall`` clock mode) chain time follows its
    ``time()`` forward at each request (never back: blocks stay in order)."""

    @web.middleware
    async def follow_wall_clock(request: web.Request, handler: Handler) -> web.StreamResponse:
        if wall_clock is not None:
            now = int(wall_clock.time())
            if now > chain.now:
                chain.set_time(now)
        return await handler(request)

    app = web.Application(middlewares=[_errors, follow_wall_clock])
    app[CHAIN_KEY] = chain
    app.router.add_get("/api/v2/getAddressInformation", _account)
    app.router.add_get("/api/v2/getTransactions", _transactions)
    app.router.add_get("/api/v2/getConfigParam", _config_param)
    app.router.add_post("/api/v2/runGetMethod", _run_get_method)
    app.router.add_post("/api/v2/sendBoc", _send_boc)
    app.router.add_post("/api/v2/local/faucet", _faucet)
    app.router.add_post("/api/v2/local/advanceTime", _advance_time)
    app.router.add_post("/api/v2/jsonRPC", _json_rpc)
    # After the routes above, which keep their own shapes for our ToncenterChain.
    app.router.add_route("*", "/api/v2/{method}", _rest_method)
    v4api.add_routes(app, chain)  # TonClient4's reads and sends, under /v4
    return app

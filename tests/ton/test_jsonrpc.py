"""toncenter's v2 JSON-RPC over the local chain: envelopes, result shapes, errors, the HTTP routes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from cocoon.chainsvc import jsonrpc, v2json
from cocoon.chainsvc.local import FAUCET, LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import begin_cell, cell_from_boc, cell_hash, cell_to_boc, external_message, text_cell
from cocoon.ton.data import RootData, RootRegistry
from cocoon.ton.ops import TON
from cocoon.ton.params import CodeMask, make_params
from cocoon.ton.tlb import stack_from_cell, stack_to_cell

T0 = 1_700_000_000
PROBE = cell_from_boc((Path(__file__).parent / "fixtures" / "probe.boc").read_bytes())
ALICE = Address(0, b"\xa1" * 32)
OWNER = Address(0, b"\x0e" * 32)


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain(now=T0)


def rpc(chain: LocalChain, method: str, /, **params: Any) -> tuple[int, dict[str, Any]]:
    return jsonrpc.handle(chain, {"id": 7, "jsonrpc": "2.0", "method": method, "params": params})


def result(chain: LocalChain, method: str, /, **params: Any) -> Any:
    status, body = rpc(chain, method, **params)
    assert (status, body["ok"], body["id"], body["jsonrpc"]) == (200, True, 7, "2.0"), body
    return body["result"]


def b64(cell: Any) -> str:
    return base64.b64encode(cell_to_boc(cell)).decode()


def deploy_probe(chain: LocalChain) -> Address:
    return chain.deploy(PROBE, begin_cell().store_uint(0, 96).end_cell(), TON)


def deploy_root(chain: LocalChain, proxy_hash: int) -> Address:
    params = make_params(proxy_code=contract_code("proxy"), worker_code=None, client_code=None)
    registry = RootRegistry(proxy_hashes=frozenset({proxy_hash}))
    return chain.deploy(
        contract_code("root"), RootData(OWNER, 0, registry, params.masked(CodeMask.NONE)).to_cell(), TON
    )


def test_accounts_in_every_state_and_address_form(chain: LocalChain) -> None:
    probe = deploy_probe(chain)
    chain.fund(ALICE, 123)
    info = result(chain, "getAddressInformation", address=probe.friendly())
    assert info["state"] == "active" and int(info["balance"]) == chain.balance(probe)
    assert cell_from_boc(base64.b64decode(info["code"])).hash == PROBE.hash
    assert info["block_id"]["seqno"] == T0 and info["sync_utime"] == T0
    assert info["last_transaction_id"]["lt"] == str(chain.account(probe).last_lt)
    assert result(chain, "getAddressBalance", address=ALICE.raw) == "123"
    assert result(chain, "getAddressState", address=ALICE.friendly(bounceable=False)) == "uninitialized"
    nothing = result(chain, "getAddressInformation", address=Address(0, b"\x01" * 32).raw)
    assert (nothing["state"], nothing["balance"], nothing["code"], nothing["last_transaction_id"]["lt"]) == (
        "uninitialized",
        "0",
        "",
        "0",
    )
    wallet = result(chain, "getWalletInformation", address=probe.raw)
    assert (wallet["wallet"], wallet["account_state"], wallet["balance"]) == (
        False,
        "active",
        info["balance"],
    )


def test_get_methods_take_numbers_and_answer_toncenter_stacks(chain: LocalChain) -> None:
    proxy_hash = int.from_bytes(b"\x42" * 32, "big")
    root = deploy_root(chain, proxy_hash)
    for number, expected in ((str(proxy_hash), -1), (hex(proxy_hash), -1), (proxy_hash + 1, 0)):
        run = result(
            chain, "runGetMethod", address=root.raw, method="proxy_hash_is_valid", stack=[["num", number]]
        )
        assert (run["exit_code"], run["stack"]) == (0, [["num", hex(expected)]])
        assert run["gas_used"] > 0
    data = result(chain, "runGetMethod", address=root.raw, method="get_cocoon_data", stack=[])
    kinds = [entry[0] for entry in data["stack"]]
    assert kinds == ["num"] * 9 + ["cell"]  # the owner slice comes back as a cell, as toncenter sends it
    owner = tc.stack_from_json(data["stack"])[-1]
    assert owner.begin_parse().load_address().hash_part == OWNER.hash_part  # type: ignore[union-attr]
    missing = result(chain, "runGetMethod", address=root.raw, method="no_such_getter", stack=[])
    assert missing["exit_code"] == 11
    uninit = result(chain, "runGetMethod", address=ALICE.raw, method="seqno", stack=[])
    assert (uninit["exit_code"], uninit["stack"]) == (-13, [])


def test_stack_rendering_nests_tonlib_entries_and_reads_back() -> None:
    cell = text_cell("x")
    items = [5, -6, None, cell, [1, [cell, None], []]]
    rendered = v2json.stack(items)
    assert rendered[:3] == [["num", "0x5"], ["num", "-0x6"], ["list", {"@type": "tvm.list", "elements": []}]]
    inner = rendered[4][1]["elements"]
    assert inner[0] == {
        "@type": "tvm.stackEntryNumber",
        "number": {"@type": "tvm.numberDecimal", "number": "1"},
    }
    assert inner[1]["@type"] == "tvm.stackEntryTuple"
    back = tc.stack_from_json(rendered)
    assert back == [5, -6, [], cell, [1, [cell, []], []]]  # a null reads back as tonlib's empty list


def test_sending_externals_and_the_rejection_envelope(chain: LocalChain) -> None:
    probe = deploy_probe(chain)
    ext = external_message(probe, begin_cell().store_uint(0, 32).end_cell())
    assert result(chain, "sendBocReturnHash", boc=b64(ext)) == {
        "@type": "raw.extMessageInfo",
        "hash": base64.b64encode(cell_hash(ext)).decode(),
    }
    assert chain.run_get_method(probe, "seqno") == [1]
    status, body = rpc(chain, "sendBoc", boc=b64(ext))  # replayed: seqno 0 is used
    assert (status, body["ok"], body["code"], body["exit_code"], body["id"]) == (500, False, 500, 33, 7)
    assert "External message was not accepted" in body["error"]
    nxt = external_message(probe, begin_cell().store_uint(1, 32).end_cell())
    assert result(chain, "sendBoc", boc=b64(nxt))["@type"] == "ok"
    assert chain.run_get_method(probe, "seqno") == [2]


def test_fee_estimate_is_a_dry_run(chain: LocalChain) -> None:
    probe = deploy_probe(chain)
    before = chain.account(probe)
    fees = result(
        chain, "estimateFee", address=probe.raw, body=b64(begin_cell().store_uint(0, 32).end_cell())
    )
    source = fees["source_fees"]
    assert fees["@type"] == "query.fees" and source["gas_fee"] > 0 and source["in_fwd_fee"] > 0
    assert chain.account(probe) == before
    status, body = rpc(
        chain, "estimateFee", address=probe.raw, body=b64(begin_cell().store_uint(9, 32).end_cell())
    )
    assert (status, body["exit_code"]) == (500, 33)


def test_transactions_page_from_lt_and_hash_inclusive(chain: LocalChain) -> None:
    for n in range(5):
        chain.fund(ALICE, n + 1)
    txs = result(chain, "getTransactions", address=ALICE.raw, limit=10)
    assert [tx["in_msg"]["value"] for tx in txs] == ["5", "4", "3", "2", "1"]  # newest first
    first = txs[0]["in_msg"]
    assert first["source"] == FAUCET.friendly()
    assert {"fwd_fee", "ihr_fee", "created_lt", "body_hash", "msg_data"} <= set(first)
    assert txs[0]["fee"] == str(int(txs[0]["storage_fee"]) + int(txs[0]["other_fee"]))
    third = txs[2]["transaction_id"]
    page = result(
        chain,
        "getTransactions",
        address=ALICE.raw,
        limit=2,
        lt=third["lt"],
        hash=base64.b64decode(third["hash"]).hex(),
    )
    assert [tx["in_msg"]["value"] for tx in page] == ["3", "2"]
    tail = result(chain, "getTransactions", address=ALICE.raw, to_lt=txs[2]["transaction_id"]["lt"])
    assert [tx["in_msg"]["value"] for tx in tail] == ["5", "4"]
    status, body = rpc(chain, "getTransactions", address=ALICE.raw, lt=third["lt"], hash="00" * 32)
    assert status == 500 and "with that hash" in body["error"]


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        ({"id": 1, "method": "getBlockHeader", "params": {}}, 422, "Unknown method 'getBlockHeader'"),
        ({"id": 1, "method": "getAddressBalance", "params": {}}, 422, "missing required parameter 'address'"),
        ({"id": 1, "method": "getAddressBalance", "params": {"address": "nope"}}, 416, "Incorrect address"),
        (
            {"id": 1, "method": "getTransactions", "params": {"address": ALICE.raw, "lt": "x"}},
            422,
            "parameter lt",
        ),
        ({"id": 1, "method": "sendBoc", "params": {"boc": "AAAA"}}, 400, "bad request"),
        ({"id": 1, "params": {}}, 422, "string 'method'"),
        ([1, 2], 422, "string 'method'"),
    ],
)
def test_bad_requests_answer_toncenter_errors(
    chain: LocalChain, request_: Any, code: int, words: str
) -> None:
    status, body = jsonrpc.handle(chain, request_)
    assert (status, body["ok"], body["code"], body["jsonrpc"]) == (code, False, code, "2.0")
    assert words in body["error"]


async def test_http_routes(chain: LocalChain) -> None:
    probe = deploy_probe(chain)
    server = TestServer(create_app(chain), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            call = {
                "id": "1",
                "jsonrpc": "2.0",
                "method": "getAddressBalance",
                "params": {"address": probe.raw},
            }
            async with http.post(server.make_url("/api/v2/jsonRPC"), json=call) as resp:
                assert (resp.status, await resp.json()) == (
                    200,
                    {"ok": True, "result": str(chain.balance(probe)), "id": "1", "jsonrpc": "2.0"},
                )
            async with http.post(server.make_url("/api/v2/jsonRPC"), data=b"{") as resp:
                assert resp.status == 400 and (await resp.json())["ok"] is False
            async with http.get(
                server.make_url("/api/v2/getAddressState"), params={"address": probe.raw}
            ) as resp:
                assert (resp.status, await resp.json()) == (200, {"ok": True, "result": "active"})
            async with http.get(server.make_url("/api/v2/getMasterchainInfo")) as resp:
                assert (await resp.json())["result"]["last"]["seqno"] == T0
            async with http.get(server.make_url("/api/v2/nothingHere")) as resp:
                assert resp.status == 422 and "Unknown method 'nothingHere'" in (await resp.json())["error"]
            # our own REST shapes keep their routes (ToncenterChain reads them)
            async with http.get(
                server.make_url("/api/v2/getAddressInformation"), params={"address": probe.raw}
            ) as resp:
                assert "block_id" not in (await resp.json())["result"]
    finally:
        await server.close()


def test_arguments_of_every_kind_reach_the_getter(chain: LocalChain) -> None:
    probe = deploy_probe(chain)  # `counter` pushes its value above whatever the stack holds
    cell = text_cell("arg")
    entries = [
        ["num", "-5"],
        ["tvm.Cell", b64(cell)],
        ["tvm.Slice", b64(cell)],
        ["slice", {"bytes": b64(cell)}],
        ["tvm.Builder", b64(cell)],
        [
            "tuple",
            {"elements": [["num", "0x1"], {"@type": "tvm.stackEntryCell", "cell": {"bytes": b64(cell)}}]},
        ],
    ]
    run = result(chain, "runGetMethod", address=probe.raw, method="counter", stack=entries)
    assert run["exit_code"] == 0
    assert tc.stack_from_json(run["stack"]) == [-5, cell, cell, cell, cell, [1, cell], 0]
    assert isinstance(
        jsonrpc._input(["tvm.Slice", b64(cell)]), type(cell.begin_parse())
    )  # a slice, not a cell


def test_tuples_round_trip_through_the_vm_stack_codec() -> None:
    cell = text_cell("t")
    stack = [1, [2, [cell, None], []], None]
    assert stack_from_cell(stack_to_cell(stack)) == stack

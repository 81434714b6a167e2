"""The TonClient4 (v4 API) subset under /v4: accounts, get-methods with VmStack arguments, sending."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_from_boc, cell_hash, cell_to_boc, external_message
from cocoon.ton.ops import TON
from cocoon.ton.tlb import stack_from_cell

T0 = 1_700_000_000
PROBE = cell_from_boc((Path(__file__).parent / "fixtures" / "probe.boc").read_bytes())
ALICE = Address(0, b"\xa1" * 32)


@pytest.fixture
def chain() -> LocalChain:
    return LocalChain(now=T0)


@pytest.fixture
async def http(chain: LocalChain) -> AsyncIterator[tuple[aiohttp.ClientSession, TestServer]]:
    server = TestServer(create_app(chain), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield session, server
    finally:
        await server.close()


async def get(http: tuple[aiohttp.ClientSession, TestServer], path: str) -> tuple[int, Any]:
    session, server = http
    async with session.get(server.make_url("/v4" + path)) as resp:
        return resp.status, await resp.json()


async def test_latest_block_and_accounts(chain: LocalChain, http: Any) -> None:
    probe = chain.deploy(PROBE, begin_cell().store_uint(0, 96).end_cell(), TON)
    status, last = await get(http, "/block/latest")
    assert (status, last["now"], last["last"]["seqno"], last["last"]["workchain"]) == (200, T0, T0, -1)
    _, full = await get(http, f"/block/{T0}/{probe.friendly()}")
    account = full["account"]
    assert account["state"]["type"] == "active" and account["balance"] == {
        "coins": str(chain.balance(probe)),
        "currencies": {},
    }
    assert cell_from_boc(base64.b64decode(account["state"]["code"])) == PROBE
    assert account["last"]["lt"] == str(chain.account(probe).last_lt)
    _, lite = await get(http, f"/block/{T0}/{probe.raw}/lite")
    assert lite["account"]["state"]["codeHash"] == base64.b64encode(cell_hash(PROBE)).decode()
    _, nothing = await get(http, f"/block/{T0}/{ALICE.raw}")
    assert (nothing["account"]["state"], nothing["account"]["last"]) == ({"type": "uninit"}, None)


async def test_run_method_with_url_safe_stack_arguments(chain: LocalChain, http: Any) -> None:
    probe = chain.deploy(PROBE, begin_cell().store_uint(0, 96).end_cell(), TON)
    chain.send_internal(ALICE, probe, TON, begin_cell().store_uint(3, 32).store_uint(99, 64).end_cell())
    _, run = await get(http, f"/block/{T0}/{probe.raw}/run/counter")
    assert run["exitCode"] == 0 and stack_from_cell(cell_from_boc(base64.b64decode(run["resultRaw"]))) == [99]
    args = base64.urlsafe_b64encode(cell_to_boc(VmStack.serialize([7]))).decode().rstrip("=")
    _, extra = await get(http, f"/block/{T0}/{probe.raw}/run/counter/{args}")
    assert stack_from_cell(cell_from_boc(base64.b64decode(extra["resultRaw"]))) == [7, 99]  # args stay below
    _, missing = await get(http, f"/block/{T0}/{probe.raw}/run/nope")
    assert missing["exitCode"] == 11
    _, uninit = await get(http, f"/block/{T0}/{ALICE.raw}/run/seqno")
    assert (uninit["exitCode"], uninit["resultRaw"]) == (-13, None)
    status, bad = await get(http, f"/block/{T0}/not-an-address/run/seqno")
    assert status == 400 and "bad request" in bad["error"]
    session, server = http
    async with session.get(server.make_url(f"/v4/account/{probe.raw}/tx/1/AAAA")) as resp:
        assert resp.status == 404  # transactions by (lt, hash) are not served


async def test_send_accepts_then_rejects_a_replay(chain: LocalChain, http: Any) -> None:
    session, server = http
    probe = chain.deploy(PROBE, begin_cell().store_uint(0, 96).end_cell(), TON)
    boc = base64.b64encode(
        cell_to_boc(external_message(probe, begin_cell().store_uint(0, 32).end_cell()))
    ).decode()
    async with session.post(server.make_url("/v4/send"), json={"boc": boc}) as resp:
        assert (resp.status, await resp.json()) == (200, {"status": 1})
    assert chain.run_get_method(probe, "seqno") == [1]
    async with session.post(server.make_url("/v4/send"), json={"boc": boc}) as resp:
        body = await resp.json()
        assert (resp.status, body["exit_code"]) == (500, 33) and "did not accept" in body["error"]

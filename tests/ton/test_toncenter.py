"""The local chain served over the toncenter-style HTTP API and read back through ``ToncenterChain``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.chainsvc.service import READY_PREFIX
from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.clock import FakeClock
from cocoon.errors import ChainError, ContractError
from cocoon.ton import toncenter as tc
from cocoon.ton.address import Address
from cocoon.ton.cells import begin_cell, cell_from_boc, external_message, text_cell
from cocoon.ton.chain import AccountStatus, Chain

T0 = 1_700_000_000
PROBE = cell_from_boc((Path(__file__).parent / "fixtures" / "probe.boc").read_bytes())
ALICE = Address(0, b"\xa1" * 32)


@pytest.fixture
def local() -> LocalChain:
    return LocalChain(now=T0)


@pytest.fixture
async def api(local: LocalChain) -> AsyncIterator[ToncenterChain]:
    server = TestServer(create_app(local), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ToncenterChain(str(server.make_url("/")), timeout=5) as client:
            yield client
    finally:
        await server.close()


def deploy_probe(local: LocalChain) -> Address:
    return local.deploy(PROBE, begin_cell().store_uint(0, 96).end_cell(), 10**9)


async def test_accounts_of_every_status(local: LocalChain, api: ToncenterChain) -> None:
    probe = deploy_probe(local)
    await api.fund(ALICE, 123)
    chain: Chain = api
    active, uninit = await chain.get_account(probe), await chain.get_account(ALICE)
    assert active == local.account(probe)
    assert (uninit.status, uninit.balance) == (AccountStatus.UNINIT, 123)
    nothing = await chain.get_account(Address(0, b"\x01" * 32))
    assert (nothing.status, nothing.balance, nothing.code) == (AccountStatus.NONEXIST, 0, None)


async def test_transactions_page_across_the_server_limit(local: LocalChain, api: ToncenterChain) -> None:
    for n in range(130):
        local.fund(ALICE, n + 1)
    expected = local.transactions(ALICE, limit=1000)
    assert await api.get_transactions(ALICE, limit=1000) == expected
    after = expected[9].lt
    assert await api.get_transactions(ALICE, after_lt=after, limit=5) == expected[10:15]
    values = [tx.in_msg.value for tx in await api.get_transactions(ALICE, limit=3) if tx.in_msg]
    assert values == [1, 2, 3]


async def test_get_methods_and_their_failures(local: LocalChain, api: ToncenterChain) -> None:
    probe = deploy_probe(local)
    local.send_internal(ALICE, probe, 10**9, begin_cell().store_uint(3, 32).store_uint(99, 64).end_cell())
    assert await api.run_get_method(probe, "counter") == [99]
    with pytest.raises(ContractError) as err:
        await api.run_get_method(probe, "missing")
    assert err.value.exit_code == 11


async def test_send_boc_accepts_then_rejects_replayed_external(
    local: LocalChain, api: ToncenterChain
) -> None:
    probe = deploy_probe(local)
    ext = external_message(probe, begin_cell().store_uint(0, 32).end_cell())
    await api.send_message(ext)
    assert local.run_get_method(probe, "seqno") == [1]
    with pytest.raises(ContractError) as err:
        await api.send_message(ext)
    assert err.value.exit_code == 33


async def test_clock_endpoint_moves_time(local: LocalChain, api: ToncenterChain) -> None:
    assert await api.get_time() == T0
    assert await api.advance_time(30) == T0 + 30
    assert local.now == T0 + 30


async def test_wall_clock_mode_follows_the_clock_forward_only(local: LocalChain) -> None:
    clock = FakeClock(wall=T0 + 100)
    server = TestServer(create_app(local, wall_clock=clock), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ToncenterChain(str(server.make_url("/")), timeout=5) as api:
            assert await api.get_time() == T0 + 100
            clock.advance(50)
            assert await api.get_time() == T0 + 150
            local.advance(1000)  # chain time ahead of the wall clock: it does not go back
            clock.advance(10)
            assert await api.get_time() == T0 + 1150
    finally:
        await server.close()


async def test_bad_requests_answer_toncenter_errors(local: LocalChain) -> None:
    server = TestServer(create_app(local), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            url = server.make_url("/api/v2/getAddressInformation")
            async with http.get(url, params={"address": "not-an-address"}) as resp:
                answer = await resp.json()
        assert resp.status == 400 and answer["ok"] is False and answer["code"] == 400
        with pytest.raises(ChainError, match="400"):
            tc.unwrap(answer)
        async with ToncenterChain(str(server.make_url("/")), timeout=5) as api:
            with pytest.raises(ChainError, match="amount"):
                await api.fund(ALICE, 0)
    finally:
        await server.close()


async def test_unreachable_server_is_a_clear_chain_error() -> None:
    async with ToncenterChain("http://127.0.0.1:9", timeout=2) as api:
        with pytest.raises(ChainError, match="cannot reach"):
            await api.get_time()


def test_stack_json_round_trip() -> None:
    items = [0, -1, 2**200, -(2**255), None, text_cell("x"), [1, [None, 2]]]
    assert tc.stack_from_json(tc.stack_to_json(items)) == items
    assert tc.stack_from_json([["num", "42"], ["tvm.Cell", tc.b64(text_cell("y").to_boc())]]) == [
        42,
        text_cell("y"),
    ]


async def test_cli_serve_persists_across_restart(tmp_path: Path) -> None:
    async def start() -> tuple[asyncio.subprocess.Process, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cocoon.cli.main", "chain", "serve", "--port", "0",
            "--data-dir", str(tmp_path), "--clock", "manual", "--start-time", str(T0),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode().strip()
        assert line.startswith(READY_PREFIX), line
        return proc, line.removeprefix(READY_PREFIX)

    async def stop(proc: asyncio.subprocess.Process) -> None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)

    proc, url = await start()
    try:
        async with ToncenterChain(url, timeout=5) as api:
            await api.fund(ALICE, 5 * 10**9)
            await api.advance_time(7)
    finally:
        await stop(proc)
    proc, url = await start()
    try:
        async with ToncenterChain(url, timeout=5) as api:
            assert (await api.get_account(ALICE)).balance == 5 * 10**9
            assert await api.get_time() == T0 + 7
    finally:
        await stop(proc)


async def test_config_params_match_the_local_config(local: LocalChain, api: ToncenterChain) -> None:
    gas = await api.get_config_param(21)  # basechain gas prices
    assert gas == local.get_config_param(21) and gas is not None
    version = (await api.get_config_param(8)).begin_parse()
    assert version.load_uint(8) == 0xC4 and version.load_uint(32) == 12  # global version 12
    with pytest.raises(ChainError, match="not set"):
        await api.get_config_param(999)

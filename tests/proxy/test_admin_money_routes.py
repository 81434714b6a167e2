"""The worker's ``POST /payout`` and the client daemon's ``POST /payments/...`` on a real local chain
(the parties of `test_channels_onchain`): without the node's admin token they answer 401 and nothing
is sent on chain; with it they cash out / top up as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from test_channels_onchain import WORKER_WALLET, Parties
from test_channels_onchain import parties as parties  # the fixture

from cocoon.client.admin_app import make_client_admin_app
from cocoon.client.fake_backend import FakeBackend
from cocoon.client.payment_routes import add_payment_routes
from cocoon.client.serving import ClientServing
from cocoon.engine.memory import MemoryEngine
from cocoon.node.admin_token import AdminToken
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import WORKER_CHANNEL
from cocoon.roles import WorkerConfig
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON
from cocoon.worker.service import WorkerService, make_stats_app

WRONG = ({}, {"Authorization": "Bearer nope"}, {"X-Cocoon-Admin-Token": "nope"})


async def worker_http(parties: Parties, token: AdminToken) -> AsyncIterator[TestClient]:
    config = WorkerConfig(proxies=[])
    service = WorkerService(
        config, MemoryEngine(), make_identity("", "fake"), make_policy("fake"), parties.worker
    )
    async with TestClient(TestServer(make_stats_app(service, token))) as http:
        yield http


async def test_the_workers_payout_needs_the_admin_token(parties: Parties, tmp_path: Path) -> None:
    total = parties.request("r1", 300, 200)
    await parties.commit()
    parties.worker.on_update(
        parties.settlement.contract.raw, parties.update(WORKER_CHANNEL, WORKER_WALLET.raw)
    )
    token = AdminToken.of_data_dir(tmp_path / "worker")
    assert token.token is not None and token.path is not None
    async for http in worker_http(parties, token):
        for headers in WRONG:
            refused = await http.post("/payout", headers=headers)
            assert refused.status == 401 and str(token.path) in (await refused.json())["error"]
        assert parties.worker_sender.paid_to(WORKER_WALLET) == 0  # nothing was submitted
        assert (await http.get("/jsonstats")).status == 200  # read-only stays open
        done = await http.post("/payout", headers={"Authorization": f"Bearer {token.token}"})
        assert done.status == 200 and (await done.json())["submitted"] == 1
    assert parties.worker_sender.paid_to(WORKER_WALLET) == total * 19


def client_balance(parties: Parties) -> int:
    channel = parties.client.channels[parties.settlement.contract.raw]
    data = parties.world.local.account(channel.contract).data
    assert data is not None
    return ClientData.from_cell(data).balance


async def test_the_client_daemons_payments_need_the_admin_token(parties: Parties, tmp_path: Path) -> None:
    token = AdminToken.of_data_dir(tmp_path / "client")
    assert token.token is not None
    app = web.Application()
    add_payment_routes(app, parties.client, token)
    before, counters = client_balance(parties), dict(parties.client.counters)
    async with TestClient(TestServer(app)) as http:
        for action in ("topup", "withdraw", "close"):
            for headers in WRONG:
                refused = await http.post(f"/payments/{action}", json={"nano": TON}, headers=headers)
                assert refused.status == 401, action
        assert client_balance(parties) == before and parties.client.counters == counters
        assert (await http.get("/payments")).status == 200  # showing the balance moves nothing
        done = await http.post(
            "/payments/topup", json={"nano": TON}, headers={"X-Cocoon-Admin-Token": token.token}
        )
        assert done.status == 200, await done.text()
    assert client_balance(parties) == before + TON


async def test_the_client_admin_server_serves_the_payments_behind_the_token(
    parties: Parties, tmp_path: Path
) -> None:
    token = AdminToken.of_data_dir(tmp_path / "client")
    app = make_client_admin_app(ClientServing(FakeBackend()), parties.client, token)
    before = client_balance(parties)
    async with TestClient(TestServer(app)) as http:
        shown = await (await http.get("/payments")).json()
        assert parties.settlement.contract.raw in shown["channels"]
        assert (await http.post("/payments/topup", json={"nano": TON})).status == 401
        assert client_balance(parties) == before
        assert (await http.get("/healthz")).status == 200 and (await http.get("/metrics")).status == 200

"""The proxy's admin POSTs on a real local chain (the settlement of `test_onchain`): without its admin
token, or with a wrong one, `/request/charge`, `/request/payout` and `/request/close` answer 401 and
move nothing; with it they settle as before. The read-only routes stay open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_onchain import CLIENT_OWNER, PRICE, WORKER_OWNER, World, contract_data, record

from cocoon.node.admin_token import AdminToken
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService, make_stats_app
from cocoon.roles import ProxyConfig
from cocoon.ton.address import Address
from cocoon.ton.data import ClientData
from cocoon.ton.ops import TON


@dataclass
class Admin:
    http: TestClient
    world: World
    service: ProxyService
    token: AdminToken
    client: Address


@pytest.fixture
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    world = World(tmp_path)
    ledger = Ledger(world.db)
    settlement = world.settlement(ledger)
    await settlement.start()
    await settlement.wait_ready(5)
    client = world.open_client(settlement.contract, 3 * TON)
    world.open_worker(settlement.contract)
    await settlement.tick()
    record(ledger, settlement, "r1", 1000)
    config = ProxyConfig(worker_port=0, client_port=0, cocoon_port=-1, data_dir=str(tmp_path / "proxy"))
    identity = make_identity("", "fake")
    service = ProxyService(config, identity, make_policy("fake"), make_policy("any"), ledger, settlement)
    token = AdminToken.of_data_dir(config.data_dir)
    await service.start()
    try:
        async with TestClient(TestServer(make_stats_app(service, token))) as http:
            yield Admin(http, world, service, token, client)
    finally:
        await service.aclose()


def charged_tokens(admin: Admin) -> int:
    return ClientData.from_cell(contract_data(admin.world, admin.client)).tokens_used


@pytest.mark.parametrize("path", ["/request/charge", "/request/payout", "/request/close"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-Cocoon-Admin-Token": "wrong"},
        {"Authorization": "Basic eDp5"},
    ],
)
async def test_an_admin_post_without_the_token_is_refused_and_moves_nothing(
    admin: Admin, path: str, headers: dict[str, str]
) -> None:
    response = await admin.http.post(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = (await response.json())["error"]
    assert str(admin.token.path) in error and "admin token" in error
    assert charged_tokens(admin) == 0
    assert admin.world.sender.paid_to(WORKER_OWNER) == 0 and admin.world.sender.paid_to(CLIENT_OWNER) == 0
    assert admin.service.chain is not None and admin.service.chain.refusal is None  # no close asked


@pytest.mark.parametrize("header", ["Authorization", "X-Cocoon-Admin-Token"])
async def test_with_the_token_the_charge_settles(admin: Admin, header: str) -> None:
    assert admin.token.token is not None
    value = f"Bearer {admin.token.token}" if header == "Authorization" else admin.token.token
    response = await admin.http.post("/request/charge", headers={header: value})
    assert response.status == 200, await response.text()
    charged = ClientData.from_cell(contract_data(admin.world, admin.client))
    assert (charged.tokens_used, charged.balance) == (1000, 3 * TON - 1000 * PRICE)


async def test_the_read_only_routes_stay_open(admin: Admin) -> None:
    for path in ("/healthz", "/jsonstats", "/metrics", "/close"):
        assert (await admin.http.get(path)).status == 200, path


async def test_a_stats_app_without_a_token_admits_no_admin_post(admin: Admin) -> None:
    async with TestClient(TestServer(make_stats_app(admin.service))) as http:
        assert admin.token.token is not None
        response = await http.post(
            "/request/charge", headers={"Authorization": f"Bearer {admin.token.token}"}
        )
        assert response.status == 401 and "without data_dir" in (await response.json())["error"]
    assert charged_tokens(admin) == 0

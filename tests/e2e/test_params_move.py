"""A root params change on a real local network (`cocoon up`, every node its own process): the proxy
deploys a contract under the new params by itself and serves on it, the worker and the client move to
new contracts and a request is charged at the new price; the old proxy contract is closed in the
background: the client gets back exactly its remaining balance, the worker's owner exactly its share,
and after the close delay (the chain's clock moved on) the proxy's owner the commission and stake."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from chainproc import chain_url, client_data, on_chain, payouts, proxy_data, worker_data
from netproc import RunningNet, get_json, start_net, stop_net
from test_proxy_close import balance
from test_settlement import FAST, PRICE, WORKER_FEE, ask, parties

from waiting import wait_until_sync

NEW_PRICE, NEW_FEE = 31, 29
ENV = {
    **FAST,
    "COCOON_ROOT_POLL_INTERVAL_S": "0.5",
    "COCOON_PROXY_WATCH_INTERVAL_S": "0.5",
}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[RunningNet]:
    running = start_net(tmp_path / "net", workers=1, env=ENV)
    try:
        yield running
    finally:
        stop_net(running)


def proxy_chain(net: RunningNet) -> Any:
    return net.proxy_stats()["chain"]


def old_contracts(net: RunningNet) -> list[Any]:
    return list(get_json(f"http://127.0.0.1:{11000 + net.base}/jsonstats")["old_contracts"])


def set_fees(net: RunningNet, price: int, fee: int) -> str:
    root = tomllib.loads((net.data_dir / "config" / "proxy.toml").read_text())["root_address"]
    argv = [sys.executable, "-m", "cocoon.cli.main", "root", "set-fees", str(price), str(fee)]
    argv += ["--key", str(net.data_dir / "root-owner" / "wallet.key"), "--chain-url", chain_url(net)]
    argv += ["--root", root]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def answered(net: RunningNet, answers: list[dict[str, Any]]) -> bool:
    try:
        answers.append(ask(net, "a question under the new params"))
    except openai.APIError:
        return False  # the client or the worker is still moving to the new contracts
    return True


def test_a_params_change_redeploys_the_proxy_and_closes_its_old_contract_exactly(net: RunningNet) -> None:
    proxy, proxy_wallet, client, client_wallet, worker_wallet = parties(net)
    tokens = sum(ask(net, f"question number {i}")["adjusted_tokens"] for i in range(3))
    assert tokens > 0
    before = client_data(net, client)
    assert before.tokens_used == 0  # nothing charged yet: the old contract's close charges it all
    worker_contract = net.worker_stats(1)["payouts"]["channels"][proxy]["contract"]

    set_fees(net, NEW_PRICE, NEW_FEE)
    wait_until_sync(lambda: proxy_chain(net)["proxy_contract"] != proxy, 60, what="the proxy redeployed")
    new = proxy_chain(net)["proxy_contract"]
    log = (net.data_dir / "logs" / "proxy.log").read_text()
    assert "params_version rose 1 -> 2 (price 20 -> 31" in log
    assert f"deploying proxy contract {new}, closing {proxy}" in log

    # the old contract: one signed refund, one last payout, each exact; then it waits out the delay
    wait_until_sync(
        lambda: [c["phase"] for c in old_contracts(net)] == ["waiting"], 60, what="the old close to wait"
    )
    refunded = client_data(net, client)
    assert (refunded.state, refunded.tokens_used, refunded.balance) == (2, tokens, 0)
    assert payouts(net, client_wallet, proxy) == before.balance - tokens * PRICE  # exactly the rest
    paid = worker_data(net, worker_contract)
    assert (paid.state, paid.tokens) == (2, tokens)
    assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE  # exactly its share
    waiting = proxy_data(net, proxy)
    assert waiting.state == 1 and waiting.balance == tokens * (PRICE - WORKER_FEE)  # the commission, kept
    held = balance(net, proxy)

    # served under the new params, on new contracts, counted from zero
    answers: list[dict[str, Any]] = []
    wait_until_sync(lambda: answered(net, answers), 60, what="a request on the new contracts", poll_s=0.5)
    third = answers[0]
    assert third["total_cost"] == third["adjusted_tokens"] * NEW_PRICE
    pay = get_json(f"http://127.0.0.1:{10000 + net.base}/payments")
    new_client = pay["channels"][new]["contract"]
    assert new_client != client
    # automatic top-ups are on: the new contract's opening is its only top-up, no upkeep round adds one
    # while the opening lands (nothing is charged on chain yet, and one stake is never low)
    opened = client_data(net, new_client)
    assert opened.balance == opened.stake and pay["top_ups"] == 2  # one opening per contract
    assert proxy_chain(net)["channels"][f"client:{client_wallet}"]["tokens_max"] == third["adjusted_tokens"]

    # after the delay on the chain's clock the old close completes: commission + stake to the owner
    left = old_contracts(net)[0]["seconds_left"]
    assert 0 < left <= 600
    on_chain(net, lambda chain: chain.advance_time(left))  # type: ignore[attr-defined]
    wait_until_sync(lambda: proxy_data(net, proxy).state == 2, 60, what="the old contract closed")
    wait_until_sync(lambda: not old_contracts(net), 30, what="the proxy done with its old contract")
    assert balance(net, proxy) == 0
    received = payouts(net, proxy_wallet, proxy)  # no withdrawal before: only the close's payout
    assert received > waiting.balance + waiting.stake  # commission + stake (+ the contract's reserve)
    assert held - received < 10**7  # all it held, less the close transaction's fees (< 0.01 TON)
    # nothing paid twice
    assert payouts(net, client_wallet, proxy) == before.balance - tokens * PRICE
    assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE

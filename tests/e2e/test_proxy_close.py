"""`cocoon proxy close` on a real local network (`cocoon up`): after requests are served, the proxy
takes no more, the client gets back exactly its remaining balance, the worker's owner exactly its share,
the close delay is waited out (the chain's clock is moved on, not waited for) and the proxy's owner
receives the commission and the stake; the contract ends closed. The owner's path closes a stopped
proxy's contract, and the proxy's next start finishes the close without paying anything twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chainproc import chain_url, client_data, on_chain, payouts, proxy_data, worker_data
from netproc import RunningNet, alive, get_json, http, start_net, stop_net
from test_settlement import FAST, PRICE, WORKER_FEE, _proxy_pid, _restart_proxy, ask, parties

from cocoon.ton.address import Address
from cocoon.ton.chain import Chain
from waiting import wait_until_sync

ENV = {**FAST, "COCOON_AUTO_TOP_UP": "false"}  # the client's balance moves only by charges and the refund


@pytest.fixture
def net(tmp_path: Path) -> Iterator[RunningNet]:
    running = start_net(tmp_path / "net", workers=1, env=ENV)
    try:
        yield running
    finally:
        stop_net(running)


def close_status(net: RunningNet) -> Any:
    return get_json(f"http://127.0.0.1:{11000 + net.base}/close")


def balance(net: RunningNet, address: str) -> int:
    async def read(chain: Chain) -> int:
        return (await chain.get_account(Address.parse(address))).balance

    return on_chain(net, read)


def test_proxy_close_refunds_pays_waits_and_withdraws_exactly(net: RunningNet) -> None:
    proxy, proxy_wallet, client, client_wallet, worker_wallet = parties(net)
    tokens = sum(ask(net, f"question number {i}")["adjusted_tokens"] for i in range(5))
    assert tokens > 0
    before = client_data(net, client)
    assert before.tokens_used == 0  # nothing charged yet: the close charges it all
    served = net.worker_stats(1)["requests"]

    argv = [sys.executable, "-m", "cocoon.cli.main", "proxy", "close"]
    argv += ["--url", f"http://127.0.0.1:{11000 + net.base}", "--poll-s", "0.2"]
    argv += ["--data-dir", str(net.data_dir / "proxy")]  # where its admin token is
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_sync(lambda: close_status(net)["phase"] == "waiting", 60, what="the close to wait")
        # no new requests: refused before any worker sees them
        body = b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}]}' % net.model.encode()
        status, _ = http("POST", f"{net.base_url}/chat/completions", body)
        assert status != 200 and net.worker_stats(1)["requests"] == served

        refunded = client_data(net, client)
        assert (refunded.state, refunded.tokens_used, refunded.balance) == (2, tokens, 0)
        assert payouts(net, client_wallet, proxy) == before.balance - tokens * PRICE  # exactly the rest
        worker_contract = net.worker_stats(1)["payouts"]["channels"][proxy]["contract"]
        paid = worker_data(net, worker_contract)
        assert (paid.state, paid.tokens) == (2, tokens)
        assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE  # exactly its share
        waiting = proxy_data(net, proxy)
        assert waiting.state == 1 and waiting.balance == tokens * (PRICE - WORKER_FEE)  # the commission, kept
        assert waiting.stake == 10**9
        held = balance(net, proxy)

        left = close_status(net)["seconds_left"]
        assert 0 < left <= 600
        on_chain(net, lambda chain: chain.advance_time(left))  # type: ignore[attr-defined]
        out, err = cli.communicate(timeout=60)
    finally:
        if cli.poll() is None:
            cli.kill()
    text = out.decode()
    assert cli.returncode == 0, err.decode()
    assert "waiting out the proxy close delay" in text and "s left on the chain's clock" in text
    assert "closed: the proxy contract" in text

    closed = proxy_data(net, proxy)
    assert closed.state == 2 and balance(net, proxy) == 0
    received = payouts(net, proxy_wallet, proxy)  # no withdrawal before: only the close's payout
    assert received > waiting.balance + waiting.stake  # commission + stake (+ the contract's reserve)
    assert held - received < 10**7  # all it held, less the close transaction's fees (< 0.01 TON)


def test_the_owners_close_of_a_stopped_proxy_is_finished_by_its_next_start(net: RunningNet) -> None:
    proxy, proxy_wallet, client, client_wallet, worker_wallet = parties(net)
    tokens = sum(ask(net, f"question {i}")["adjusted_tokens"] for i in range(3))
    before = client_data(net, client)
    killed = _proxy_pid(net)
    os.kill(killed, signal.SIGKILL)  # the proxy is down; its owner closes the contract anyway
    wait_until_sync(lambda: not alive(killed), 10, what="the killed proxy is gone")
    key = net.data_dir / "proxy" / "wallet.key"  # the local network's proxy is owned by its own wallet
    argv = [sys.executable, "-m", "cocoon.cli.main", "proxy", "close", "--owner-key", str(key)]
    argv += [
        "--contract",
        proxy,
        "--chain-url",
        chain_url(net),
        "--url",
        f"http://127.0.0.1:{11000 + net.base}",
    ]
    done = subprocess.run(argv, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert "sent owner_proxy_close" in done.stdout.decode()
    assert "its next `cocoon proxy run` finishes the close" in done.stdout.decode()
    assert proxy_data(net, proxy).state == 1

    restarted = _restart_proxy(net)
    try:
        wait_until_sync(lambda: _phase(net) == "waiting", 60, what="the restarted proxy to settle the close")
        assert payouts(net, client_wallet, proxy) == before.balance - tokens * PRICE
        assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE
        on_chain(net, lambda chain: chain.advance_time(close_status(net)["seconds_left"]))  # type: ignore[attr-defined]
        wait_until_sync(lambda: _phase(net) == "closed", 30, what="the close to complete")
        assert proxy_data(net, proxy).state == 2 and balance(net, proxy) == 0
        assert payouts(net, proxy_wallet, proxy) > tokens * (PRICE - WORKER_FEE) + 10**9
        # the refund and the payout were not sent twice by the restart
        assert payouts(net, client_wallet, proxy) == before.balance - tokens * PRICE
        assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)


def _phase(net: RunningNet) -> str | None:
    try:
        return str(close_status(net)["phase"])
    except OSError:
        return None  # the restarted proxy is not listening yet

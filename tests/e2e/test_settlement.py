"""Settlement on chain with real processes (`cocoon up` with its local chain): requests are paid from
the client contract, the worker's owner and the proxy's owner receive exactly their shares, a closing
client gets back exactly its remaining balance, an exhausted stake gets 402, and a proxy killed with
SIGKILL under load and restarted loses no charge and double-charges nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
import pytest
from chainproc import client_data, client_payments, payouts, proxy_data, worker_data
from netproc import RunningNet, alive, get_json, http, start_net, stop_net

from waiting import wait_until_sync

PRICE, WORKER_FEE = 20, 19  # the local network's params (cocoon.registry.owner.local_params)
NEVER = str(10**15)  # thresholds no test reaches: money moves only when forced
FAST = {
    "COCOON_COMMIT_INTERVAL_S": "1",
    "COCOON_SETTLE_INTERVAL_S": "1",
    "COCOON_CHARGE_THRESHOLD_NANO": NEVER,
    "COCOON_PAYOUT_THRESHOLD_NANO": NEVER,
    "COCOON_WITHDRAW_THRESHOLD_NANO": NEVER,
}


@pytest.fixture
def net(tmp_path: Path) -> Iterator[RunningNet]:
    running = start_net(tmp_path / "net", workers=1, env=FAST)
    try:
        yield running
    finally:
        stop_net(running)


def ask(net: RunningNet, text: str, max_tokens: int = 20) -> dict[str, Any]:
    with openai.OpenAI(base_url=net.base_url, api_key="unused", max_retries=0, timeout=60) as api:
        answer = api.chat.completions.create(
            model=net.model, messages=[{"role": "user", "content": text}], max_tokens=max_tokens
        )
    assert answer.usage is not None
    return answer.usage.model_extra or {}


def force_settlement(net: RunningNet) -> Any:
    url = f"http://127.0.0.1:{11000 + net.base}/request/charge"
    status, body = http("POST", url, b"", timeout=60, headers=net.admin_headers("proxy"))
    assert status == 200, body
    return body


def parties(net: RunningNet) -> tuple[str, str, str, str, str]:
    """(proxy contract, proxy wallet, client contract, client wallet, worker wallet)."""
    chain = net.proxy_stats()["chain"]
    pay = client_payments(net)
    client_contract = pay["channels"][chain["proxy_contract"]]["contract"]
    worker = net.worker_stats(1)["payouts"]
    return chain["proxy_contract"], chain["wallet"], client_contract, pay["wallet"], worker["wallet"]


def test_requests_are_settled_exactly_and_the_close_refunds_the_rest(net: RunningNet) -> None:
    proxy, proxy_wallet, client, client_wallet, worker_wallet = parties(net)
    before = client_data(net, client)
    assert before.state == 0 and before.tokens_used == 0
    usages = [ask(net, f"question number {i}") for i in range(8)]
    tokens = sum(u["adjusted_tokens"] for u in usages)
    cost = sum(u["total_cost"] for u in usages)
    assert tokens > 0 and cost == tokens * PRICE

    force_settlement(net)
    after = client_data(net, client)
    assert after.tokens_used == tokens
    assert before.balance - after.balance == cost  # the client contract was charged exactly the costs
    worker_contract = net.worker_stats(1)["payouts"]["channels"][proxy]["contract"]
    assert worker_data(net, worker_contract).tokens == tokens
    assert payouts(net, worker_wallet, proxy) == tokens * WORKER_FEE
    assert payouts(net, proxy_wallet, proxy) == tokens * (PRICE - WORKER_FEE)  # the commission, withdrawn
    assert proxy_data(net, proxy).balance == 0

    close = f"http://127.0.0.1:{10000 + net.base}/payments/close"
    status, refused = http("POST", close, b"{}", timeout=60)  # the client's TON moves with its token only
    assert status == 401 and "admin.token" in refused["error"]
    status, _ = http("POST", close, b"{}", timeout=60, headers=net.admin_headers("client"))
    assert status == 200
    wait_until_sync(lambda: client_data(net, client).state == 2, 30, what="the client contract to close")
    assert payouts(net, client_wallet, proxy) == after.balance  # exactly the remaining balance
    closed = client_data(net, client)
    assert (closed.balance, closed.tokens_used) == (0, tokens)


def test_an_exhausted_stake_gets_402_and_reaches_no_worker(tmp_path: Path) -> None:
    # No automatic top-up and a first top-up of 0.03 TON: 1.5M tokens of credit at 20 nanoTON.
    env = {**FAST, "COCOON_AUTO_TOP_UP": "false", "COCOON_TOP_UP_NANO": "30000000"}
    net = start_net(tmp_path / "net", workers=1, env=env)
    try:
        ask(net, "a small request fits")
        served = net.worker_stats(1)["requests"]
        # the worst case of max_tokens 1M at the default max coefficient (4x) is 4M tokens: no credit
        body = b'{"model": "%s", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000000}'
        status, answer = http("POST", f"{net.base_url}/chat/completions", body % net.model.encode())
        assert status == 402, answer
        assert "top up" in answer["error"]["message"]
        assert net.worker_stats(1)["requests"] == served  # nothing reached the worker
    finally:
        stop_net(net)


def _proxy_pid(net: RunningNet) -> int:
    return int(net.proxy_stats()["pid"])


def _restart_proxy(net: RunningNet) -> subprocess.Popen[bytes]:
    config = net.data_dir / "config" / "proxy.toml"
    argv = [sys.executable, "-m", "cocoon.cli.main", "proxy", "run", "-c", str(config)]
    with (net.data_dir / "logs" / "proxy-restarted.log").open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **FAST})


def test_sigkill_under_load_loses_no_charge_and_double_charges_nothing(net: RunningNet) -> None:
    proxy, _, client, _, _ = parties(net)
    results: list[dict[str, Any] | None] = []

    def one(i: int) -> dict[str, Any] | None:
        try:
            return ask(net, f"load {i}")
        except openai.APIError:
            return None  # failed while the proxy was down

    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(one, i) for i in range(40)]
        # under load: answers are flowing and more requests are queued behind those in flight
        wait_until_sync(lambda: sum(f.done() for f in futures) >= 4, 60, what="the first answers")
        killed = _proxy_pid(net)
        os.kill(killed, signal.SIGKILL)
        results = [f.result() for f in futures]
    restarted = _restart_proxy(net)
    try:
        wait_until_sync(
            lambda: len(get_json(f"{net.base_url}/models")["data"]) > 0, 60, what="the restarted proxy"
        )
        assert _proxy_pid(net) == restarted.pid != killed
        after = [ask(net, f"after {i}") for i in range(4)]
        force_settlement(net)
        done = [r for r in results if r is not None] + after
        tokens = sum(r["adjusted_tokens"] for r in done)
        charged = client_data(net, client).tokens_used
        ledger = net.proxy_stats()["chain"]["channels"]
        channel = next(v for k, v in ledger.items() if k.startswith("client:"))
        # Everything answered is charged once; a request cut by the kill is charged only if the
        # proxy had recorded it (then its tokens are in the proxy's durable channel total too).
        assert charged == channel["committed_to_chain"] == channel["tokens_max"]
        largest = max(r["adjusted_tokens"] for r in done)
        assert tokens <= charged <= tokens + 4 * largest  # at most the 4 requests in flight at the kill
        worker_contract = net.worker_stats(1)["payouts"]["channels"][proxy]["contract"]
        assert worker_data(net, worker_contract).tokens == charged  # the worker is paid for the same
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)


def test_a_proxy_started_on_an_older_copy_of_its_database_refuses(net: RunningNet, tmp_path: Path) -> None:
    db = net.data_dir / "proxy" / "state.db"
    ask(net, "before the copy")
    force_settlement(net)
    old = tmp_path / "old.db"
    with sqlite3.connect(db) as src, sqlite3.connect(old) as dst:
        src.backup(dst)
    ask(net, "after the copy")
    force_settlement(net)  # later commits reach the chain
    killed = _proxy_pid(net)
    os.kill(killed, signal.SIGKILL)
    wait_until_sync(lambda: not alive(killed), 10, what="the killed proxy is gone")  # no writer is left
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    old.rename(db)
    restarted = _restart_proxy(net)
    try:
        code = restarted.wait(timeout=90)
    except subprocess.TimeoutExpired:
        restarted.kill()
        raise
    log = (net.data_dir / "logs" / "proxy-restarted.log").read_text()
    assert code == 1
    assert "older copy of its database" in log

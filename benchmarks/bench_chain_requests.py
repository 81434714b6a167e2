"""Chain requests per minute of each role, at idle and under 10 requests/s, with the default intervals.

Starts `cocoon up --engine fake --workers 1` (real processes, the local chain) with every polling
interval reset to the roles' defaults (`cocoon up` writes faster ones for the local chain) and
``chain = "local"`` (no request budget, so the figures are what the nodes ask for, not what a bucket let
through). Then reads the chain request counters of each node's ``/jsonstats`` before and after an idle
window and a window of 10 chat requests per second, and prints requests per minute by method.

A key-less toncenter allows ~60 requests/minute per node, one with an API key ~600.

    .venv/bin/python benchmarks/bench_chain_requests.py [--seconds 60] [--rate 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the wait helper netproc uses
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "e2e"))

from netproc import RunningNet, get_json, start_net, stop_net

from cocoon.roles import ClientConfig, ProxyConfig, WorkerConfig

DEFAULTS = {
    "COCOON_CHAIN": "local",
    "COCOON_CHAIN_POLL_INTERVAL_S": str(ProxyConfig().chain_poll_interval_s),
    "COCOON_SETTLE_INTERVAL_S": str(ProxyConfig().settle_interval_s),
    "COCOON_ROOT_POLL_INTERVAL_S": str(ProxyConfig().root_poll_interval_s),
    "COCOON_WALLET_POLL_INTERVAL_S": str(ProxyConfig().wallet_poll_interval_s),
    "COCOON_PAYMENTS_INTERVAL_S": str(ClientConfig().payments_interval_s),
    "COCOON_CASH_OUT_INTERVAL_S": str(WorkerConfig().cash_out_interval_s),
    "COCOON_PROXY_WATCH_INTERVAL_S": str(WorkerConfig().proxy_watch_interval_s),
}


def counts(net: RunningNet) -> dict[str, Counter[str]]:
    """Chain requests so far by role and method, from the nodes' /jsonstats."""
    client = get_json(f"http://127.0.0.1:{10000 + net.base}/payments")["chain_requests"]
    return {
        "proxy": Counter(net.proxy_stats()["chain"]["requests"]["by_method"]),
        "worker": Counter(net.worker_stats(1)["payouts"]["chain_requests"]["by_method"]),
        "client": Counter(client["by_method"]),
    }


def per_minute(
    before: dict[str, Counter[str]], after: dict[str, Counter[str]], seconds: float
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for role in before:
        delta = after[role] - before[role]
        out[role] = {
            "per_minute": round(sum(delta.values()) * 60 / seconds, 1),
            "by_method": {m: round(n * 60 / seconds, 1) for m, n in sorted(delta.items())},
        }
    return out


def load(net: RunningNet, rate: float, seconds: float) -> int:
    """Send ``rate`` chat requests per second for ``seconds``; the number answered."""
    body = json.dumps(
        {"model": net.model, "messages": [{"role": "user", "content": "hi there"}], "max_tokens": 16}
    ).encode()
    done = []

    def one() -> None:
        request = urllib.request.Request(
            f"{net.base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
            done.append(1)

    threads = []
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        thread = threading.Thread(target=one)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return len(done)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = start_net(Path(tmp) / "net", engine="fake", workers=1, env=DEFAULTS)
        try:
            load(net, 1, 2)  # the client contract and the channels exist before the idle window
            time.sleep(5)
            first = counts(net)
            time.sleep(args.seconds)
            idle = counts(net)
            answered = load(net, args.rate, args.seconds)
            busy = counts(net)
        finally:
            stop_net(net)
    print(json.dumps({"intervals": DEFAULTS}, indent=1))
    print(f"idle, {args.seconds:g} s:", json.dumps(per_minute(first, idle, args.seconds), indent=1))
    print(f"{args.rate:g} requests/s ({answered} answered):")
    print(json.dumps(per_minute(idle, busy, args.seconds), indent=1))


if __name__ == "__main__":
    main()

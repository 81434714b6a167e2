"""The proxy's and the worker's HTML status pages (``GET /`` and ``/status`` of their stats servers).

A live network in one process (`in_process_network`) whose worker's engine names its model with
markup: the pages are rendered by Debian's headless Chromium, and the figures it shows are the ones
``/jsonstats`` reports at the same moment; the hostile model name is shown as text, never as markup.
The renderers are also checked alone on a chain proxy's and a leaving worker's facts.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.proxy.status_page import render_proxy_status
from cocoon.worker.status_page import render_worker_status
from inprocess import in_process_network

HOSTILE = 'evil<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
"""A worker-supplied model name that would run script if a page put it in unescaped."""

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def get(url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        return response.content_type, await response.text()


async def jsonstats(port: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/jsonstats") as response:
        assert response.status == 200
        result: dict[str, Any] = await response.json()
        return result


async def browser_dom(url: str, profile: Path) -> str:
    """The DOM Chromium built from ``url`` (run without blocking: the servers share this loop)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed: `make browser` (as root) installs it")
    process = await asyncio.create_subprocess_exec(
        chromium,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0
    return out.decode()


def cell_after(dom: str, label: str) -> str:
    """The value of the card labelled ``label``."""
    found = re.search(r'<div class="v">([^<]*)</div><div class="k">' + re.escape(label) + "</div>", dom)
    assert found is not None, f"no card {label!r}"
    return found.group(1)


def assert_inert(dom: str) -> None:
    """The hostile model name is text in the DOM: no script or image element came from it."""
    assert "<script" not in dom and "<img" not in dom and "pwned" not in dom.split("</title>")[0]
    assert "evil&lt;script&gt;" in dom


async def test_proxy_and_worker_pages_in_a_real_browser(tmp_path: Path) -> None:
    engine = MemoryEngine(FakeEngineConfig(model=HOSTILE))
    async with in_process_network(tmp_path, [engine], client_settings={"e2e": "off"}) as net:
        messages = [{"role": "user", "content": "one two three"}]
        await net.sdk.chat.completions.create(model=HOSTILE, messages=messages, max_tokens=4)
        proxy_port, worker_port = net.proxy.http_port, net.workers[0].http_port
        for port in (proxy_port, worker_port):
            for path in ("/", "/status"):
                kind, text = await get(f"http://127.0.0.1:{port}{path}")
                assert kind == "text/html" and "<script" not in text
        proxy_dom = await browser_dom(f"http://127.0.0.1:{proxy_port}/", tmp_path / "p1")
        worker_dom = await browser_dom(f"http://127.0.0.1:{worker_port}/status", tmp_path / "p2")
        proxy_stats, worker_stats = await jsonstats(proxy_port), await jsonstats(worker_port)

    assert "<h1>cocoon proxy</h1>" in proxy_dom
    assert_inert(proxy_dom)
    routing = proxy_stats["routing"]
    assert routing["succeeded"] == 1
    assert cell_after(proxy_dom, "workers connected") == "1" == str(len(proxy_stats["workers"]))
    assert cell_after(proxy_dom, "requests routed") == str(routing["routed"])
    assert cell_after(proxy_dom, "succeeded / failed") == f"{routing['succeeded']} / {routing['failed']}"
    (worker,) = proxy_stats["workers"]
    assert worker["model"] == HOSTILE and worker["max_active"] == 8
    assert f"<td>{worker['active']} / {worker['max_active']}</td>" in proxy_dom  # slots
    assert f"<td>{worker['latency_s'] * 1000:.0f} ms</td>" in proxy_dom  # learned latency
    assert f"<code>{worker['worker_id']}</code>" in proxy_dom
    (account,) = proxy_stats["ledger"]["clients"]
    assert f"<code>{account['client_id'][:16]}</code>" in proxy_dom
    assert f"<td>{account['charged_tokens']}</td>" in proxy_dom
    assert "runs without a chain" in proxy_dom

    assert "<h1>cocoon worker</h1>" in worker_dom
    assert_inert(worker_dom)
    requests = worker_stats["requests"]
    assert cell_after(worker_dom, "served") == str(requests["served"]) == "1"
    assert cell_after(worker_dom, "engine") == "up"
    assert cell_after(worker_dom, "proxies connected") == "1"
    assert cell_after(worker_dom, "tokens prompt / completion") == (
        f"{requests['prompt_tokens']} / {requests['completion_tokens']}"
    )
    (address,) = worker_stats["proxies"]
    assert f"<code>{address}</code>" in worker_dom
    assert (
        '<span class="ok">connected</span>' in worker_dom and '<span class="ok">serving</span>' in worker_dom
    )


def test_a_chain_proxys_page_shows_contract_params_channels_and_close() -> None:
    stats: dict[str, Any] = {
        "proxy_id": "p<b>",
        "workers": [{"worker_id": "w1", "model": "<b>m</b>", "enabled": False, "active": 2, "max_active": 4}],
        "routing": {"routed": 3, "refused_funds": 2},
        "chain": {
            "proxy_contract": "0:abc",
            "ready": True,
            "params_version": 7,
            "last_seqno": 5,
            "committed_seqno": 4,
            "counters": {"payouts_sent": 1},
            "channels": {"worker:0:def": {"tokens_max": 9, "committed_to_db": 8, "committed_to_chain": 6}},
            "close": {"phase": "refunding", "requested": True, "seconds_left": 60, "pending": [{}]},
        },
    }
    page = render_proxy_status(stats)
    assert "<b>" not in page and "&lt;b&gt;m&lt;/b&gt;" in page and "p&lt;b&gt;" in page
    assert '<span class="bad">disabled</span>' in page and "<td>2 / 4</td>" in page
    assert "<td>params version</td><td>7</td>" in page and "<code>0:abc</code>" in page
    assert "<td>refunding</td>" in page and "<td>60 / 1</td>" in page
    assert "<td>worker</td><td><code>0:def</code></td><td>9</td><td>8</td><td>6</td>" in page
    assert "<td>funds</td><td>2</td>" in page


def test_a_leaving_workers_page_shows_the_disabled_offer_and_payouts() -> None:
    stats: dict[str, Any] = {
        "worker_id": "w",
        "model": "m",
        "engine": {"up": False, "last_failure": "<i>refused</i>"},
        "proxies": {
            "h:1": {"connected": True, "rtt": 0.002, "leaving": "proxy contract closes"},
            "h:2": {"connected": False, "rtt": None, "leaving": None},
        },
        "payouts": {
            "wallet": "0:w",
            "params_version": 3,
            "channels": {
                "0:p": {"signed_tokens": 10, "paid_tokens": 4, "unclaimed_nano": 6000, "leaving": "closes"}
            },
        },
    }
    page = render_worker_status(stats)
    assert "<i>" not in page and "&lt;i&gt;refused&lt;/i&gt;" in page
    assert '<span class="bad">disabled (leaving)</span>' in page and "proxy contract closes" in page
    assert '<span class="bad">down</span>' in page and "<td>2.0 ms</td>" in page
    assert "<td><code>0:p</code></td><td>10</td><td>4</td><td>0.000006</td>" in page
    assert '<span class="bad">leaving: closes</span>' in page

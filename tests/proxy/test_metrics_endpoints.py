"""``GET /metrics`` of a live proxy and worker: the exposition parses, counts what happened, and has
every metric the grafana dashboard in ``deploy/grafana/cocoon.json`` reads.

One network in one process (`in_process_network`): two requests through the official `openai` SDK,
one answered whole and one whose engine fails mid-stream, then a scrape of each stats server.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import openai
import pytest

from cocoon.engine.fake_answer import FAKE_MODEL, FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from inprocess import in_process_network
from prometheus_text import Family, parse, values

DASHBOARD = Path(__file__).parents[2] / "deploy" / "grafana" / "cocoon.json"
_METRIC = re.compile(r"\bcocoon_[a-zA-Z0-9_:]+")
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def dashboard_metrics() -> set[str]:
    """Every metric name the dashboard's queries read."""
    dashboard = json.loads(DASHBOARD.read_text())
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= set(_METRIC.findall(target["expr"]))
    return names


def exposed(families: dict[str, Family]) -> set[str]:
    """The sample names a scrape can be queried by (a histogram's by its three suffixes)."""
    names = set(families)
    for family in families.values():
        if family.kind == "histogram":
            names |= {family.name + suffix for suffix in _HISTOGRAM_SUFFIXES}
    return names


async def scrape(port: int) -> dict[str, Family]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200 and response.content_type == "text/plain"
        return parse(await response.text())


async def test_the_proxy_and_worker_metrics_parse_count_and_cover_the_dashboard(tmp_path: Path) -> None:
    engine = MemoryEngine(FakeEngineConfig())
    async with in_process_network(tmp_path, [engine], client_settings={"e2e": "off"}) as net:
        messages = [{"role": "user", "content": "one two three four"}]
        answer = await net.sdk.chat.completions.create(model=FAKE_MODEL, messages=messages, max_tokens=4)
        assert answer.usage is not None
        engine.config = engine.config.replace({"error_after": 2, "error_status": 500})
        stream = await net.sdk.chat.completions.create(
            model=FAKE_MODEL, messages=messages, max_tokens=4, stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
        proxy = await scrape(net.proxy.http_port)
        worker = await scrape(net.workers[0].http_port)

    wanted = dashboard_metrics()
    assert len(wanted) >= 20  # the dashboard reads both roles, histograms included
    assert {n for n in wanted if n.startswith("cocoon_proxy_")} - exposed(proxy) == set()
    assert {n for n in wanted if n.startswith("cocoon_worker_")} - exposed(worker) == set()
    assert {n for n in wanted if not n.startswith(("cocoon_proxy_", "cocoon_worker_"))} == set()

    requests = values(proxy, "cocoon_proxy_requests_total")
    assert requests[(("outcome", "succeeded"),)] == 1 and requests[(("outcome", "failed"),)] == 1
    assert values(proxy, "cocoon_proxy_errors_total")[(("reason", "upstream"),)] == 1
    tokens = values(proxy, "cocoon_proxy_tokens_total")
    assert tokens[(("kind", "completion"),)] == answer.usage.completion_tokens + 2  # 2 delivered
    assert values(proxy, "cocoon_proxy_first_token_seconds_count") == {(): 2}
    assert values(proxy, "cocoon_proxy_request_seconds_count") == {(): 2}
    assert values(proxy, "cocoon_proxy_active_requests") == {(): 0}
    assert values(proxy, "cocoon_proxy_worker_slots")[(("state", "capacity"),)] > 0
    charged = values(proxy, "cocoon_proxy_charged_nanoton_total")[()]
    ledger = values(proxy, "cocoon_proxy_ledger_nanoton")
    assert charged > 0 and ledger[(("account", "clients_charged"),)] == charged
    commits = values(proxy, "cocoon_proxy_ledger_commits_total")
    assert commits[(("what", "requests"),)] == 2  # both charged: the whole answer and the 2 delivered
    assert 1 <= commits[(("what", "commits"),)] <= 2

    results = values(worker, "cocoon_worker_requests_total")
    assert results[(("result", "served"),)] == 1 and results[(("result", "failed"),)] == 1
    errors = values(worker, "cocoon_worker_errors_total")
    assert errors[(("kind", "engine-failure"),)] == 1 and errors[(("kind", "unmetered"),)] == 1
    worker_tokens = values(worker, "cocoon_worker_tokens_total")
    assert worker_tokens[(("kind", "completion"),)] == tokens[(("kind", "completion"),)]
    assert values(worker, "cocoon_worker_request_seconds_count") == {(): 2}
    assert values(worker, "cocoon_worker_engine_up") == {(): 1}
    assert values(worker, "cocoon_worker_proxies_connected") == {(): 1}

"""API keys, a daily budget and a refused web origin on a real `cocoon up --engine fake` network,
driven by the official openai SDK (``api_key`` goes out as ``Authorization: Bearer``)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from netproc import RunningNet, start_net, stop_net

from cocoon.client.keys import add_key

pytestmark = pytest.mark.slow

MESSAGES: list[Any] = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNet, dict[str, str]]]:
    keys_file = tmp_path_factory.mktemp("keys") / "api_keys.json"
    _, app = add_key(keys_file, name="app", now=0)
    _, capped = add_key(keys_file, name="capped", daily_limit_nano=1, now=0)  # one answer, then 429
    env = {"COCOON_API_KEYS_FILE": str(keys_file), "COCOON_ALLOWED_ORIGINS": '["https://app.example.com"]'}
    running = start_net(tmp_path_factory.mktemp("net"), workers=1, env=env)
    yield running, {"app": app, "capped": capped}
    assert stop_net(running) == 0, running.output()


def sdk(net: RunningNet, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=net.base_url, api_key=key, max_retries=0, timeout=30)


def client_stats(net: RunningNet, key: str) -> Any:
    request = urllib.request.Request(
        net.base_url.removesuffix("/v1") + "/jsonstats", headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())["client"]


def test_keys_budget_and_origins_through_the_network(keyed: tuple[RunningNet, dict[str, str]]) -> None:
    net, secrets = keyed
    with sdk(net, secrets["app"]) as api:
        answer = api.chat.completions.create(model=net.model, messages=MESSAGES, max_tokens=8)
    assert answer.choices[0].message.content and answer.usage is not None
    with sdk(net, "sk-cocoon-wrong") as api, pytest.raises(openai.AuthenticationError):
        api.chat.completions.create(model=net.model, messages=MESSAGES, max_tokens=8)
    with sdk(net, secrets["capped"]) as api:
        api.chat.completions.create(model=net.model, messages=MESSAGES, max_tokens=8)  # under: admitted
        with pytest.raises(openai.RateLimitError, match="daily limit"):
            api.chat.completions.create(model=net.model, messages=MESSAGES, max_tokens=8)
    before = client_stats(net, secrets["app"])
    page = urllib.request.Request(
        f"{net.base_url}/chat/completions",
        data=json.dumps({"model": net.model, "messages": MESSAGES}).encode(),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(page, timeout=5)
    refused.value.close()
    assert refused.value.code == 403
    after = client_stats(net, secrets["app"])
    assert after["requests"]["started"] == before["requests"]["started"] == 2
    assert after["spent_nano"] == before["spent_nano"]
    keys = after["keys"]
    assert keys["app"]["succeeded"] == keys["capped"]["succeeded"] == 1
    assert keys["app"]["spent_nano"] == answer.usage.model_dump()["total_cost"] > 0
    assert keys["capped"]["spent_today_nano"] > keys["capped"]["daily_limit_nano"] == 1
    assert keys["app"]["spent_nano"] + keys["capped"]["spent_nano"] == after["spent_nano"]

"""The three composition roots build a working network in one process: the same functions that
`cocoon worker|proxy|client run` call, with the in-memory engine as the only fake."""

from __future__ import annotations

import ast
from pathlib import Path

import aiohttp
import pytest

from cocoon.engine.fake_answer import FakeEngineConfig
from cocoon.engine.memory import MemoryEngine
from cocoon.errors import ConfigError
from cocoon.proxy.build import build_proxy
from cocoon.roles import ProxyConfig
from inprocess import in_process_network

SRC = Path(__file__).resolve().parents[2] / "src" / "cocoon"


async def test_built_roles_answer_through_the_openai_sdk(tmp_path: Path) -> None:
    engine = MemoryEngine(FakeEngineConfig(chunks=3))
    async with in_process_network(tmp_path, [engine]) as net:
        answer = await net.sdk.chat.completions.create(
            model=FakeEngineConfig().model, messages=[{"role": "user", "content": "one two three"}]
        )
        assert answer.choices[0].message.content
        assert answer.usage is not None and answer.usage.completion_tokens == 3
        cost = answer.usage.model_extra["total_cost"]  # type: ignore[index]
        assert cost > 0
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{net.workers[0].http_port}/jsonstats") as resp:
                stats = await resp.json()
            assert stats["requests"]["served"] == 1
            async with http.get(f"http://127.0.0.1:{net.proxy.http_port}/healthz") as resp:
                assert resp.status == 200 and (await resp.json())["workers"] == 1


async def test_a_second_proxy_on_a_taken_port_says_so(tmp_path: Path) -> None:
    config = ProxyConfig(worker_port=0, client_port=0, http_port=0, data_dir=str(tmp_path / "a"))
    async with build_proxy(config) as first:
        taken = ProxyConfig(
            worker_port=0, client_port=0, http_port=first.http_port, data_dir=str(tmp_path / "b")
        )
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.http_port}"):
            async with build_proxy(taken):
                pass
        # The failed build closed its listeners: the first proxy still serves.
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{first.http_port}/healthz") as resp,
        ):
            assert resp.status == 200


@pytest.mark.parametrize("role", ["worker", "proxy", "client"])
def test_cli_role_modules_hold_no_wiring(role: str) -> None:
    """`cli/<role>.py` parses flags and hands the config to the role's builder: no coroutine of its
    own, so every collaborator is made in `<role>/build.py`."""
    tree = ast.parse((SRC / "cli" / f"{role}.py").read_text())
    coroutines = [node.name for node in ast.walk(tree) if isinstance(node, ast.AsyncFunctionDef)]
    assert coroutines == []
    source = (SRC / "cli" / f"{role}.py").read_text()
    assert f"build_{role}(config)" in source

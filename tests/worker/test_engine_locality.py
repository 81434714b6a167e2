"""Engine locality: a worker refuses an engine outside its loopback (prompts would leave the attested VM
in plain HTTP) unless ``engine_remote_ok`` says the engine runs inside the same VM."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from cocoon.config import load_config
from cocoon.errors import ConfigError
from cocoon.roles import WorkerConfig, field_help
from cocoon.worker.build import build_worker, ensure_local_engine, resolve_host
from cocoon.worker.engine_locality import engine_host, literal_locality


def test_hosts_of_engine_urls() -> None:
    assert engine_host("http://127.0.0.1:8000") == "127.0.0.1"
    assert engine_host("https://[::1]:8443/v1") == "::1"
    assert engine_host("http://LocalHost:8000") == "localhost"
    assert literal_locality("localhost") is True and literal_locality("localhost.") is True
    assert literal_locality("gpu-box") is None and literal_locality("192.168.1.9") is False
    with pytest.raises(ConfigError, match="Unix sockets are not supported"):
        engine_host("unix:///run/engine.sock")
    with pytest.raises(ConfigError, match="names no host"):
        engine_host("http://:8000")
    with pytest.raises(ConfigError, match="not a valid URL"):
        engine_host("http://127.0.0.1:port")


class Resolver:
    """A resolver test double: fixed answers, and the names it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, host: str) -> Sequence[str]:
        self.asked.append(host)
        return self.answers.get(host, [])


async def test_loopback_engines_are_accepted_without_resolving() -> None:
    resolve = Resolver({})
    for url in (
        "http://127.0.0.1:8000",
        "http://127.0.0.2:1",
        "http://[::1]:8000",
        "http://localhost:8000/v1",
    ):
        await ensure_local_engine(WorkerConfig(engine_url=url), resolve)
    assert resolve.asked == []


async def test_a_remote_engine_is_refused_saying_why() -> None:
    with pytest.raises(ConfigError) as refused:
        await ensure_local_engine(WorkerConfig(engine_url="http://10.0.0.5:8000"), Resolver({}))
    message = str(refused.value)
    assert "10.0.0.5 is not a loopback address" in message
    assert "leave the attested VM" in message and "engine_remote_ok = true" in message


async def test_names_are_accepted_only_when_every_address_is_loopback() -> None:
    resolve = Resolver({"engine": ["127.0.0.1", "::1"], "mixed": ["127.0.0.1", "192.168.1.2"]})
    await ensure_local_engine(WorkerConfig(engine_url="http://engine:8000"), resolve)
    with pytest.raises(ConfigError, match=re.escape("resolves to 127.0.0.1, 192.168.1.2, not only loopback")):
        await ensure_local_engine(WorkerConfig(engine_url="http://mixed:8000"), resolve)
    with pytest.raises(ConfigError, match="nowhere does not resolve"):
        await ensure_local_engine(WorkerConfig(engine_url="http://nowhere:8000"), resolve)
    assert resolve.asked == ["engine", "mixed", "nowhere"]


async def test_engine_remote_ok_allows_it_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    config = WorkerConfig(engine_url="http://10.0.0.5:8000", engine_remote_ok=True)
    resolve = Resolver({})
    with caplog.at_level(logging.WARNING, logger="cocoon.worker.build"):
        await ensure_local_engine(config, resolve)
    assert "inside this attested VM" in caplog.text and resolve.asked == []
    with pytest.raises(ConfigError, match="http:// or https://"):  # still a URL the client can use
        await ensure_local_engine(WorkerConfig(engine_url="ftp://x", engine_remote_ok=True), resolve)


def test_the_setting_is_off_by_default_documented_and_loaded() -> None:
    assert WorkerConfig().engine_remote_ok is False
    assert "attested VM" in field_help("engine_remote_ok")
    assert load_config(WorkerConfig, env={"COCOON_ENGINE_REMOTE_OK": "true"}).engine_remote_ok is True


async def test_the_system_resolver_answers_literals_and_fails_closed() -> None:
    assert await resolve_host("127.0.0.1") == ["127.0.0.1"]
    assert await resolve_host("no-such-host.invalid") == []  # RFC 6761: never resolves


async def test_build_worker_refuses_before_opening_anything(tmp_path: Path) -> None:
    config = WorkerConfig(engine_url="http://192.0.2.7:8000", data_dir=str(tmp_path), http_port=0)
    with pytest.raises(ConfigError, match=re.escape("192.0.2.7 is not a loopback address")):
        async with build_worker(config):
            pytest.fail("the worker started with a remote engine")
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - no key, no state written


def test_worker_run_says_why_and_exits_1(tmp_path: Path) -> None:
    config = tmp_path / "worker.toml"
    config.write_text('engine_url = "http://192.0.2.7:8000"\nhttp_port = 0\n')
    run = subprocess.run(
        [sys.executable, "-m", "cocoon.cli.main", "worker", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "error: engine_url http://192.0.2.7:8000 is not on this machine's loopback" in run.stderr

"""The CLI side of the admin token: `cocoon init --data-dir` makes it, and `cocoon worker payout` /
`cocoon proxy close` read it from the node's data dir (or --admin-token) and send it to a running
node's admin server, which answers them past the token (here: 409, as a node without a chain does)."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from cocoon.cli.main import cli
from cocoon.engine.memory import MemoryEngine
from cocoon.node.admin_token import ADMIN_TOKEN_FILE, AdminToken
from cocoon.node.identity import make_identity
from cocoon.node.policy import make_policy
from cocoon.proxy.ledger import Ledger
from cocoon.proxy.service import ProxyService
from cocoon.proxy.service import make_stats_app as proxy_stats_app
from cocoon.roles import ProxyConfig, WorkerConfig
from cocoon.worker.service import WorkerService
from cocoon.worker.service import make_stats_app as worker_stats_app


async def cocoon(*argv: str) -> tuple[int, str]:
    """Run the CLI in its own process (it blocks on HTTP while this loop serves); (exit code, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COCOON_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cocoon.cli.main",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def worker_url(tmp_path: Path) -> AsyncIterator[str]:
    service = WorkerService(
        WorkerConfig(proxies=[]), MemoryEngine(), make_identity("", "fake"), make_policy("fake")
    )
    async for url in serving(worker_stats_app(service, AdminToken.of_data_dir(tmp_path / "worker"))):
        yield url


async def test_worker_payout_sends_the_token_of_the_data_dir(worker_url: str, tmp_path: Path) -> None:
    code, out = await cocoon("worker", "payout", "--http", worker_url, "--data-dir", str(tmp_path / "worker"))
    assert code == 1 and "this worker runs without a chain" in out  # past the token
    token = (tmp_path / "worker" / ADMIN_TOKEN_FILE).read_text().strip()
    code, out = await cocoon("worker", "payout", "--http", worker_url, "--admin-token", token)
    assert code == 1 and "without a chain" in out


async def test_worker_payout_with_another_nodes_token_is_refused(worker_url: str, tmp_path: Path) -> None:
    AdminToken.of_data_dir(tmp_path / "other")
    code, out = await cocoon("worker", "payout", "--http", worker_url, "--data-dir", str(tmp_path / "other"))
    assert code == 1 and "a wrong admin token" in out and ADMIN_TOKEN_FILE in out
    code, out = await cocoon("worker", "payout", "--http", worker_url)
    assert code == 1 and "no admin token: pass --data-dir" in out  # nothing to send: said before any call
    code, out = await cocoon("worker", "payout", "--http", worker_url, "--data-dir", str(tmp_path / "none"))
    assert code == 1 and "no admin token at" in out


async def test_proxy_close_reads_the_token_from_the_configs_data_dir(tmp_path: Path) -> None:
    config = ProxyConfig(worker_port=0, client_port=0, cocoon_port=-1, data_dir=str(tmp_path / "proxy"))
    service = ProxyService(
        config,
        make_identity("", "fake"),
        make_policy("fake"),
        make_policy("any"),
        Ledger(str(tmp_path / "state.db")),
    )
    toml = tmp_path / "proxy.toml"
    toml.write_text(f'data_dir = "{config.data_dir}"\n')
    async for url in serving(proxy_stats_app(service, AdminToken.of_data_dir(config.data_dir))):
        code, out = await cocoon("proxy", "close", "--url", url, "-c", str(toml))
        assert code == 1 and "runs without a chain: nothing to close" in out  # past the token
        code, out = await cocoon("proxy", "close", "--url", url, "--admin-token", "guess")
        assert code == 1 and "a wrong admin token" in out


def test_init_with_a_data_dir_makes_the_token_and_writes_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "proxy"
    result = CliRunner().invoke(
        cli, ["init", "proxy", "--data-dir", str(data), "-o", str(tmp_path / "p.toml")]
    )
    assert result.exit_code == 0, result.output
    token = data / ADMIN_TOKEN_FILE
    assert stat.S_IMODE(token.stat().st_mode) == 0o600 and str(token) in result.output
    text = (tmp_path / "p.toml").read_text()
    assert f'data_dir = "{data}"' in text and 'admin_host = "127.0.0.1"' in text
    before = token.read_text()
    assert CliRunner().invoke(cli, ["init", "proxy", "--data-dir", str(data)]).exit_code == 0
    assert token.read_text() == before  # kept: running nodes and scripts go on using it

"""`cocoon wallet` and `cocoon root` as a user runs them, against a `cocoon chain serve` process."""

from __future__ import annotations

import asyncio
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cocoon.chainsvc.service import READY_PREFIX
from cocoon.registry import model_hash

T0 = 1_750_000_000


async def cocoon(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cocoon.cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def chain_url(tmp_path: Path) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cocoon.cli.main", "chain", "serve", "--port", "0",
        "--data-dir", str(tmp_path / "chain"), "--clock", "manual", "--start-time", str(T0),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert line.startswith(READY_PREFIX), line
        yield line.removeprefix(READY_PREFIX)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def test_wallet_new_writes_a_private_key_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "node.key"
    code, out, _ = await cocoon("wallet", "new", "--key", str(key))
    assert code == 0, out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    address = out.split("address:")[1].split()[0]
    code, shown, _ = await cocoon("wallet", "show", "--key", str(key))
    assert code == 0 and address in shown
    code, _, err = await cocoon("wallet", "new", "--key", str(key))
    assert code == 1 and "already exists" in err
    key.chmod(0o644)
    code, _, err = await cocoon("wallet", "show", "--key", str(key))
    assert code == 1 and "chmod 600" in err


async def test_root_deploy_operations_and_show(tmp_path: Path, chain_url: str) -> None:
    key = str(tmp_path / "owner.key")
    url = ("--chain-url", chain_url)
    code, out, _ = await cocoon("wallet", "new", "--key", key)
    address = out.split("address:")[1].split()[0]
    code, _, err = await cocoon("root", "deploy", "--key", key, *url)
    assert code == 1 and "send at least 2.1 TON to " + address in err  # unfunded: says how much, where
    assert (await cocoon("chain", "faucet", address, "5", "--url", chain_url))[0] == 0
    code, out, err = await cocoon("root", "deploy", "--key", key, *url, "--price", "25", "--worker-fee", "20")
    assert code == 0, err
    root = out.split()[1]
    assert "version         0" in out and "price/token     25 nanoTON; worker fee 20" in out
    op = ("--key", key, *url, "--root", root)
    assert (await cocoon("root", "register-proxy", "127.0.0.1:11001", "127.0.0.1:11002", *op))[0] == 0
    assert (await cocoon("root", "allow-model", "tiny@1:abc", *op))[0] == 0
    code, out, err = await cocoon("root", "show", *url, "--root", root)
    assert code == 0, err
    assert "version         2" in out
    assert "#1 127.0.0.1:11001 127.0.0.1:11002" in out
    assert f"{model_hash('tiny@1:abc'):064x}" in out
    code, out, _ = await cocoon("wallet", "balance", "--key", key, *url)
    assert code == 0 and " active " in out and "seqno=3" in out

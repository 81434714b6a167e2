"""``@ton/ton``'s ``TonClient`` against the local chain's toncenter v2 JSON-RPC.

The versions the TS SDK pins (tests/interop/tonclient/package-lock.json) are installed once with
``npm ci`` into a cache directory keyed by the lockfile; the driver script then reads our root contract
(raw state and get-methods), funds a fresh mnemonic v4r2 wallet from the local faucet, deploys it with its
first transfer, reads transactions back and sees a replayed external rejected. Skipped only without
node/npm or when the packages cannot be installed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from cocoon.chainsvc import jsonrpc
from cocoon.chainsvc.local import LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.clock import SYSTEM_CLOCK
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import cell_from_boc, cell_to_boc
from cocoon.ton.data import RootData, RootRegistry
from cocoon.ton.ops import TON
from cocoon.ton.params import CodeMask, make_params

HERE = Path(__file__).parent / "tonclient"
PROBE = cell_from_boc((Path(__file__).parent.parent / "ton" / "fixtures" / "probe.boc").read_bytes())
OWNER = Address(0, b"\x0e" * 32)
PROXY_HASH = hashlib.sha256(b"a proxy image").digest()
DEST = Address(0, b"\xdd" * 32)
V4R2 = "feb5ff6820e2ff0d9483e7e0d62c817d846789fb4ae580c878866d959dabd5c0"


def _packages() -> tuple[str, Path]:
    """node, and node_modules with the pinned packages (installed once per lockfile version)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm are not installed: cannot run @ton/ton's TonClient against the local chain")
    lock = (HERE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cocoon"
    target = cache / f"tonclient-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (target / "node_modules" / "@ton" / "ton" / "package.json").exists():
        return node, target / "node_modules"
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tonclient-", dir=cache))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, work / name)
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:  # e.g. no access to the package registry
            pytest.skip(f"`npm ci` of @ton/ton failed, cannot run TonClient: {done.stderr.strip()[-300:]}")
        with contextlib.suppress(OSError):  # atomic: a concurrent run either wins or finds it installed
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return node, target / "node_modules"


def _deploy_root(chain: LocalChain) -> Address:
    params = make_params(
        proxy_code=contract_code("proxy"),
        worker_code=contract_code("worker"),
        client_code=contract_code("client"),
        min_client_stake=3 * TON,
    )
    registry = RootRegistry(proxy_hashes=frozenset({int.from_bytes(PROXY_HASH, "big")}))
    data = RootData(OWNER, 0, registry, params.masked(CodeMask.ROOT)).to_cell()
    return chain.deploy(contract_code("root"), data, TON)


async def test_tonclient_reads_runs_getters_and_sends_from_a_mnemonic_wallet(tmp_path: Path) -> None:
    node, modules = _packages()
    chain = LocalChain(tmp_path / "chain.db", now=int(time.time()))
    root = _deploy_root(chain)
    # wall clock: the wallet signs valid_until from the machine's clock, as against a real network
    server = TestServer(create_app(chain, wall_clock=SYSTEM_CLOCK), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        proc = await asyncio.create_subprocess_exec(
            node,
            str(HERE / "driver.cjs"),
            str(server.make_url("")).rstrip("/"),
            root.friendly(),
            PROXY_HASH.hex(),
            base64.b64encode(cell_to_boc(PROBE)).decode(),
            env={**os.environ, "NODE_PATH": str(modules)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        await server.close()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    seen = json.loads(stdout)

    assert (seen["rootState"], seen["rootHasData"]) == ("active", True)
    assert (seen["rootVersion"], seen["rootProxySeqno"], seen["rootOwner"]) == (0, 0, OWNER.raw)
    assert (seen["minProxyStake"], seen["minClientStake"]) == (str(TON), str(3 * TON))
    assert seen["gasUsed"] > 0
    assert (seen["proxyHashValid"], seen["otherHashValid"], seen["missingMethodExit"]) == (-1, 0, 11)

    wallet = Address.parse(seen["wallet"])
    assert (seen["fundedBalance"], seen["deployedBefore"], seen["seqnoBefore"]) == ("2000000000", False, 0)
    assert (seen["deployedAfter"], seen["seqnoAfter"]) == (True, 1)
    fees = seen["feeEstimate"]
    assert fees["gas_fee"] > 0 and fees["in_fwd_fee"] > 0 and fees["fwd_fee"] > 0
    assert seen["destBalance"] == str(TON // 2) == str(chain.balance(DEST))
    spent = 2 * TON - int(seen["walletBalance"]) - TON // 2
    assert 0 < spent < TON // 100  # fees only
    assert [tx["outMessages"] for tx in seen["walletTxs"]] == [1, 0]  # transfer, then the faucet's
    assert seen["lookedUp"] is True
    assert (seen["destComment"], seen["destSource"]) == ("hello from TonClient", wallet.raw)
    assert seen["masterchain"]["workchain"] == -1 and seen["masterchain"]["latestSeqno"] >= chain.now - 60
    replay = seen["replay"]  # v4r2 refuses a used seqno with exit code 33
    assert replay["message"] == "Request failed with status code 500"
    assert (replay["body"]["ok"], replay["body"]["code"], replay["body"]["exit_code"]) == (False, 500, 33)
    assert replay["body"]["id"] == "1" and "External message was not accepted" in replay["body"]["error"]

    # TonClient4 (v4 API): the TS SDK's reads and its wallet sender deploying a contract with a state init
    assert (seen["v4RootState"], seen["v4ProxyHashValid"]) == ("active", -1)
    assert seen["v4Seqno"] >= chain.now - 60
    assert (seen["probeBefore"], seen["probeAfter"], seen["wallet2Seqno"], seen["probeSeqno"]) == (
        "uninit",
        "active",
        1,
        0,
    )
    probe = Address.parse(seen["probe"])
    assert chain.account(probe).code == PROBE and 0 < chain.balance(probe) <= 3 * TON // 10

    info = jsonrpc.call(chain, "getWalletInformation", {"address": wallet.raw})
    assert (info["wallet"], info["wallet_type"], info["seqno"], info["wallet_id"]) == (
        True,
        "wallet v4 r2",
        1,
        698983191,
    )
    state = chain.account(wallet)
    assert state.code is not None and state.code.hash.hex() == V4R2
    chain.close()

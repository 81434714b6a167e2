"""What a node wallet costs and how fast the local network's chain is prepared.

Measured:

* the TON fee of one wallet external (the wallet's own transaction: import, gas, forwarding) carrying
  1, 2, 3 and 4 messages, sent through :class:`cocoon.wallet.NodeWallet` on the in-process chain,
  and the fee per message (why batching pays);
* the first external, which also deploys the wallet;
* :func:`cocoon.localnet.chain.prepare_chain` (what `cocoon up` does before the proxy starts: fund 5
  wallets, deploy the root, 4 owner operations in one external) against a `cocoon chain serve`
  process, cold (fresh chain) and warm (a rerun on the same chain: reads only).

    .venv/bin/python benchmarks/bench_wallet.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from cocoon.attestation.measurements import FAKE_IMAGE_HASH
from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.chainsvc.service import READY_PREFIX
from cocoon.localnet.chain import ChainPlan, default_funding, prepare_chain
from cocoon.payments.params import format_ton
from cocoon.registry import local_params
from cocoon.ton.address import Address
from cocoon.ton.data import ProxyEndpoints
from cocoon.ton.ops import TON
from cocoon.wallet import NodeWallet, OutMessage, WalletKey, WalletTimings

T0 = 1_750_000_000
FAST = WalletTimings(poll_interval_s=0.001, batch_window_s=0.0)


async def wallet_fees() -> None:
    local = LocalChain(None, now=T0)
    key = WalletKey(bytes(range(32)))
    local.fund(key.address, 100 * TON)
    wallet = NodeWallet(AsyncLocalChain(local), key, FAST)
    payee = Address(0, b"\x0b" * 32)
    print("wallet external fee (the wallet's transaction; each message carries 0.01 TON, non-bounceable)")
    await wallet.deploy()
    deploy_fee = local.transactions(key.address)[-1].total_fees
    print(f"  deploy only (no messages)        {format_ton(deploy_fee):>12} TON")
    one = 0
    for count in (1, 2, 3, 4):
        await wallet.send_many([OutMessage(payee, TON // 100, bounce=False)] * count)
        fee = local.transactions(key.address)[-1].total_fees
        one = one or fee
        print(
            f"  {count} message(s)                     {format_ton(fee):>12} TON   "
            f"{format_ton(fee // count):>12} TON per message  ({fee / count / one:.2f}x of one)"
        )


async def start_chain(data_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cocoon.cli.main", "chain", "serve", "--port", "0", "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    return proc, line.removeprefix(READY_PREFIX)


async def chain_preparation() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = await start_chain(Path(tmp) / "chain")
        try:
            nodes = ["proxy", "worker-1", "worker-2", "client"]
            plan = ChainPlan(
                url=url,
                data_dir=Path(tmp),
                funding=default_funding(nodes, 100),
                proxy=ProxyEndpoints("127.0.0.1:11001", "127.0.0.1:11002"),
                image_hash=FAKE_IMAGE_HASH,
                params=local_params(),
            )
            for label in ("cold (fund 5, deploy root, 4 ops)", "warm (rerun: nothing to do)"):
                started = time.perf_counter()
                ready = await prepare_chain(plan, ["fake-model"])
                elapsed = time.perf_counter() - started
                print(f"  prepare_chain {label:<36} {elapsed * 1e3:8.0f} ms  root v{ready.root.version}")
        finally:
            proc.terminate()
            await proc.wait()


async def main() -> None:
    await wallet_fees()
    print("`cocoon up` chain preparation over HTTP (cocoon chain serve, loopback)")
    await chain_preparation()


if __name__ == "__main__":
    asyncio.run(main())

"""How many transactions per second the local chain runs (official emulator via pytvm, in-process).

Measured, each for ``--n`` traces:

* plain transfers (faucet -> fresh addresses; compute phase skipped), in memory and persisted to SQLite;
* contract calls (an internal message that runs TVM and writes contract data), persisted;
* node-wallet externals (signature check + one outgoing transfer: 2 transactions per trace), persisted;
* get-methods (TVM run on current state, no transaction);
* the same transfers through ``cocoon chain serve``'s HTTP API (aiohttp, loopback), for the cost of
  sharing one chain between processes.

    .venv/bin/python benchmarks/bench_chain.py [--n 500]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from cocoon.chainsvc.local import FAUCET, LocalChain
from cocoon.chainsvc.server import create_app
from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.cells import begin_cell, cell_from_boc, internal_message
from cocoon.ton.data import address_of, wallet_state_init
from cocoon.ton.signed import public_key_of
from cocoon.ton.wallet import WalletTransfer, wallet_external

T0 = 1_700_000_000
PROBE = Path(__file__).resolve().parent.parent / "tests" / "ton" / "fixtures" / "probe.boc"
SECRET = bytes(range(32))


def addr(i: int) -> Address:
    return Address(0, i.to_bytes(32, "big"))


def report(label: str, n: int, txs_per_trace: int, elapsed: float) -> float:
    per_s = n * txs_per_trace / elapsed
    print(f"{label:<44} {per_s:>9.0f} tx/s   ({elapsed / n * 1e3:.2f} ms per trace)")
    return per_s


def rate(label: str, n: int, txs_per_trace: int, run: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(n):
        run(i)
    return report(label, n, txs_per_trace, time.perf_counter() - start)


def bench_local(n: int, db: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    memory = LocalChain(now=T0)
    results["transfer_mem"] = rate("transfer, in memory", n, 1, lambda i: memory.fund(addr(i + 1), 10**9))
    disk = LocalChain(db, now=T0)
    results["transfer_disk"] = rate(
        "transfer, persisted (SQLite WAL)", n, 1, lambda i: disk.fund(addr(i + 1), 10**9)
    )
    probe = disk.deploy(cell_from_boc(PROBE.read_bytes()), begin_cell().store_uint(0, 96).end_cell(), 10**12)
    add = begin_cell().store_uint(3, 32).store_uint(1, 64).end_cell()
    results["call"] = rate(
        "contract call (TVM + data write), persisted",
        n,
        1,
        lambda i: disk.send_internal(FAUCET, probe, 10**8, add),
    )
    init = wallet_state_init(contract_code("wallet"), int.from_bytes(public_key_of(SECRET), "big"), FAUCET)
    wallet = address_of(init)
    disk.fund(wallet, 10**15)

    def external(i: int) -> None:
        pay = internal_message(src=None, dest=addr(i + 1), value=10**6, bounce=False)
        msg = wallet_external(
            SECRET, wallet, seqno=i, valid_until=T0 + 10**6, transfers=[WalletTransfer(3, pay)],
            state_init=init if i == 0 else None,
        )  # fmt: skip
        disk.send_external(msg)

    results["wallet"] = rate("wallet external + transfer (2 tx), persisted", n, 2, external)
    results["get"] = rate(
        "get-method (no transaction)", n, 1, lambda i: disk.run_get_method(probe, "counter")
    )
    memory.close()
    disk.close()
    return results


async def bench_http(n: int) -> float:
    server = TestServer(create_app(LocalChain(now=T0)), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with ToncenterChain(str(server.make_url("/")), timeout=10) as api:
            start = time.perf_counter()
            for i in range(n):
                await api.fund(addr(i + 1), 10**9)
            elapsed = time.perf_counter() - start
    finally:
        await server.close()
    return report("transfer via HTTP API (loopback)", n, 1, elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=500, help="traces per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local = bench_local(args.n, Path(tmp) / "chain.db")
    http = asyncio.run(bench_http(args.n))
    mem, disk = local["transfer_mem"], local["transfer_disk"]
    print(f"persistence cost: in-memory / persisted transfers = {mem / disk:.2f}x")
    print(f"HTTP cost: in-process (memory) / HTTP transfers = {mem / http:.2f}x")
    print(f"TVM cost: transfers / contract calls = {local['transfer_disk'] / local['call']:.2f}x")


if __name__ == "__main__":
    main()

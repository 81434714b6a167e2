"""What settlement on chain costs in TON fees, per operation and per 1,000 requests.

Measured on the in-process chain with real node wallets (:class:`cocoon.wallet.NodeWallet`), the real
proxy settlement (:class:`cocoon.proxy.settlement.ProxySettlement`), client contract upkeep
(:class:`cocoon.client.payments.ClientPayments`) and worker cash-out
(:class:`cocoon.worker.payouts.WorkerPayouts`): each operation's cost is the drop of the paying
wallet's balance minus the value that stays where it was sent (top-ups) or plus what came back to the
payer on purpose (a withdrawn commission, a cashed-out payout).

Per 1,000 requests at the default thresholds (spec/economics.md): the proxy sends a save-state note
every 45 s whatever the traffic, charges a client per 1 TON of usage, pays a worker per 10 TON of
earnings, withdraws per 10 TON of commission; a client tops up one stake (15 TON) at a time. So the
fee per 1,000 requests depends on their size and rate; the table prints a few.

    .venv/bin/python benchmarks/bench_settlement_fees.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from cocoon.chainsvc.local import AsyncLocalChain, LocalChain
from cocoon.client.payments import ClientPayments
from cocoon.payments.params import format_ton
from cocoon.payments.thresholds import Thresholds
from cocoon.proxy.ledger import Ledger, RequestCharge
from cocoon.proxy.settlement import ProxySettlement, SettlementConfig
from cocoon.registry import local_params
from cocoon.ton.address import Address
from cocoon.ton.artifacts import contract_code
from cocoon.ton.data import root_state_init
from cocoon.ton.ops import TON
from cocoon.ton.signed import public_key_of
from cocoon.wallet import NodeWallet, WalletKey, WalletTimings
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.payouts import WorkerPayouts

T0 = 1_750_000_000
FAST = WalletTimings(poll_interval_s=0.001, batch_window_s=0.0)
NOW = SettlementConfig(flush_interval_s=0, note_interval_s=0, settle_interval_s=1e9, tick_s=0)
PROXY_SECRET = b"\x11" * 32


async def measure(tmp: Path) -> dict[str, int]:
    local = LocalChain(None, now=T0)
    chain = AsyncLocalChain(local)
    params = local_params()
    root = local.deploy(*root_state_init(contract_code("root"), Address(0, b"\x01" * 32), params), TON)
    wallets = {}
    for name in ("proxy", "client", "worker"):
        key = WalletKey(bytes([len(name)]) * 32)
        wallet = NodeWallet(chain, key, FAST)
        local.fund(wallet.address, 100 * TON)
        wallets[name] = wallet
    balance = {n: lambda n=n: local.balance(wallets[n].address) for n in wallets}
    for wallet in wallets.values():
        await wallet.deploy()
    ledger = Ledger(tmp / "state.db")
    proxy = ProxySettlement(
        chain, wallets["proxy"], ledger, PROXY_SECRET, wallets["proxy"].address, root, params, NOW
    )
    fees: dict[str, int] = {}
    await proxy.start()
    await proxy.wait_ready(10)
    key = public_key_of(PROXY_SECRET)
    client = ClientPayments(chain, wallets["client"], params, b"\x22" * 32)
    worker = WorkerPayouts(chain, wallets["worker"], params)

    before = balance["client"]()
    channel = await client.open(proxy.contract, key)
    stake = params.min_client_stake
    fees["client: open (0.8 TON deploy value, mostly kept by the contract; secret; top-up)"] = (
        before - balance["client"]() - stake
    )
    before = balance["client"]()
    await client.top_up(channel, stake)
    fees["client: top-up"] = before - balance["client"]() - stake
    before = balance["worker"]()
    await worker.attach(proxy.contract, key)
    fees["worker: open (0.3 TON deploy value, mostly kept by the contract; register)"] = (
        before - balance["worker"]()
    )
    await proxy.counterparts.register_client(wallets["client"].address)

    tokens = 1_000_000
    charge = RequestCharge(
        "r", "c", "w", wallets["worker"].address.raw, tokens, 0, 0, wallets["client"].address.raw
    )
    ledger.record(charge, 0.0)
    proxy.on_recorded(charge.client_owner, charge.worker_owner, tokens)
    before = balance["proxy"]()
    proxy.committer.flush()
    await proxy.tick(force=True)
    fees["proxy: save-state note"] = before - balance["proxy"]()
    await proxy.tick()

    before = balance["proxy"]()
    channel_key = ("client", wallets["client"].address.raw)
    await proxy.settler.settle(Thresholds(charge_nano=0, payout_nano=10**18, withdraw_nano=10**18))
    fees["proxy: charge a client"] = before - balance["proxy"]()
    assert proxy.channels.counters(*channel_key).committed_to_chain == tokens

    c = proxy.channels.counters("worker", wallets["worker"].address.raw)
    update = PaymentUpdate(
        "w",
        c.tokens_max,
        c.committed_to_db,
        c.committed_to_chain,
        proxy.signer.signed_payment("worker", wallets["worker"].address.raw),
    )
    worker.on_update(proxy.contract.raw, update)
    before = balance["worker"]()
    await worker.cash_out(force=True)
    earned = tokens * params.worker_fee_per_token
    fees["worker: cash out a signed payout"] = before + earned - balance["worker"]()

    before = balance["proxy"]()
    commission = await proxy.settler.withdrawable()
    await proxy.settler.withdraw(Thresholds(withdraw_nano=0))
    fees["proxy: withdraw the commission"] = before + commission - balance["proxy"]()
    ledger.close()
    for wallet in wallets.values():
        await wallet.close()
    return fees


def per_thousand(fees: dict[str, int], tokens: int, rate: float) -> int:
    """Fee (nanoTON) of 1,000 requests of ``tokens`` adjusted tokens each at ``rate`` requests/s."""
    price, fee, stake = 20, 19, 15 * TON
    usage = 1000 * tokens * price
    notes = 1000 / rate / 45.0
    return round(
        notes * fees["proxy: save-state note"]
        + usage / TON * fees["proxy: charge a client"]
        + 1000 * tokens * fee / (10 * TON) * fees["worker: cash out a signed payout"]
        + 1000 * tokens * (price - fee) / (10 * TON) * fees["proxy: withdraw the commission"]
        + usage / stake * fees["client: top-up"]
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fees = asyncio.run(measure(Path(tmp)))
    print("TON fees per operation (local chain, official emulator, our contracts):")
    for name, nano in fees.items():
        print(f"  {name:<78} {format_ton(nano):>12} TON")
    print("\nFees per 1,000 requests at default thresholds (note every 45 s, charge at 1 TON, payout and")
    print("withdraw at 10 TON, top-ups of 15 TON), by request size and rate:")
    print(
        f"  {'adjusted tokens/request':>24} {'requests/s':>11} {'usage (TON)':>12} "
        f"{'fees (TON)':>12} {'fees/usage':>10}"
    )
    for tokens in (500, 2_000, 10_000):
        for rate in (1.0, 10.0):
            total = per_thousand(fees, tokens, rate)
            usage = 1000 * tokens * 20
            print(
                f"  {tokens:>24} {rate:>11g} {format_ton(usage):>12} {format_ton(total):>12} "
                f"{total / usage:>10.4%}"
            )


if __name__ == "__main__":
    main()

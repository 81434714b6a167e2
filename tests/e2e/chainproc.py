"""Reading the local chain of a `cocoon up` network from end-to-end tests (contracts, payouts, fees)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from netproc import RunningNet, get_json

from cocoon.chainsvc.toncenter import ToncenterChain
from cocoon.chainsvc.watch import poll
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain, Transaction
from cocoon.ton.data import ClientData, ProxyData, WorkerData
from cocoon.ton.ops import Op
from cocoon.ton.watch import TxCursor

T = TypeVar("T")


def chain_url(net: RunningNet) -> str:
    return f"http://127.0.0.1:{13000 + net.base}"


def on_chain(net: RunningNet, action: Callable[[Chain], Awaitable[T]]) -> T:
    """Run ``action(chain)`` against the network's chain service."""

    async def run() -> T:
        async with ToncenterChain(chain_url(net)) as chain:
            return await action(chain)

    return asyncio.run(run())


def data_of(net: RunningNet, address: str) -> Any:
    async def read(chain: Chain) -> Any:
        state = await chain.get_account(Address.parse(address))
        assert state.data is not None, f"{address} is not deployed"
        return state.data

    return on_chain(net, read)


def client_data(net: RunningNet, address: str) -> ClientData:
    return ClientData.from_cell(data_of(net, address))


def worker_data(net: RunningNet, address: str) -> WorkerData:
    return WorkerData.from_cell(data_of(net, address))


def proxy_data(net: RunningNet, address: str) -> ProxyData:
    return ProxyData.from_cell(data_of(net, address))


def transactions(net: RunningNet, address: str) -> list[Transaction]:
    return on_chain(net, lambda chain: poll(chain, TxCursor(Address.parse(address))))


def payouts(net: RunningNet, wallet: str, source: str) -> int:
    """nanoTON that ``source`` (a contract) paid to ``wallet`` with ``payout`` messages."""
    src = Address.parse(source)
    return sum(
        tx.in_msg.value
        for tx in transactions(net, wallet)
        if tx.in_msg is not None and tx.in_msg.src == src and tx.in_msg.op == Op.PAYOUT
    )


def fees_paid(net: RunningNet, wallet: str) -> int:
    """Every fee a wallet's own transactions paid (externals it signed included)."""
    return sum(tx.total_fees for tx in transactions(net, wallet))


def client_payments(net: RunningNet) -> Any:
    return get_json(f"http://127.0.0.1:{10000 + net.base}/payments")

"""``AsyncLocalChain``: the :class:`~cocoon.ton.chain.Chain` protocol over an in-process ``LocalChain``.

The emulator is fast (well under a millisecond per transaction), so calls run inline; nothing here
needs a thread. Adds the local network's controls (faucet, clock) that a real chain does not have.
"""

from __future__ import annotations

from collections.abc import Sequence

from cocoon.chainsvc.limiter import RequestCounts
from cocoon.chainsvc.local.chain import LocalChain
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountState, StackItem, Transaction


class AsyncLocalChain:
    """Implements ``Chain`` (and ``LocalControl``) for a :class:`LocalChain`."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.requests = RequestCounts()
        """Calls made, by method (like every adapter: ``/jsonstats``, tests of a role's chain load)."""

    async def get_account(self, address: Address) -> AccountState:
        self.requests.add("get_account")
        return self.chain.account(address)

    async def get_transactions(
        self, address: Address, *, after_lt: int = 0, limit: int = 100
    ) -> list[Transaction]:
        self.requests.add("get_transactions")
        return self.chain.transactions(address, after_lt=after_lt, limit=limit)

    async def run_get_method(
        self, address: Address, method: str, stack: Sequence[StackItem] = ()
    ) -> list[StackItem]:
        self.requests.add("run_get_method")
        return self.chain.run_get_method(address, method, stack)

    async def send_message(self, message: Cell) -> None:
        self.requests.add("send_message")
        self.chain.send_external(message)

    async def get_time(self) -> int:
        self.requests.add("get_time")
        return self.chain.now

    async def fund(self, address: Address, value: int) -> None:
        """Faucet transfer (local network only)."""
        self.chain.fund(address, value)

    async def advance_time(self, seconds: int) -> int:
        """Move the local clock forward; returns the new time (local network only)."""
        self.chain.advance(seconds)
        return self.chain.now

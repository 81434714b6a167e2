"""A liteserver test double made from the local chain: pytoniq's ``LiteClient`` calls that ``LiteChain``
uses (:class:`cocoon.chainsvc.lite.LiteApi`), answered with pytoniq-core objects deserialised by
pytoniq-core's own TL-B classes from the local chain's real BoCs (the ``ShardAccount`` a liteserver
proves, the transactions, the ``VmStack`` of a get-method), i.e. what a liteserver would return.

Like a real network's time, the chain's clock follows the wall clock at every query (as ``cocoon chain
serve`` does at every request), so nodes and the HTTP API on the same chain agree."""

from __future__ import annotations

from typing import Any

from pytoniq_core import Address as PtAddress
from pytoniq_core import Slice
from pytoniq_core.tlb.account import ShardAccount
from pytoniq_core.tlb.transaction import Transaction as PtTransaction
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon.chainsvc.local import LocalChain
from cocoon.clock import Clock
from cocoon.errors import ContractError
from cocoon.ton.address import Address
from cocoon.ton.cells import cell_from_boc
from cocoon.ton.tlb import stack_to_cell


class LiteServerError(Exception):
    """What pytoniq raises for a liteserver error answer (a get-method's carries its exit code)."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class LocalLiteServer:
    """Answers like pytoniq's ``LiteClient`` from a :class:`LocalChain` (see the module docstring)."""

    def __init__(self, chain: LocalChain, clock: Clock) -> None:
        self.chain, self.clock = chain, clock
        self.queries = 0

    def _at(self, address: PtAddress) -> Address:
        self.queries += 1
        self._follow_clock()
        return Address.parse(address.to_str(is_user_friendly=False))

    def _follow_clock(self) -> None:
        now = int(self.clock.time())
        if now > self.chain.now:
            self.chain.set_time(now)

    async def raw_get_account_state(self, address: PtAddress) -> tuple[Any, Any]:
        boc = self.chain.shard_account_boc(self._at(address))
        if boc is None:
            return None, None
        shard_account = ShardAccount.deserialize(Slice.one_from_boc(boc))
        return shard_account.account, shard_account

    async def get_transactions(
        self,
        address: PtAddress,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        to_lt: int = 0,
    ) -> list[Any]:
        """Newest first from ``from_lt`` (inclusive; the newest when None), none at or below ``to_lt``."""
        before = None if from_lt is None else from_lt + 1
        bocs = self.chain.transaction_bocs_before(self._at(address), before, count)
        txs = [PtTransaction.deserialize(Slice.one_from_boc(boc)) for boc in bocs]
        if from_hash is not None and txs and txs[0].cell.hash != from_hash:
            raise LiteServerError(f"no transaction {from_lt}:{from_hash.hex()} in this account")
        return [tx for tx in txs if tx.lt > to_lt]

    async def run_get_method(self, address: PtAddress, method: str | int, stack: list[Any]) -> list[Any]:
        outcome = self.chain.run_get_method_raw(self._at(address), method, stack_to_cell(stack))
        if outcome.exit_code not in (0, 1):
            raise LiteServerError(
                f"get-method {method} failed: exit code {outcome.exit_code}", outcome.exit_code
            )
        values: list[Any] = VmStack.deserialize(outcome.stack.begin_parse())
        return values

    async def raw_send_message(self, message: bytes) -> int:
        self.queries += 1
        self._follow_clock()
        try:
            self.chain.send_external(cell_from_boc(message))
        except ContractError as exc:  # a liteserver refuses an external the contract does not accept
            raise LiteServerError(f"cannot apply external message: {exc}") from exc
        return 1

    async def get_time(self) -> int:
        self.queries += 1
        self._follow_clock()
        return self.chain.now

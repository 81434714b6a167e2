"""The ``Chain`` interface every TON backend implements, and the data it returns.

Backends (all in the shell, :mod:`cocoon.chainsvc`): :class:`~cocoon.chainsvc.local.AsyncLocalChain`
(in-process emulator), :class:`~cocoon.chainsvc.toncenter.ToncenterChain` (HTTP; our ``cocoon chain
serve`` or a real toncenter), :class:`~cocoon.chainsvc.lite.LiteChain` (liteservers). All return the
same frozen structs, parsed from the same BoCs by :mod:`cocoon.ton.tlb`. Money is ``int`` nanoTON.
Services are async, so the protocol is async.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from cocoon.errors import ContractError
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.parse import ParsedBody

StackItem: TypeAlias = int | Cell | list["StackItem"] | None
"""A TVM stack value as we use it: integers, cells (slices come back as cells), null, tuples."""


class AccountStatus(enum.Enum):
    ACTIVE = "active"
    UNINIT = "uninit"
    FROZEN = "frozen"
    NONEXIST = "nonexist"


@dataclass(frozen=True)
class AccountState:
    """An account as the chain sees it now."""

    address: Address
    balance: int
    status: AccountStatus
    code: Cell | None
    data: Cell | None
    last_lt: int
    last_hash: bytes


@dataclass(frozen=True)
class Message:
    """A message inside a transaction; ``parsed`` is the typed body (``None`` if empty; a bounced
    message's is :class:`~cocoon.ton.parse.Bounced` with the original op and query_id)."""

    src: Address | None
    dest: Address | None
    value: int
    body: Cell
    bounce: bool
    bounced: bool
    external: bool
    created_lt: int
    parsed: ParsedBody | None

    @property
    def op(self) -> int | None:
        """The 32-bit op of the body, if it has one."""
        cs = self.body.begin_parse()
        return int(cs.preload_uint(32)) if cs.remaining_bits >= 32 else None


@dataclass(frozen=True)
class Transaction:
    """One transaction of one account (compute-skipped ones included: they are notes on chain)."""

    account: Address
    lt: int
    hash: bytes
    now: int
    in_msg: Message | None
    out_msgs: tuple[Message, ...]
    compute_skipped: bool
    exit_code: int | None
    """TVM exit code of the compute phase; ``None`` if it was skipped."""
    action_result_code: int | None
    aborted: bool
    bounced_back: bool
    """The inbound message was bounced to its sender (failed compute, or no code at the destination)."""
    gas_used: int
    total_fees: int
    end_status: AccountStatus
    boc: bytes

    @property
    def failure_code(self) -> int | None:
        """Why the transaction failed, or ``None``: the compute exit code (not 0/1), else the action
        result code, else -1 if the message bounced without running code (the destination has none).
        A 1-nanoTON note whose compute phase is skipped for lack of gas is *not* a failure."""
        if self.exit_code is not None and self.exit_code not in (0, 1):
            return self.exit_code
        if self.action_result_code not in (None, 0):
            return self.action_result_code
        if self.bounced_back:
            return -1
        return None

    @property
    def success(self) -> bool:
        return self.failure_code is None


def first_failure(trace: Sequence[Transaction]) -> Transaction | None:
    """The first transaction of a trace that failed (compute or action), if any."""
    return next((tx for tx in trace if not tx.success), None)


def raise_on_failure(trace: Sequence[Transaction]) -> Sequence[Transaction]:
    """Raise :class:`ContractError` with the first failing exit code of ``trace``; return it otherwise."""
    failed = first_failure(trace)
    if failed is not None:
        code = failed.failure_code if failed.failure_code is not None else -1
        if code == -1:
            why = "it has no code (not deployed yet?), so the message bounced"
        else:
            why = f"exit code {code}; see spec/contracts.md for its meaning"
        raise ContractError(f"contract {failed.account} rejected the message: {why}", exit_code=code)
    return trace


class Chain(Protocol):
    """What services need from TON. Every method may raise :class:`cocoon.errors.ChainError`."""

    async def get_account(self, address: Address) -> AccountState:
        """Current state of ``address`` (``NONEXIST`` with balance 0 if it never existed)."""
        ...

    async def get_transactions(
        self, address: Address, *, after_lt: int = 0, limit: int = 100
    ) -> list[Transaction]:
        """Transactions of ``address`` with ``lt > after_lt``, oldest first, at most ``limit``."""
        ...

    async def run_get_method(
        self, address: Address, method: str, stack: Sequence[StackItem] = ()
    ) -> list[StackItem]:
        """Run a get-method on the current state; raises ContractError on a non-zero exit code."""
        ...

    async def send_message(self, message: Cell) -> None:
        """Submit a complete inbound external message (e.g. a signed wallet external)."""
        ...

    async def get_time(self) -> int:
        """The chain's current unix time (the local chain's clock, or the last block's time)."""
        ...


class LocalControl(Protocol):
    """Extras of the local network (``AsyncLocalChain``, ``ToncenterChain`` on ``cocoon chain serve``)."""

    async def fund(self, address: Address, value: int) -> None:
        """Faucet: credit ``value`` nanoTON to ``address`` (non-bounceable, works for new addresses)."""
        ...

    async def advance_time(self, seconds: int) -> int:
        """Move the chain clock forward; returns the new unix time."""
        ...

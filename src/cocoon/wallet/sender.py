"""``MessageSender``: how a node puts an internal message on chain, and a recording test double.

Every on-chain action of a node (deploying its contract, topping up, submitting a signed charge or
payout, a save-state note, a root owner operation) is one internal message sent from the node's
wallet. Services depend on this protocol only; :class:`cocoon.wallet.node.NodeWallet` implements it
over any :class:`cocoon.ton.chain.Chain`, :class:`RecordingSender` records messages for unit tests.

Contract of ``send`` / ``send_many`` (what callers may rely on):

- they return once the wallet external carrying the message(s) is **included** on chain (the wallet's
  seqno moved past it). The message's own effect (e.g. a contract's transaction) follows in the same
  trace on the local chain and a few seconds later on a real one: watch the target's transactions;
- concurrent calls are batched, at most 4 messages per wallet external, in call order;
- they raise :class:`cocoon.errors.WalletFundsError` when the wallet cannot pay (message names the
  address and the amount to send), :class:`cocoon.errors.ChainError` if inclusion times out or the
  chain is unreachable;
- cancelling a caller does not unsend a message already handed to the chain.

``state_init`` is ``(code, data)``, as :func:`cocoon.ton.data.proxy_state_init` and friends return it.
Money is ``int`` nanoTON. Node wallets send with mode 3 (pay fees separately, ignore errors).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.wallet import WalletTransfer, transfer


@dataclass(frozen=True)
class OutMessage:
    """One internal message to send from a node wallet."""

    dest: Address
    value: int
    body: Cell | None = None
    state_init: tuple[Cell, Cell] | None = None
    bounce: bool = True

    def __post_init__(self) -> None:
        if self.value < 0:
            raise ValueError(f"message value must be >= 0 nanoTON, got {self.value}")

    def to_transfer(self) -> WalletTransfer:
        """The wallet-external entry for this message (mode 3)."""
        return transfer(self.dest, self.value, self.body, bounce=self.bounce, state_init=self.state_init)


class MessageSender(Protocol):
    """Sends internal messages from one address (a node wallet). See the module docstring."""

    @property
    def address(self) -> Address:
        """The sender's address: ``src`` of every message it sends (e.g. the owner of a contract)."""
        ...

    async def send(
        self,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        state_init: tuple[Cell, Cell] | None = None,
        bounce: bool = True,
    ) -> None:
        """Send one message; returns when the carrying external is included on chain."""
        ...

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        """Send several messages (split into externals of at most 4); returns when all are included."""
        ...


class BatchSender(ABC):
    """Base of senders that send everything through `send_many`: `send` is one message of a batch."""

    def __init__(self, address: Address) -> None:
        self._address = address

    @property
    def address(self) -> Address:
        return self._address

    async def send(
        self,
        dest: Address,
        value: int,
        body: Cell | None = None,
        *,
        state_init: tuple[Cell, Cell] | None = None,
        bounce: bool = True,
    ) -> None:
        await self.send_many([OutMessage(dest, value, body, state_init, bounce)])

    @abstractmethod
    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        """Send ``messages``; see the module docstring for what callers may rely on."""


class RecordingSender(BatchSender):
    """A ``MessageSender`` test double: records messages instead of sending them (no chain at all)."""

    def __init__(self, address: Address) -> None:
        super().__init__(address)
        self.sent: list[OutMessage] = []

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        self.sent.extend(messages)

"""``NodeWallet``: a node's operational wallet over any :class:`~cocoon.ton.chain.Chain`.

- deployed on first use: the first external carries the wallet's state-init (the address must hold
  TON already: the faucet, an exchange or another wallet sends it there non-bounceable);
- messages from concurrent callers are queued and sent in externals of at most 4 (spec/contracts.md);
- an external is resent unchanged every ``resend_interval_s`` until the wallet's seqno moves (a
  lost external costs nothing: two copies with one seqno can only be applied once); once it has
  expired (``valid_until``) it is signed again with the same seqno and a new expiry;
- callers wait until their external is included, bounded by ``inclusion_timeout_s``.

One process per key file: a second process driving the same wallet would race on its seqno.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainError, ContractError, WalletFundsError
from cocoon.payments.params import format_ton
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountState, AccountStatus, Chain
from cocoon.ton.data import WalletData
from cocoon.ton.ops import TON, WALLET_MIN_BALANCE, ExitCode
from cocoon.ton.wallet import MAX_MESSAGES, wallet_external
from cocoon.wallet.keyfile import WalletKey
from cocoon.wallet.sender import BatchSender, OutMessage

log = logging.getLogger(__name__)

START_MINIMUM = 2_100_000_000
"""A node refuses to start below 2.1 TON (the wallet contract refuses to send below 2 TON)."""
FEE_RESERVE = TON // 20
"""Kept aside for the external's own fees when checking that the wallet can pay a batch."""


@dataclass(frozen=True)
class WalletTimings:
    """How patiently a wallet waits; tests shrink these, production keeps the defaults."""

    resend_interval_s: float = 30.0
    poll_interval_s: float = 1.0
    inclusion_timeout_s: float = 180.0
    valid_for_s: int = 120
    batch_window_s: float = 0.02
    """How long the sender waits for more messages before sealing a batch."""


@dataclass
class _Pending:
    message: OutMessage
    done: asyncio.Future[None]


class NodeWallet(BatchSender):
    """Implements :class:`~cocoon.wallet.sender.MessageSender` from the wallet of ``key``."""

    def __init__(
        self,
        chain: Chain,
        key: WalletKey,
        timings: WalletTimings = WalletTimings(),
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(key.address)
        self.chain = chain
        self.key = key
        self.timings = timings
        self.clock = clock
        """Times resends and the inclusion timeout (monotonic); the chain's own time dates externals."""
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        self._seqno_lock = asyncio.Lock()  # one external in flight at a time: they share the seqno
        self.externals_sent = 0
        self.testnet = False
        """The chain is a TON testnet: the address shown to people carries the testnet flag."""
        """Externals handed to the chain, resends included (for tests and stats)."""

    @property
    def friendly_address(self) -> str:
        """Non-bounceable user-friendly form: what to paste into a wallet app to fund this one."""
        return self._address.friendly(bounceable=False, testnet=self.testnet)

    # ---- reading ---------------------------------------------------------------------------------

    async def state(self) -> AccountState:
        return await self.chain.get_account(self._address)

    async def balance(self) -> int:
        return (await self.state()).balance

    async def seqno(self) -> int | None:
        """The wallet's seqno, ``None`` while it is not deployed."""
        return _seqno_of(await self.state())

    async def ensure_funded(self, minimum: int = START_MINIMUM) -> int:
        """The balance, or :class:`WalletFundsError` saying how much to send where if below ``minimum``."""
        balance = await self.balance()
        if balance < minimum:
            raise self._funds_error(balance, minimum, f"needs at least {format_ton(minimum)} TON to start")
        return balance

    def _funds_error(self, balance: int, needed: int, why: str) -> WalletFundsError:
        missing = needed - balance
        return WalletFundsError(
            f"node wallet {self.friendly_address} holds {format_ton(balance)} TON and {why}; "
            f"send at least {format_ton(missing)} TON to {self.friendly_address} "
            f"(raw {self._address.raw}) and start again",
            address=self.friendly_address,
            missing_nano=missing,
        )

    # ---- sending ---------------------------------------------------------------------------------

    async def send_many(self, messages: Sequence[OutMessage]) -> None:
        loop = asyncio.get_running_loop()
        pending = [_Pending(m, loop.create_future()) for m in messages]
        self._queue.extend(pending)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name=f"wallet {self._address.raw[:10]}")
        # shield: a cancelled caller must not cancel the shared batch its message is in
        await asyncio.gather(*(asyncio.shield(p.done) for p in pending))

    async def deploy(self) -> None:
        """Deploy the wallet now (an external with no messages) if it is not deployed yet."""
        async with self._seqno_lock:
            if await self.seqno() is None:
                await self._deliver([])

    async def close(self) -> None:
        """Stop the sender task; queued messages fail with ChainError."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._fail(self._queue, ChainError("the node wallet was closed before this message was sent"))
        self._queue.clear()

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self.timings.batch_window_s)
            batch, self._queue = self._queue[:MAX_MESSAGES], self._queue[MAX_MESSAGES:]
            try:
                async with self._seqno_lock:
                    await self._deliver([p.message for p in batch])
            except asyncio.CancelledError:
                self._fail(batch, ChainError("the node wallet was closed while sending this message"))
                raise
            except Exception as exc:  # every caller of this batch gets the reason
                self._fail(batch, exc)
            else:
                for p in batch:
                    if not p.done.done():
                        p.done.set_result(None)

    @staticmethod
    def _fail(batch: list[_Pending], exc: BaseException) -> None:
        for p in batch:
            if not p.done.done():
                p.done.set_exception(exc)
                p.done.exception()  # mark retrieved: a cancelled caller may never look

    async def _deliver(self, messages: list[OutMessage]) -> None:
        """Sign, send and resend one external until the wallet's seqno moves past it."""
        state = await self.state()
        self._check_funds(state, sum(m.value for m in messages))
        seqno = _seqno_of(state)
        init = self.key.state_init if seqno is None else None
        seqno = seqno or 0
        transfers = [m.to_transfer() for m in messages]
        give_up = self.clock.monotonic() + self.timings.inclusion_timeout_s
        while self.clock.monotonic() < give_up:
            valid_until = await self.chain.get_time() + self.timings.valid_for_s
            external = wallet_external(
                self.key.secret_key,
                self._address,
                seqno=seqno,
                valid_until=valid_until,
                transfers=transfers,
                subwallet=self.key.subwallet,
                state_init=init,
            )
            if await self._send_until_included(external, seqno, valid_until, give_up):
                return
        raise ChainError(
            f"node wallet {self._address.raw}: external with seqno {seqno} was not included within "
            f"{self.timings.inclusion_timeout_s:.0f} s; is the chain at the configured URL advancing?"
        )

    async def _send_until_included(
        self, external: Cell, seqno: int, valid_until: int, give_up: float
    ) -> bool:
        """Resend ``external`` until included (True) or expired (False: sign it again)."""
        next_send = 0.0
        while self.clock.monotonic() < give_up:
            try:
                if self.clock.monotonic() >= next_send:
                    if await self.chain.get_time() >= valid_until:
                        return False
                    next_send = self.clock.monotonic() + self.timings.resend_interval_s
                    await self._submit(external)
                current = await self.seqno()
                if current is not None and current > seqno:
                    return True
            except ContractError:
                raise
            except ChainError as exc:  # the API hiccuped: the external may still land, keep asking
                log.warning("wallet %s: %s (retrying)", self._address.raw, exc)
            await asyncio.sleep(self.timings.poll_interval_s)
        return False

    async def _submit(self, external: Cell) -> None:
        """Hand the external to the chain; rejections that a later poll explains are only logged."""
        self.externals_sent += 1
        try:
            await self.chain.send_message(external)
        except ContractError as exc:
            if exc.exit_code == ExitCode.WALLET_LOW_BALANCE:
                raise self._funds_error(await self.balance(), WALLET_MIN_BALANCE, "cannot send") from exc
            if exc.exit_code == ExitCode.WALLET_BLOCKED:
                raise ContractError(
                    f"node wallet {self.friendly_address} is blocked by its owner; the owner unblocks "
                    "it by sending it the text comment 'u'",
                    exc.exit_code,
                ) from exc
            if exc.exit_code in (ExitCode.WALLET_SEQNO, ExitCode.WALLET_EXPIRED):
                # already applied (a resend of an included external) or expired: the poll decides
                log.debug("wallet %s: external rejected (%s)", self._address.raw, exc)
                return
            raise

    def _check_funds(self, state: AccountState, total: int) -> None:
        """Refuse a batch the wallet cannot pay: the contract would skip such messages silently."""
        needed = max(WALLET_MIN_BALANCE, total + FEE_RESERVE)
        if state.balance < needed:
            raise self._funds_error(
                state.balance, needed, f"cannot send {format_ton(total)} TON (it keeps 2 TON to send at all)"
            )


def _seqno_of(state: AccountState) -> int | None:
    if state.status is not AccountStatus.ACTIVE or state.data is None:
        return None
    return WalletData.from_cell(state.data).seqno

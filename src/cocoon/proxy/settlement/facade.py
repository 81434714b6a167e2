"""The proxy's settlement on chain, as the proxy service sees it: one :class:`ProxySettlement`.

It owns the channel state (one :class:`~.channels.Channels`, handed to each collaborator) and answers
the service: credit for the client book (:class:`~cocoon.proxy.accounts.ChainCredit`), client binding
and payment status (:mod:`.clients`), whether to serve (:attr:`~ProxySettlement.refusal`), the status
page. Each :meth:`~ProxySettlement.tick` reads the chain (:mod:`.chain_reader`), flushes and sends a
save-state note when due (:mod:`.committer`) and settles what the thresholds allow (:mod:`.settler`);
:meth:`~ProxySettlement.run_ticks` ticks and :meth:`~ProxySettlement.push_forever` pushes payment
updates (:mod:`.updates`), both run by :class:`~cocoon.proxy.redeploy.Redeployer`. Every start draws a
fresh session hash and sends a start note; :attr:`~ProxySettlement.ready` turns true when it is seen.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from cocoon.chainsvc.limiter import request_stats
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import ChainError, CocoonError, StateRollbackError
from cocoon.payments.params import Nano, NetworkParams, Tokens
from cocoon.payments.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cocoon.proxy.closing import Phase
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.proxy.settlement.chain_reader import ChainReader
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.clients import ClientBindings
from cocoon.proxy.settlement.closer import ProxyCloser
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.proxy.settlement.committer import Committer
from cocoon.proxy.settlement.contract import ensure_contract
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.proxy.settlement.counters import SettlementCounters
from cocoon.proxy.settlement.payment_signer import PaymentSigner
from cocoon.proxy.settlement.settler import Settler
from cocoon.proxy.settlement.updates import PaymentPeer, UpdatePusher, WorkerPeer
from cocoon.registry.snapshot import network_params
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain
from cocoon.ton.data import address_of, proxy_state_init
from cocoon.ton.params import Params
from cocoon.ton.signed import public_key_of
from cocoon.ton.watch import TxCursor
from cocoon.wallet.sender import MessageSender
from cocoon.wire.control import ClientRegistered, PaymentStatus, RegisterClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettlementConfig:
    """Intervals and thresholds; tests shrink them to force charges and payouts quickly."""

    flush_interval_s: float = 1.0
    note_interval_s: float = 45.0
    settle_interval_s: float = 5.0
    tick_s: float = 0.5
    chain_poll_s: float = 0.0
    """Seconds between reads of the contract's transactions once ready (0: every tick); before the
    start note is seen, and when forced, every tick reads."""
    thresholds: Thresholds = DEFAULT_THRESHOLDS


class ProxySettlement:
    """Payment channels of one proxy contract (see the module docstring)."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        ledger: Ledger,
        secret_key: bytes,
        owner: Address,
        root: Address,
        chain_params: Params,
        config: SettlementConfig = SettlementConfig(),
        *,
        session_hash: bytes | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chain, self.sender, self.ledger = chain, sender, ledger
        self.public_key = int.from_bytes(public_key_of(secret_key), "big")
        self.owner = owner
        """The proxy contract's owner (what a COCOON client is told in ``proxy.params``)."""
        self.chain_params = chain_params
        self.params: NetworkParams = network_params(chain_params)
        self.config, self.clock = config, clock
        self.init = proxy_state_init(owner, self.public_key, root, chain_params)
        self.contract = address_of(self.init)
        self.scope = self.contract.raw
        """What this contract's channels are kept under in the ledger (``RequestCharge.contract``)."""
        self.store = CommitStore(ledger, self.scope)
        self.pipeline = self.store.pipeline(session_hash or secrets.token_bytes(32), config.note_interval_s)
        self.channels = Channels.restored(self.store.channels())
        self.counters = SettlementCounters()
        self.counterparts = Counterparts(chain, self.contract, self.public_key, chain_params, self.channels)
        cursor = TxCursor(self.contract, self.store.cursor_lt)
        self.reader = ChainReader(
            chain, cursor, self.store, self.pipeline, self.channels, self.counterparts, sender
        )
        self.signer = PaymentSigner(secret_key, self.channels, self.counterparts, sender)
        self.settler = Settler(
            chain,
            sender,
            self.contract,
            self.channels,
            self.counterparts,
            self.signer,
            self.params,
            self.counters,
            clock,
        )
        self.committer = Committer(
            self.pipeline, self.store, self.channels, ledger, sender, self.contract, self.counters
        )
        self.clients = ClientBindings(
            self.contract, self.channels, self.counterparts, self.signer, self.params
        )
        self.updates = UpdatePusher(self.channels, self.signer, self.counters)
        self.closer = ProxyCloser(
            chain,
            sender,
            self.contract,
            secret_key,
            self.store,
            self.channels,
            self.counterparts,
            self.signer,
            self._commit_now,
            clock,
        )
        """Closes the proxy contract when asked (or when the owner did): :mod:`.closer`."""
        self.refused: str | None = None
        self._last_flush = self._last_settle = self._last_read = -1e18

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the start note was seen (every earlier note checked) and nothing was refused."""
        return self.refused is None and self.pipeline.ready

    @property
    def refusal(self) -> str | None:
        """Why the proxy must not serve now (rolled-back state, or still confirming its start)."""
        if self.refused is None and not self.pipeline.ready:
            return "the proxy is confirming its state on chain; retry in a few seconds"
        return self.refused or self.closer.refusal

    async def start(self) -> None:
        """Deploy and stake the proxy contract if needed, then send the start note."""
        await ensure_contract(self.chain, self.sender, self.contract, self.init, self.chain_params)
        await self.committer.start(self.clock.monotonic())
        await self.closer.check()  # a contract closing (or closed) takes no new requests from the start

    async def wait_ready(self, timeout_s: float) -> None:
        """Tick until the start note is seen; ChainError if it is not within ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                while not self.ready:
                    await self.tick()
                    if self.refused:
                        raise StateRollbackError(self.refused)
                    await asyncio.sleep(self.config.tick_s)
        except TimeoutError:
            raise ChainError(
                f"the proxy's start note did not appear on chain within {timeout_s:g} s; check that the "
                "chain is reachable and the proxy's wallet can pay, then restart"
            ) from None

    async def push_forever(self, workers: Iterable[WorkerPeer]) -> None:
        """Push payment updates to ``workers`` and bound clients, until cancelled (safe to cancel: an
        update not delivered is pushed again by the next run)."""
        await self.updates.push_forever(workers, self.clients.connected)

    async def run_ticks(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Tick until refused or ``stop()`` (checked after each tick); a tick's errors are logged and
        retried (chain unreachable, wallet short of TON)."""
        while self.refused is None:
            try:
                await self.tick()
            except CocoonError as exc:
                log.warning("settlement of %s: %s; retrying", self.contract, exc)
            if stop():
                return
            await asyncio.sleep(self.config.tick_s)

    @property
    def closed(self) -> bool:
        """Whether the contract's close is complete (seen on chain)."""
        return self.closer.decision.phase is Phase.CLOSED

    def forget_when_closed(self) -> None:
        """The contract is closed: remember it, so that a restart does not come back to its close."""
        if self.closed:
            self.store.closed()
            log.info("the proxy contract %s is closed: nothing is left to do for it", self.contract)

    async def tick(self, *, force: bool = False) -> None:
        """One round: read the chain, flush, note, settle (``force``: notes and flush now)."""
        if self.refused is not None:
            return
        now = self.clock.monotonic()
        try:
            if force or not self.ready or now - self._last_read >= self.config.chain_poll_s:
                self._last_read = now
                await self.reader.read()
        except StateRollbackError as exc:
            self.refused = str(exc)
            log.error("REFUSING TO SERVE: %s", exc)
            return
        if force or now - self._last_flush >= self.config.flush_interval_s:
            self.committer.flush()
            self._last_flush = now
        note = self.pipeline.note_due(now, force=force or self.settler.commit_wanted)
        self.settler.commit_wanted = False
        if note is not None:
            await self.committer.send_note(note)
        if self.ready and (force or now - self._last_settle >= self.config.settle_interval_s):
            self._last_settle = now
            if await self.closer.check():
                await self.closer.step()  # closing: final refunds and payouts instead of charges
            else:
                await self.settler.settle(self.config.thresholds, self.closer.proxy)

    async def force(self, *, timeout_s: float = 30.0) -> None:
        """Flush, commit on chain and settle everything now, whatever the thresholds (operator request)."""
        if self.refused:
            raise StateRollbackError(self.refused)
        self.committer.flush()
        target = self.pipeline.last_seqno
        async with asyncio.timeout(timeout_s):
            while self.pipeline.committed_seqno < target:
                await self.tick(force=True)
                if self.refused:
                    raise StateRollbackError(self.refused)
                if self.pipeline.committed_seqno < target:
                    await asyncio.sleep(self.config.tick_s)
        if not self.closer.active:  # a closing proxy's money moves only through the close
            await self.settler.settle(
                Thresholds(charge_nano=Nano(0), payout_nano=Nano(0), withdraw_nano=Nano(0))
            )

    async def _commit_now(self) -> None:
        """Flush and send a save-state note now (the close needs every total chain-committed)."""
        self.committer.flush()
        note = self.pipeline.note_due(self.clock.monotonic(), force=True)
        if note is not None:
            await self.committer.send_note(note)

    def request_close(self) -> dict[str, Any]:
        """Start closing the proxy contract (persisted; idempotent); returns :meth:`close_status`.

        The proxy takes no new requests from now on; the ticks carry the close through (:mod:`.closer`)."""
        if self.refused:
            raise StateRollbackError(self.refused)
        self.closer.request()
        return self.close_status()

    def close_status(self) -> dict[str, Any]:
        """Where the close of the proxy contract stands (phase ``open`` when none was asked)."""
        return self.closer.status()

    # --- the client book's ChainCredit, clients --------------------------------------------------

    def owner_of(self, client_id: str) -> str | None:
        """The owner of the client contract paying for ``client_id`` (None: off-chain credit)."""
        return self.clients.owner_of(client_id)

    def available(self, client_owner: str, reserved: int) -> int:
        """Adjusted tokens ``client_owner`` may still reserve, from its contract state (spec formula)."""
        return self.clients.available(client_owner, reserved)

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: Tokens) -> None:
        """A request was recorded in the ledger (its running totals are durable): count it."""
        if client_owner:
            self.channels.add(CLIENT_CHANNEL, client_owner, tokens)
        if worker_owner:
            self.channels.add(WORKER_CHANNEL, worker_owner, tokens)

    async def register_client(
        self, client_id: str, body: RegisterClient, conn: PaymentPeer | None
    ) -> ClientRegistered:
        """Bind ``client_id`` to the client contract of ``body.owner`` once its secret checks out."""
        return await self.clients.register(client_id, body, conn)

    def forget_client(self, client_id: str, conn: PaymentPeer) -> None:
        """The client's connection ``conn`` closed: no more updates to it."""
        self.clients.forget(client_id, conn)

    def payment_status(self, client_id: str) -> PaymentStatus | None:
        """A bound client's channel counters, latest signed charge and spendable balance."""
        return self.clients.payment_status(client_id)

    async def push(self, workers: Iterable[WorkerPeer]) -> None:
        """Send every moved channel's update to its connected workers and bound clients."""
        await self.updates.push(workers, self.clients.connected())

    def stats(self) -> dict[str, Any]:
        """The settlement's part of ``/jsonstats``."""
        return {
            "proxy_contract": self.contract.raw,
            "wallet": self.sender.address.raw,
            "ready": self.ready,
            "params_version": self.chain_params.params_version,
            "refused": self.refused,
            "last_seqno": self.pipeline.last_seqno,
            "committed_seqno": self.pipeline.committed_seqno,
            "counters": asdict(self.counters),
            "channels": {f"{kind}:{owner}": asdict(c) for (kind, owner), c in self.channels.items()},
            "clients": self.clients.owners(),
            "close": self.closer.status(),
            "requests": request_stats(self.chain),
        }

"""The proxy's settlement on chain: its contract, the commit pipeline, charges, payouts, commission.

:class:`ProxySettlement` is the asyncio shell around the pure core (:mod:`cocoon.payments.channel`,
``commit``, ``thresholds``, ``credit``) and the façade of its parts. One
:meth:`~ProxySettlement.tick` (every ~1 s from :meth:`~ProxySettlement.run`):

1. reads the proxy contract's new transactions (:mod:`cocoon.proxy.chain_reader`): save-state notes
   confirm seqnos (a note the database never issued -> :class:`StateRollbackError`, the proxy stops
   serving); client and worker requests update what the proxy knows of each counterpart contract
   (:mod:`cocoon.proxy.counterparts`);
2. stamps changed channels under a new local seqno (one DB transaction, :mod:`cocoon.proxy.committer`);
3. sends a save-state note when due (persisted as pending first);
4. charges clients / pays workers / withdraws the commission when thresholds are met
   (:mod:`cocoon.proxy.settler`), signing only chain-committed totals (:mod:`cocoon.proxy.payment_signer`).

Every start draws a fresh session hash and sends a start note; :attr:`ready` turns true when it is seen.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cocoon.errors import ChainError, CocoonError, StateRollbackError
from cocoon.payments.channel import Channel, Counters
from cocoon.payments.commit import CommitPipeline
from cocoon.payments.credit import ClientContractView, available_tokens
from cocoon.payments.params import NetworkParams
from cocoon.payments.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cocoon.proxy.chain_reader import ChainReader
from cocoon.proxy.commit_store import ChannelKey, CommitStore
from cocoon.proxy.committer import Committer
from cocoon.proxy.counterparts import Counterparts, Target
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.proxy.payment_signer import PaymentSigner, new_query_id
from cocoon.proxy.settler import SettlementCounters, Settler
from cocoon.registry.snapshot import network_params
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ProxyData, address_of, proxy_state_init
from cocoon.ton.ops import COMMISSION_ESTIMATE, DEPLOY_VALUE
from cocoon.ton.params import Params
from cocoon.ton.signed import public_key_of
from cocoon.ton.watch import TxCursor
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SettlementConfig:
    """Intervals and thresholds; tests shrink them to force charges and payouts quickly."""

    flush_interval_s: float = 1.0
    note_interval_s: float = 45.0
    settle_interval_s: float = 5.0
    tick_s: float = 0.5
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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain, self.sender, self.ledger = chain, sender, ledger
        self.public_key = int.from_bytes(public_key_of(secret_key), "big")
        self.chain_params = chain_params
        self.params: NetworkParams = network_params(chain_params)
        self.config = config
        self.clock = clock
        self.init = proxy_state_init(owner, self.public_key, root, chain_params)
        self.contract = address_of(self.init)
        self.store = CommitStore(ledger)
        self.pipeline = CommitPipeline(
            session_hash or secrets.token_bytes(32),
            last_seqno=self.store.last_seqno,
            pending=self.store.pending(),
            note_interval_s=config.note_interval_s,
        )
        self.channels: dict[ChannelKey, Channel] = {
            key: Channel.restored(tokens) for key, tokens in self.store.channels().items()
        }
        self.counterparts = Counterparts(chain, self.contract, self.public_key, chain_params, self.channels)
        self.clients: dict[str, ClientContractView] = self.counterparts.clients
        self.targets: dict[ChannelKey, Target] = self.counterparts.targets
        self.cursor = TxCursor(self.contract, self.store.cursor_lt)
        self.reader = ChainReader(
            chain, self.cursor, self.store, self.pipeline, self.channels, self.counterparts, sender
        )
        self.signer = PaymentSigner(secret_key, self.counterparts, sender)
        self.refused: str | None = None
        self.counters = SettlementCounters()
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
        self._last_flush = self._last_settle = -1e18

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the start note was seen (every earlier note checked) and nothing was refused."""
        return self.refused is None and self.pipeline.ready

    async def start(self) -> None:
        """Deploy and stake the proxy contract if needed, then send the start note."""
        await self.ensure_contract()
        await self.committer.start(self.clock())

    async def ensure_contract(self) -> None:
        """Deploy the proxy contract (0.3 TON) and raise its stake to the network minimum."""
        state = await self.chain.get_account(self.contract)
        if state.status is not AccountStatus.ACTIVE:
            log.info("deploying the proxy contract %s", self.contract)
            await self.sender.send(self.contract, DEPLOY_VALUE, state_init=self.init, bounce=False)
            state = await self.chain.get_account(self.contract)
            if state.status is not AccountStatus.ACTIVE or state.data is None:
                raise ChainError(f"the proxy contract {self.contract} did not deploy; check the wallet")
        assert state.data is not None
        stake = ProxyData.from_cell(state.data).stake
        missing = self.chain_params.min_proxy_stake - stake
        if missing > 0:
            body = m.ExtProxyIncreaseStake(
                query_id=new_query_id(), grams=missing, excess_to=self.sender.address
            )
            await self.sender.send(self.contract, missing + 2 * COMMISSION_ESTIMATE, body.to_cell())

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

    async def run(self) -> None:
        """Tick forever (until cancelled); a refusal stops the loop and leaves ``refused`` set."""
        while self.refused is None:
            try:
                await self.tick()
            except CocoonError as exc:  # chain unreachable, wallet short of TON: retry next tick
                log.warning("settlement: %s; retrying", exc)
            await asyncio.sleep(self.config.tick_s)

    async def tick(self, *, force: bool = False) -> None:
        """One round: read the chain, flush, note, settle (``force``: notes and flush now)."""
        if self.refused is not None:
            return
        now = self.clock()
        await self.read_chain()
        if self.refused is not None:
            return
        if force or now - self._last_flush >= self.config.flush_interval_s:
            self.flush()
            self._last_flush = now
        note = self.pipeline.note_due(now, force=force or self.settler.commit_wanted)
        self.settler.commit_wanted = False
        if note is not None:
            await self.committer.send_note(note)
        if self.ready and (force or now - self._last_settle >= self.config.settle_interval_s):
            self._last_settle = now
            await self.settle(self.config.thresholds)

    # --- requests ---------------------------------------------------------------------------------

    def channel(self, kind: str, owner: str) -> Channel:
        return self.channels.setdefault((kind, owner), Channel())

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: int) -> None:
        """A request was recorded in the ledger (its running totals are durable): count it."""
        if client_owner:
            self.channel(CLIENT_CHANNEL, client_owner).add(tokens)
        if worker_owner:
            self.channel(WORKER_CHANNEL, worker_owner).add(tokens)

    def available(self, client_owner: str, reserved: int) -> int:
        """Adjusted tokens ``client_owner`` may still reserve, from its contract state (spec formula)."""
        view = self.clients.get(client_owner)
        if view is None:
            return -reserved
        used = self.channels.get((CLIENT_CHANNEL, client_owner), Channel()).tokens_max
        return available_tokens(view, used, reserved, self.params)

    def counters_of(self, kind: str, owner: str) -> Counters:
        return self.channels.get((kind, owner), Channel()).counters

    def client_contract(self, owner: Address) -> Address:
        return self.counterparts.client_contract(owner)

    async def register_client(self, owner: Address) -> ClientContractView | None:
        """Learn a client's contract state from the chain (``None`` if it is not deployed yet)."""
        return await self.counterparts.register_client(owner)

    def signed_payment(self, kind: str, owner: str) -> bytes | None:
        """BoC of the proxy-signed charge (client) or payout (worker) for the chain-committed total."""
        tokens = self.counters_of(kind, owner).committed_to_chain
        if tokens == 0:
            return None
        return self.signer.boc(kind, owner, tokens)

    # --- chain reading ----------------------------------------------------------------------------

    async def read_chain(self) -> None:
        """Process the proxy contract's new transactions and persist the cursor with the notes seen."""
        try:
            await self.reader.read()
        except StateRollbackError as exc:
            self.refused = str(exc)
            log.error("REFUSING TO SERVE: %s", exc)

    # --- writing ----------------------------------------------------------------------------------

    def flush(self) -> int | None:
        """Stamp every changed channel under a new seqno (one transaction); returns the seqno."""
        return self.committer.flush()

    async def settle(self, thresholds: Thresholds) -> None:
        """Charge clients, pay workers and withdraw the commission where ``thresholds`` are met."""
        await self.settler.settle(thresholds)

    async def withdraw(self, thresholds: Thresholds) -> None:
        """Ask the proxy contract to send its commission to the owner when it reaches the threshold."""
        await self.settler.withdraw(thresholds)

    async def withdrawable(self) -> int:
        """The commission the proxy contract holds for its owner (its ``balance`` field)."""
        return await self.settler.withdrawable()

    async def force(self, *, timeout_s: float = 30.0) -> None:
        """Flush, commit on chain and settle everything now, whatever the thresholds (operator request)."""
        if self.refused:
            raise StateRollbackError(self.refused)
        self.flush()
        target = self.pipeline.last_seqno
        async with asyncio.timeout(timeout_s):
            while self.pipeline.committed_seqno < target:
                await self.tick(force=True)
                if self.refused:
                    raise StateRollbackError(self.refused)
                if self.pipeline.committed_seqno < target:
                    await asyncio.sleep(self.config.tick_s)
        await self.settle(Thresholds(charge_nano=0, payout_nano=0, withdraw_nano=0))

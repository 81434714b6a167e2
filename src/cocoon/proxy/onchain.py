"""The proxy's settlement on chain: its contract, the commit pipeline, charges, payouts, commission.

:class:`ProxySettlement` is the asyncio shell around the pure core (:mod:`cocoon.payments.channel`,
``commit``, ``thresholds``, ``credit``). One :meth:`~ProxySettlement.tick` (every ~1 s from
:meth:`~ProxySettlement.run`):

1. reads the proxy contract's new transactions: save-state notes from the proxy's own wallet confirm
   seqnos (a note the database never issued -> :class:`StateRollbackError`, the proxy stops serving);
   ``client_proxy_request`` / ``worker_proxy_request`` (sent by every client and worker op, also as
   1-nanoTON notes whose compute phase is skipped, so the sender is checked here by recomputing its
   contract address) update what the proxy knows of each client and worker contract;
2. stamps changed channels under a new local seqno (one DB transaction);
3. sends a save-state note when due (persisted as pending first);
4. charges clients / pays workers / withdraws the commission when thresholds are met, signing only
   chain-committed totals.

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
from cocoon.payments.commit import CommitPipeline, Note
from cocoon.payments.credit import ClientContractView, available_tokens
from cocoon.payments.params import NetworkParams
from cocoon.payments.thresholds import (
    DEFAULT_THRESHOLDS,
    Thresholds,
    proxy_should_charge,
    proxy_should_pay,
    proxy_should_withdraw,
)
from cocoon.proxy.commit_store import ChannelKey, CommitStore
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.registry.snapshot import network_params
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell, cell_to_boc
from cocoon.ton.chain import AccountStatus, Chain, Transaction
from cocoon.ton.data import (
    ClientData,
    ProxyData,
    WorkerData,
    address_of,
    client_state_init,
    proxy_state_init,
    worker_state_init,
)
from cocoon.ton.ops import COMMISSION_ESTIMATE, DEPLOY_VALUE, TON, Op
from cocoon.ton.params import Params
from cocoon.ton.signed import public_key_of, sign_request
from cocoon.ton.watch import TxCursor, poll
from cocoon.wallet.sender import MessageSender, OutMessage

log = logging.getLogger(__name__)

PAY_VALUE = 7 * TON // 10
"""TON attached to a signed charge or payout (the excess returns to the wallet)."""
WITHDRAW_VALUE = TON // 5
INFLIGHT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SettlementConfig:
    """Intervals and thresholds; tests shrink them to force charges and payouts quickly."""

    flush_interval_s: float = 1.0
    note_interval_s: float = 45.0
    settle_interval_s: float = 5.0
    tick_s: float = 0.5
    thresholds: Thresholds = DEFAULT_THRESHOLDS


@dataclass
class _Target:
    """One counterpart contract: its address and the total it has recorded on chain."""

    address: Address
    on_chain: int = 0
    active: bool = False
    in_flight: tuple[int, float] | None = None  # (tokens sent, when)


@dataclass
class SettlementCounters:
    notes_sent: int = 0
    charges_sent: int = 0
    payouts_sent: int = 0
    withdrawals_sent: int = 0
    refunds_granted: int = 0
    flushes: int = 0


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
        self.secret_key = secret_key
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
        self.clients: dict[str, ClientContractView] = {}
        self.targets: dict[ChannelKey, _Target] = {}
        self.cursor = TxCursor(self.contract, self.store.cursor_lt)
        self.refused: str | None = None
        self.counters = SettlementCounters()
        self._last_flush = self._last_settle = -1e18
        self._signed: dict[ChannelKey, tuple[int, bytes]] = {}
        self._granted: dict[str, float] = {}  # client owner -> when its grant_refund was sent
        self._commit_wanted = False

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the start note was seen (every earlier note checked) and nothing was refused."""
        return self.refused is None and self.pipeline.ready

    async def start(self) -> None:
        """Deploy and stake the proxy contract if needed, then send the start note."""
        await self.ensure_contract()
        note = self.pipeline.start(self.clock())
        values = {key: ch.tokens_max for key, ch in self.channels.items()}
        self.store.flush(note.seqno, values, note)
        for key, ch in self.channels.items():
            ch.stamp(note.seqno, values[key])
        await self._send_note(note)

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
            body = m.ExtProxyIncreaseStake(query_id=_qid(), grams=missing, excess_to=self.sender.address)
            await self.sender.send(self.contract, missing + 2 * COMMISSION_ESTIMATE, body.to_cell())

    async def wait_ready(self, timeout_s: float) -> None:
        """Tick until the start note is seen; ChainError if it is not within ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            while not self.ready:
                await self.tick()
                if self.refused:
                    raise StateRollbackError(self.refused)
                await asyncio.sleep(self.config.tick_s)

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
        note = self.pipeline.note_due(now, force=force or self._commit_wanted)
        self._commit_wanted = False
        if note is not None:
            self.store.add_pending(note)
            await self._send_note(note)
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
        return address_of(client_state_init(owner, self.contract, self.public_key, self.chain_params))

    def worker_contract(self, owner: Address) -> Address:
        return address_of(worker_state_init(owner, self.contract, self.public_key, self.chain_params))

    async def register_client(self, owner: Address) -> ClientContractView | None:
        """Learn a client's contract state from the chain (``None`` if it is not deployed yet)."""
        state = await self.chain.get_account(self.client_contract(owner))
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            return None
        data = ClientData.from_cell(state.data)
        view = ClientContractView(data.balance, data.stake, data.tokens_used, data.state, data.secret_hash)
        self._update_client(owner.raw, view)
        return view

    def signed_payment(self, kind: str, owner: str) -> bytes | None:
        """BoC of the proxy-signed charge (client) or payout (worker) for the chain-committed total."""
        tokens = self.counters_of(kind, owner).committed_to_chain
        if tokens == 0:
            return None
        cached = self._signed.get((kind, owner))
        if cached is not None and cached[0] == tokens:
            return cached[1]
        boc = cell_to_boc(self._signed_cell(kind, owner, tokens))
        self._signed[(kind, owner)] = (tokens, boc)
        return boc

    def _signed_cell(self, kind: str, owner: str, tokens: int, op: int | None = None) -> Cell:
        target = self._target(kind, owner).address
        if op is None:
            op = (
                Op.EXT_CLIENT_CHARGE_SIGNED if kind == CLIENT_CHANNEL else Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED
            )
        request = sign_request(
            self.secret_key,
            op,
            query_id=_qid(),
            target=target,
            new_tokens=tokens,
            send_excesses_to=self.sender.address,
        )
        return request.to_cell()

    # --- chain reading ----------------------------------------------------------------------------

    async def read_chain(self) -> None:
        """Process the proxy contract's new transactions and persist the cursor with the notes seen."""
        txs = await poll(self.chain, self.cursor)
        seen: list[int] = []
        for tx in txs:
            try:
                seqno = self._on_transaction(tx)
            except StateRollbackError as exc:
                self.refused = str(exc)
                log.error("REFUSING TO SERVE: %s", exc)
                return
            if seqno is not None:
                seen.append(seqno)
        if txs:
            self.store.observed(self.cursor.last_lt, seen)

    def _on_transaction(self, tx: Transaction) -> int | None:
        msg = tx.in_msg
        if msg is None or msg.src is None or msg.external:
            return None
        body = msg.parsed
        if isinstance(body, m.SaveState) and msg.src == self.sender.address:
            seqno = self.pipeline.observe(Note(body.seqno, body.session_hash))
            if seqno is not None:
                for ch in self.channels.values():
                    ch.commit_chain(seqno)
            return seqno
        if isinstance(body, m.ClientProxyRequest) and body.owner is not None:
            if msg.src == self.client_contract(body.owner):
                snap = body.client
                view = ClientContractView(
                    snap.balance, snap.stake, snap.tokens_used, snap.state, snap.secret_hash
                )
                self._update_client(body.owner.raw, view)
        elif (
            isinstance(body, m.WorkerProxyRequest)
            and body.owner is not None
            and msg.src == self.worker_contract(body.owner)
        ):
            target = self._target(WORKER_CHANNEL, body.owner.raw)
            target.on_chain = max(target.on_chain, body.tokens)
            target.active = True
        return None

    def _update_client(self, owner: str, view: ClientContractView) -> None:
        old = self.clients.get(owner)
        # Notes may be read out of order with a direct read: the contract's tokens_used never drops.
        if old is None or view.sc_tokens_used >= old.sc_tokens_used:
            self.clients[owner] = view
        if view.state == 1:
            self.channel(CLIENT_CHANNEL, owner)  # a client closing before any request still gets its refund
        target = self._target(CLIENT_CHANNEL, owner)
        target.on_chain = max(target.on_chain, view.sc_tokens_used)
        target.active = True

    def _target(self, kind: str, owner: str) -> _Target:
        key = (kind, owner)
        target = self.targets.get(key)
        if target is None:
            address = Address.parse(owner)
            contract = (
                self.client_contract(address) if kind == CLIENT_CHANNEL else self.worker_contract(address)
            )
            target = self.targets[key] = _Target(contract)
        return target

    # --- writing ----------------------------------------------------------------------------------

    def flush(self) -> int | None:
        """Stamp every changed channel under a new seqno (one transaction); returns the seqno."""
        dirty = {key: ch.tokens_max for key, ch in self.channels.items() if ch.dirty}
        if not dirty:
            return None
        seqno = self.pipeline.next_seqno()
        self.store.flush(seqno, dirty)
        for key, value in dirty.items():
            self.channels[key].stamp(seqno, value)
        self.counters.flushes += 1
        return seqno

    async def _send_note(self, note: Note) -> None:
        self.ledger.make_durable()  # the seqno the note names must outlive a power loss
        body = m.SaveState.make(_qid(), note.seqno, note.session_hash).to_cell()
        await self.sender.send(self.contract, 1, body, bounce=False)
        self.counters.notes_sent += 1

    async def settle(self, thresholds: Thresholds) -> None:
        """Charge clients, pay workers and withdraw the commission where ``thresholds`` are met."""
        now = self.clock()
        messages: list[OutMessage] = []
        for (kind, owner), ch in list(self.channels.items()):
            target = self._target(kind, owner)
            if not target.active and not await self._load_target(kind, owner):
                continue
            view = self.clients.get(owner) if kind == CLIENT_CHANNEL else None
            if view is not None and view.state != 0:
                closing = self._close_client(owner, ch, view.state, now)
                messages.extend([closing] if closing else [])
                continue
            if target.in_flight and (
                target.on_chain >= target.in_flight[0] or now - target.in_flight[1] > INFLIGHT_TIMEOUT_S
            ):
                target.in_flight = None
            if target.in_flight:
                continue
            due = proxy_should_charge if kind == CLIENT_CHANNEL else proxy_should_pay
            if not due(ch.committed_to_chain, target.on_chain, self.params, thresholds):
                continue
            body = self._signed_cell(kind, owner, ch.committed_to_chain)
            messages.append(OutMessage(target.address, PAY_VALUE, body))
            target.in_flight = (ch.committed_to_chain, now)
            if kind == CLIENT_CHANNEL:
                self.counters.charges_sent += 1
            else:
                self.counters.payouts_sent += 1
        if messages:
            await self.sender.send_many(messages)
        await self.withdraw(thresholds)

    def _close_client(self, owner: str, ch: Channel, state: int, now: float) -> OutMessage | None:
        """A client asked to close: once all its usage is chain-committed, sign the final charge
        (``grant_refund``), which closes the contract and refunds the rest at once."""
        if state != 1 or now - self._granted.get(owner, -1e18) < INFLIGHT_TIMEOUT_S:
            return None
        if ch.committed_to_chain < ch.tokens_max:
            self._commit_wanted = True  # the next tick sends a note without waiting for the interval
            return None
        self._granted[owner] = now
        self.counters.refunds_granted += 1
        op = Op.EXT_CLIENT_GRANT_REFUND_SIGNED
        body = self._signed_cell(CLIENT_CHANNEL, owner, ch.committed_to_chain, op)
        return OutMessage(self._target(CLIENT_CHANNEL, owner).address, PAY_VALUE, body)

    async def withdraw(self, thresholds: Thresholds) -> None:
        """Ask the proxy contract to send its commission to the owner when it reaches the threshold."""
        if proxy_should_withdraw(await self.withdrawable(), thresholds):
            body = m.ExtProxyPayoutRequest(query_id=_qid(), excess_to=self.sender.address).to_cell()
            await self.sender.send(self.contract, WITHDRAW_VALUE, body)
            self.counters.withdrawals_sent += 1

    async def _load_target(self, kind: str, owner: str) -> bool:
        """Read a counterpart contract not heard from yet; whether it is deployed."""
        if kind == CLIENT_CHANNEL:
            return await self.register_client(Address.parse(owner)) is not None
        target = self._target(kind, owner)
        state = await self.chain.get_account(target.address)
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            return False
        target.on_chain = max(target.on_chain, WorkerData.from_cell(state.data).tokens)
        target.active = True
        return True

    async def withdrawable(self) -> int:
        """The commission the proxy contract holds for its owner (its ``balance`` field)."""
        state = await self.chain.get_account(self.contract)
        if state.data is None:
            return 0
        return ProxyData.from_cell(state.data).balance

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


def _qid() -> int:
    return secrets.randbits(64)

"""The client's side of its payment channels: one client contract per proxy, top-ups, self-charges, close.

Per proxy the client deploys its client contract (owner = its node wallet; proxy contract from the
proxy, whose key is the one its certificate attests and which the proxy contract's data must hold),
stakes the network minimum (the contract's ``stake``), sets ``secret_hash`` = sha256 of a secret derived
from its wallet key, tops up one stake, and registers with the proxy (``RegisterClient``), which then
extends credit from the contract's state. From then on, every ``maintain_interval_s``:

- top up one stake when paid - used < stake / 2 (:func:`~cocoon.payments.thresholds.client_top_up_nano`),
  at most once per need: a top-up (or the opening's) that is sent but not seen landed in the contract's
  data yet is recorded on its channel and no other automatic one is sent on top of it until it lands
  or, after ``land_timeout_s``, is given up as lost (:mod:`cocoon.payments.top_up`, the decision); a
  top-up asked for (:meth:`ClientPayments.top_up`) is always sent, and recorded the same way;
- submit the proxy's latest signed charge itself when the proxy-reported, chain-committed usage is
  more than half a stake above what the contract charged (the proxy should have done it).

Opening a channel is single-flight per proxy contract: connections that reach the same proxy contract
together (two addresses of one proxy, a reconnect while the first opening is under way) share one
opening, and the upkeep leaves a channel alone until its opening completed and its secret hash shows.

Payment updates are checked like the worker does: no counter may go down, a signed charge must verify
with the proxy key, target our contract and sign the chain-committed total; a failing proxy is dropped.

When the root's ``params_version`` rises, :meth:`ClientPayments.move_to` retires every client contract
(:mod:`cocoon.client.retire`: refunded by the proxy, or closed by the client itself) and takes the new
params, under which the next connections deploy new contracts; a proxy contract that is closing or
under other params is refused until it redeploys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon.chainsvc.limiter import request_stats
from cocoon.client import top_ups
from cocoon.client.retire import RetireStep, Retiring, refund_delay_s, retire_step
from cocoon.clock import SYSTEM_CLOCK, Clock
from cocoon.errors import CocoonError, PaymentError
from cocoon.net.rpc import RpcConnection
from cocoon.payments.counterpart import ChannelView, accept_update, parse_signed
from cocoon.payments.credit import client_view
from cocoon.payments.params import Nano, Tokens
from cocoon.payments.thresholds import client_should_self_charge, client_top_up_nano
from cocoon.payments.top_up import LAND_TIMEOUT_S, TopUpDecision, TopUpInFlight, paid_total_nano
from cocoon.registry.snapshot import network_params
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ClientData, ProxyData, address_of, client_state_init
from cocoon.ton.ops import COMMISSION_ESTIMATE, TON
from cocoon.ton.params import Params
from cocoon.ton.signed import ClientChargeSigned
from cocoon.wallet.sender import MessageSender
from cocoon.wire.control import ClientRegistered, GetProxyInfo, ProxyInfo, RegisterClient
from cocoon.wire.messages import PaymentUpdate

log = logging.getLogger(__name__)

OP_VALUE = TON // 5
"""TON attached to owner operations (register, withdraw, close); the excess comes back."""
CHARGE_VALUE = 7 * TON // 10


@dataclass
class ClientChannel(ChannelView):
    """The client's view of its channel with one proxy."""

    data: ClientData | None = None
    top_up: TopUpInFlight | None = None
    """The top-ups sent to the contract and not seen landed yet (:mod:`cocoon.payments.top_up`)."""
    deploy_sent_at: float | None = None
    """When our deployment of the contract was last included (monotonic seconds; None: never sent)."""


class ClientPayments:
    """Client contracts and their upkeep for every proxy of one client daemon."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        chain_params: Params,
        wallet_secret: bytes,
        *,
        auto_top_up: bool = True,
        top_up_nano: int = 0,
        retiring_path: Path | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.chain, self.sender = chain, sender
        self.clock = clock
        self.chain_params = chain_params
        self.params = network_params(chain_params)
        self._wallet_secret = wallet_secret
        self.auto_top_up = auto_top_up
        self._top_up_config = top_up_nano
        self.top_up_nano = Nano(top_up_nano or chain_params.min_client_stake)
        self.channels: dict[str, ClientChannel] = {}  # by proxy contract (raw)
        self.retiring_path = retiring_path  # the retirements on disk (None: in memory only)
        self.retiring: dict[str, Retiring] = {}  # by client contract (raw): under old params
        if retiring_path is not None and retiring_path.exists():
            for doc in json.loads(retiring_path.read_text()):
                old = Retiring.from_json(doc)
                self.retiring[old.contract.raw] = old
        self.dropped: dict[str, str] = {}
        self.counters = {
            "self_charges": 0,
            "retired": 0,
            "top_ups_opening_skipped": 0,
            **dict.fromkeys(top_ups.COUNTERS, 0),
        }
        """``top_ups_in_flight_skipped``: automatic top-ups not sent because one for the same need is in
        flight; ``top_ups_expired``: top-ups taken as lost after ``land_timeout_s``;
        ``top_ups_opening_skipped``: upkeep of a channel left alone while its opening is under way or
        has not landed (the opening tops the contract up itself); ``deploys_in_flight_skipped``: an
        opening that did not deploy again because its deployment was sent and has not landed yet."""
        self.interval_s = 2.0
        """Seconds between upkeep rounds (the node's ``payments_interval_s``): one chain read per channel."""
        self.land_timeout_s = LAND_TIMEOUT_S
        """Seconds after its inclusion by which a top-up must show in the contract's data; after that
        it is taken as lost and sent again if still needed."""
        self._opening: dict[tuple[str, bytes], asyncio.Task[ClientChannel]] = {}
        """Openings under way, by (proxy contract (raw), proxy key): callers for the same one share it."""

    @property
    def owner(self) -> Address:
        return self.sender.address

    def secret_for(self, proxy_contract: Address) -> bytes:
        """The secret shown to one proxy (derived, so nothing more needs to be stored)."""
        return hashlib.sha256(
            b"cocoon-client-secret" + self._wallet_secret + proxy_contract.hash_part
        ).digest()

    def _secret_hash(self, proxy_contract: Address) -> int:
        return int.from_bytes(hashlib.sha256(self.secret_for(proxy_contract)).digest(), "big")

    async def join(self, conn: RpcConnection, proxy_key: bytes) -> ClientChannel:
        """Find the proxy's contract, open ours if needed (deploy, stake, secret, one top-up), register."""
        info = await conn.query(GetProxyInfo(), timeout=30)
        if not isinstance(info, ProxyInfo) or not info.proxy_contract:
            raise PaymentError("the proxy does not settle on chain; use one that does or run without a chain")
        channel = await self.open(Address.parse(info.proxy_contract), proxy_key)
        secret = self.secret_for(channel.proxy_contract)
        answer = await conn.query(RegisterClient(self.owner.raw, secret), timeout=30)
        if not isinstance(answer, ClientRegistered) or answer.client_contract != channel.contract.raw:
            raise PaymentError(f"the proxy computed another client contract than ours ({channel.contract})")
        if not answer.deployed:
            raise PaymentError(f"the proxy does not see our client contract {channel.contract} yet; retrying")
        return channel

    async def open(self, proxy_contract: Address, proxy_key: bytes) -> ClientChannel:
        """Our client contract for ``proxy_contract``: deployed, secret set and topped up.

        Single-flight: a call while another for the same proxy contract (and key) is under way waits
        for that one instead of sending the deployment and the first top-up again; a cancelled caller
        leaves the opening running for the others."""
        key = (proxy_contract.raw, proxy_key)
        task = self._opening.get(key)
        if task is None:
            task = asyncio.create_task(self._open(proxy_contract, proxy_key), name=f"open {proxy_contract}")
            self._opening[key] = task
            task.add_done_callback(lambda done: self._opened(key, done))
        else:
            log.info(
                "client contract for proxy contract %s is being opened already; waiting for it",
                proxy_contract,
            )
        return await asyncio.shield(task)

    def _opened(self, key: tuple[str, bytes], task: asyncio.Task[ClientChannel]) -> None:
        if self._opening.get(key) is task:
            del self._opening[key]
        if not task.cancelled():
            task.exception()  # retrieved: its callers got it, or none is left to

    def opening(self, proxy_contract: str) -> bool:
        """Whether a channel with ``proxy_contract`` (raw) is being opened now."""
        return any(raw == proxy_contract for raw, _ in self._opening)

    async def _open(self, proxy_contract: Address, proxy_key: bytes) -> ClientChannel:
        state = await self.chain.get_account(proxy_contract)
        key = int.from_bytes(proxy_key, "big")
        proxy = None if state.data is None else ProxyData.from_cell(state.data)
        if proxy is None or proxy.proxy_public_key != key:
            raise PaymentError(
                f"proxy contract {proxy_contract} is missing or holds another key than the proxy's"
            )
        if proxy.state != 0:
            raise PaymentError(f"proxy contract {proxy_contract} is closing; it takes no clients any more")
        if proxy.params.params_version != self.chain_params.params_version:
            raise PaymentError(
                f"proxy contract {proxy_contract} is under params version {proxy.params.params_version} "
                f"and the root's is {self.chain_params.params_version}; waiting for the proxy to "
                "redeploy under the root's params"
            )
        init = client_state_init(self.owner, proxy_contract, key, self.chain_params)
        channel = self.channels.get(proxy_contract.raw)
        if channel is None:
            channel = ClientChannel(proxy_contract, proxy_key, address_of(init))
            self.channels[proxy_contract.raw] = channel
        if (await self.chain.get_account(channel.contract)).status is not AccountStatus.ACTIVE:
            await top_ups.send_deploy(
                self.sender,
                self.clock,
                channel,
                channel.contract,
                init,
                proxy_contract,
                self.land_timeout_s,
                self.counters,
            )
        data = await self.refresh(channel)
        if data is not None and data.secret_hash != self._secret_hash(proxy_contract):
            decision = self._decide(channel, data, self.top_up_nano, sets_secret=True)
            if decision.send_nano:
                body = m.OwnerClientChangeSecretHashAndTopUp(
                    query_id=1,
                    amount=decision.send_nano,
                    secret_hash=self._secret_hash(proxy_contract),
                    excess_to=self.owner,
                )
                await self._send_top_up(channel, decision.send_nano, body.to_cell(), sets_secret=True)
                await self.refresh(channel)
        return channel

    async def refresh(self, channel: ClientChannel) -> ClientData | None:
        state = await self.chain.get_account(channel.contract)
        channel.data = None if state.data is None else ClientData.from_cell(state.data)
        return channel.data

    def on_update(self, proxy_contract: str, update: PaymentUpdate) -> None:
        """Check one payment update (raise :class:`PaymentError` if the proxy must be dropped)."""
        channel = self.channels.get(proxy_contract)
        if channel is not None:
            accept_update(channel, update, ClientChargeSigned)

    async def maintain(self) -> None:
        """One round of upkeep over every channel: top up (once per need), self-charge."""
        for channel in list(self.channels.values()):
            if self.opening(channel.proxy_contract.raw):
                self.counters["top_ups_opening_skipped"] += 1
                log.debug("client contract %s is being opened; no upkeep until it is", channel.contract)
                continue
            data = await self.refresh(channel)
            if data is None or data.state != 0:
                continue
            view = client_view(data)
            used = channel.last.tokens_max if channel.last else view.sc_tokens_used
            uncharged = Tokens(max(used - view.sc_tokens_used, 0))
            amount = client_top_up_nano(view.balance_nano, uncharged, view.stake_nano, self.params)
            if self.auto_top_up and amount and data.secret_hash != self._secret_hash(channel.proxy_contract):
                # not opened yet: the opening's own message sets the secret and tops up
                self.counters["top_ups_opening_skipped"] += 1
                log.info(
                    "client contract %s is low but does not show our secret hash yet; its opening tops it up",
                    channel.contract,
                )
                amount = Nano(0)
            needed = Nano(max(amount, self.top_up_nano) if self.auto_top_up and amount else 0)
            decision = self._decide(channel, data, needed)
            if decision.send_nano:
                await self._top_up(channel, decision.send_nano)
            if channel.signed and client_should_self_charge(
                channel.signed_tokens, view.sc_tokens_used, view.stake_nano, self.params
            ):
                request = dataclasses.replace(
                    parse_signed(ClientChargeSigned, channel.signed), send_excesses_to=self.owner
                )
                await self.sender.send(channel.contract, CHARGE_VALUE, request.to_cell())
                self.counters["self_charges"] += 1

    async def run(self, interval_s: float | None = None) -> None:
        while True:
            await asyncio.sleep(interval_s or self.interval_s)
            try:
                await self.maintain()
                await self.retire_round()
            except CocoonError as exc:
                log.warning("client contract upkeep failed: %s; retrying", exc)

    # --- moving to new params --------------------------------------------------------------------

    async def move_to(self, chain_params: Params, why: str) -> None:
        """The root's params moved on: retire every client contract (:mod:`cocoon.client.retire`) and
        take ``chain_params`` for the next ones."""
        now = await self.chain.get_time()
        refund_at = now + refund_delay_s(self.params)
        for key, channel in list(self.channels.items()):
            log.warning(
                "retiring client contract %s of proxy contract %s (%s); asking for its refund at "
                "chain time %d unless the proxy grants it first",
                channel.contract.raw,
                key,
                why,
                refund_at,
            )
            self.retiring[channel.contract.raw] = Retiring(
                channel.contract, channel.proxy_contract, refund_at, why
            )
            del self.channels[key]
        self._save_retiring()
        self.chain_params = chain_params
        self.params = network_params(chain_params)
        self.top_up_nano = Nano(self._top_up_config or chain_params.min_client_stake)

    async def retire_round(self) -> int:
        """One step for every retired client contract; returns how many refund requests were sent."""
        sent = 0
        now = await self.chain.get_time()
        for key, old in list(self.retiring.items()):
            state = await self.chain.get_account(old.contract)
            if state.data is None:
                log.warning("retired client contract %s is gone from the chain", key)
                del self.retiring[key]
                continue
            data = ClientData.from_cell(state.data)
            step = retire_step(data.state, data.unlock_ts, now, old.refund_at)
            if step is RetireStep.DONE:
                log.info(
                    "retired client contract %s is closed (%d refund requests of ours)", key, old.requests
                )
                del self.retiring[key]
                self.counters["retired"] += 1
            elif step is not RetireStep.WAIT:
                log.info("retired client contract %s: %s (chain time %d)", key, step.value, now)
                body = m.OwnerClientRequestRefund(query_id=1, excess_to=self.owner).to_cell()
                await self.sender.send(old.contract, max(OP_VALUE, COMMISSION_ESTIMATE), body)
                old.requests += 1
                sent += 1
        self._save_retiring()
        return sent

    def _save_retiring(self) -> None:
        if self.retiring_path is None:
            return
        tmp = self.retiring_path.with_suffix(".tmp")
        tmp.write_text(json.dumps([old.to_json() for old in self.retiring.values()]))
        os.replace(tmp, self.retiring_path)

    # --- owner operations (also behind `cocoon client topup|withdraw|close`) ----------------------

    async def top_up(self, channel: ClientChannel, amount: Nano) -> None:
        """Add ``amount`` nanoTON to the client contract of ``channel`` (asked for: always sent; the
        automatic upkeep adds none on top of it while it is in flight)."""
        await self.refresh(channel)  # the paid total it must raise
        await self._top_up(channel, amount)

    async def _top_up(self, channel: ClientChannel, amount: Nano) -> None:
        body = m.ExtClientTopUp(query_id=1, amount=amount, excess_to=self.owner).to_cell()
        await self._send_top_up(channel, amount, body)

    def _paid(self, data: ClientData | None) -> Nano:
        if data is None:
            return Nano(0)
        return paid_total_nano(data.balance, data.tokens_used, data.params.price_per_token)

    def _decide(
        self, channel: ClientChannel, data: ClientData, needed: Nano, *, sets_secret: bool = False
    ) -> TopUpDecision:
        """Apply :func:`~cocoon.client.top_ups.decide` to ``channel``: keep its record, log and count
        what the round saw."""
        return top_ups.decide(
            channel,
            channel.contract,
            needed,
            self._paid(data),
            self.clock.monotonic(),
            self.land_timeout_s,
            self.counters,
            secret_set=data.secret_hash == self._secret_hash(channel.proxy_contract),
            sets_secret=sets_secret,
        )

    async def _send_top_up(
        self, channel: ClientChannel, amount: Nano, body: Cell, *, sets_secret: bool = False
    ) -> None:
        """Send one top-up message carrying ``amount``, recorded in flight from before it is handed to
        the wallet (so no concurrent round adds another) until the contract's data shows it."""
        await top_ups.send_top_up(
            self.sender,
            self.clock,
            channel,
            channel.contract,
            amount,
            amount + OP_VALUE,
            body,
            self._paid(channel.data),
            self.counters,
            sets_secret=sets_secret,
        )

    async def withdraw(self, channel: ClientChannel) -> None:
        """Take back everything above the stake at once."""
        body = m.OwnerClientWithdraw(query_id=1, excess_to=self.owner).to_cell()
        await self.sender.send(channel.contract, OP_VALUE, body)

    async def close(self, channel: ClientChannel) -> None:
        """Ask to close: the proxy answers with a signed final charge that refunds the rest at once;
        if it does not, call again after ``client_delay_before_close`` to close by force."""
        body = m.OwnerClientRequestRefund(query_id=1, excess_to=self.owner).to_cell()
        await self.sender.send(channel.contract, max(OP_VALUE, COMMISSION_ESTIMATE), body)

    def stats(self) -> dict[str, Any]:
        price = self.params.price_per_token
        out: dict[str, Any] = {"wallet": self.owner.raw, **self.counters, "dropped": dict(self.dropped)}
        out["params_version"] = self.chain_params.params_version
        out["retiring"] = {
            key: {"refund_at": r.refund_at, "requests": r.requests} for key, r in self.retiring.items()
        }
        out["chain_requests"] = request_stats(self.chain)
        out["channels"] = {
            key: {
                "contract": ch.contract.raw,
                "balance_nano": ch.data.balance if ch.data else None,
                "stake_nano": ch.data.stake if ch.data else None,
                "charged_tokens": ch.data.tokens_used if ch.data else None,
                "state": ch.data.state if ch.data else None,
                "top_up_in_flight_nano": ch.top_up.amount_nano if ch.top_up else 0,
                "counters": dataclasses.asdict(ch.last) if ch.last else None,
                "uncharged_nano": (ch.last.tokens_max - ch.data.tokens_used) * price
                if ch.last and ch.data
                else 0,
            }
            for key, ch in self.channels.items()
        }
        return out

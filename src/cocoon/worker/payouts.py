"""The worker's side of its payment channels: one worker contract per proxy, signed payouts, cash-out.

Per proxy the worker deploys its worker contract (owner = its node wallet; the proxy contract and key
come from the proxy: the key is the one its certificate attests, and the proxy contract's data on chain
must hold that key). Every :class:`PaymentUpdate` is checked: none of the three counters may go down
(:func:`cocoon.payments.channel.check_progress`) and a signed payout must verify with the proxy's key,
target this worker's contract and sign exactly the chain-committed total. A proxy that fails either
check is dropped for good. The latest signed payout per proxy contract is kept on disk
(``<data_dir>/payouts.json``) and submitted to the worker contract at the threshold, when idle, or
on ``cocoon worker payout``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon.chainsvc.limiter import request_stats
from cocoon.errors import CocoonError, PaymentError
from cocoon.net.rpc import RpcConnection
from cocoon.payments.counterpart import ChannelView, accept_update, parse_signed
from cocoon.payments.params import NO_TOKENS, Tokens
from cocoon.payments.thresholds import DEFAULT_THRESHOLDS, Thresholds, worker_should_cash_out
from cocoon.registry.snapshot import network_params
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ProxyData, WorkerData, address_of, worker_state_init
from cocoon.ton.ops import DEPLOY_VALUE, TON
from cocoon.ton.params import Params
from cocoon.ton.signed import WorkerPayoutSigned
from cocoon.wallet.sender import MessageSender
from cocoon.wire.control import GetProxyInfo, ProxyInfo
from cocoon.wire.messages import PaymentUpdate

log = logging.getLogger(__name__)

CASH_OUT_VALUE = TON // 2
REGISTER_VALUE = TON // 5


@dataclass
class ProxyChannel(ChannelView):
    """What the worker knows of its channel with one proxy."""

    paid_tokens: Tokens = NO_TOKENS
    dropped: str | None = None


class WorkerPayouts:
    """Worker contracts, checked payment updates and cash-outs for every proxy of one worker."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        chain_params: Params,
        *,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        state_path: Path | None = None,
    ) -> None:
        self.chain, self.sender = chain, sender
        self.chain_params = chain_params
        self.params = network_params(chain_params)
        self.thresholds = thresholds
        self.state_path = state_path
        self.channels: dict[str, ProxyChannel] = {}  # by proxy contract (raw)
        self.dropped: dict[str, str] = {}  # proxy host:port -> why
        self.cashed_out = 0
        self.interval_s = 15.0
        """Seconds between cash-out checks (``cash_out_interval_s``): one chain read per channel."""

    @property
    def owner(self) -> Address:
        return self.sender.address

    async def attach(self, proxy_contract: Address, proxy_key: bytes) -> ProxyChannel:
        """Check the proxy contract holds ``proxy_key``; deploy and register our worker contract."""
        state = await self.chain.get_account(proxy_contract)
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            raise PaymentError(
                f"proxy contract {proxy_contract} is not deployed; is the proxy settling on chain?"
            )
        key = int.from_bytes(proxy_key, "big")
        if ProxyData.from_cell(state.data).proxy_public_key != key:
            raise PaymentError(f"proxy contract {proxy_contract} holds another key than the attested proxy")
        init = worker_state_init(self.owner, proxy_contract, key, self.chain_params)
        contract = address_of(init)
        channel = self.channels.get(proxy_contract.raw)
        if channel is None:
            channel = self.channels[proxy_contract.raw] = ProxyChannel(proxy_contract, proxy_key, contract)
            self._load_saved(channel)
        mine = await self.chain.get_account(contract)
        if mine.status is not AccountStatus.ACTIVE:
            log.info("deploying worker contract %s for proxy contract %s", contract, proxy_contract)
            await self.sender.send(contract, DEPLOY_VALUE, state_init=init, bounce=False)
            body = m.OwnerWorkerRegister(query_id=1, excess_to=self.owner).to_cell()
            await self.sender.send(contract, REGISTER_VALUE, body)
        await self._refresh_paid(channel)
        return channel

    def on_update(self, proxy_contract: str, update: PaymentUpdate) -> None:
        """Check one payment update (raise :class:`PaymentError` if the proxy must be dropped)."""
        channel = self.channels.get(proxy_contract)
        if channel is not None and accept_update(channel, update, WorkerPayoutSigned):
            self._save()

    def drop(self, proxy: str, why: str) -> None:
        log.error("dropping proxy %s: %s", proxy, why)
        self.dropped[proxy] = why

    async def cash_out(self, *, force: bool = False, idle: bool = False) -> int:
        """Submit the latest signed payout of every channel that meets the threshold (all if ``force``)."""
        sent = 0
        for channel in self.channels.values():
            if channel.signed is None:
                continue
            await self._refresh_paid(channel)
            due = channel.signed_tokens > channel.paid_tokens and (
                force
                or worker_should_cash_out(
                    channel.signed_tokens, channel.paid_tokens, self.params, self.thresholds, idle=idle
                )
            )
            if not due:
                continue
            request = dataclasses.replace(
                parse_signed(WorkerPayoutSigned, channel.signed), send_excesses_to=self.owner
            )
            await self.sender.send(channel.contract, CASH_OUT_VALUE, request.to_cell())
            await self._refresh_paid(channel)
            sent += 1
        self.cashed_out += sent
        return sent

    async def run(self, idle: Callable[[], bool], interval_s: float | None = None) -> None:
        """Cash out on the thresholds every ``interval_s`` (default: :attr:`interval_s`; the idle
        threshold when ``idle()``)."""
        while True:
            await asyncio.sleep(interval_s or self.interval_s)
            try:
                await self.cash_out(idle=idle())
            except CocoonError as exc:
                log.warning("cash-out failed: %s; retrying later", exc)

    async def _refresh_paid(self, channel: ProxyChannel) -> None:
        state = await self.chain.get_account(channel.contract)
        if state.status is AccountStatus.ACTIVE and state.data is not None:
            channel.paid_tokens = Tokens(WorkerData.from_cell(state.data).tokens)

    def stats(self) -> dict[str, Any]:
        return {
            "wallet": self.owner.raw,
            "cashed_out": self.cashed_out,
            "chain_requests": request_stats(self.chain),
            "dropped": dict(self.dropped),
            "channels": {
                key: {
                    "contract": ch.contract.raw,
                    "counters": dataclasses.asdict(ch.last) if ch.last else None,
                    "signed_tokens": ch.signed_tokens,
                    "paid_tokens": ch.paid_tokens,
                    "unclaimed_nano": (ch.signed_tokens - ch.paid_tokens) * self.params.worker_fee_per_token,
                }
                for key, ch in self.channels.items()
            },
        }

    # --- the latest signed payouts on disk --------------------------------------------------------

    def _load_saved(self, channel: ProxyChannel) -> None:
        if self.state_path is None or not self.state_path.exists():
            return
        saved = json.loads(self.state_path.read_text()).get(channel.proxy_contract.raw)
        if saved:
            channel.signed, channel.signed_tokens = bytes.fromhex(saved["boc"]), Tokens(int(saved["tokens"]))

    def _save(self) -> None:
        if self.state_path is None:
            return
        doc = {
            key: {"tokens": ch.signed_tokens, "boc": ch.signed.hex()}
            for key, ch in self.channels.items()
            if ch.signed is not None
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, self.state_path)


class PayoutLink:
    """One connection to a proxy, seen from the payouts: learn its contract, check its updates."""

    def __init__(self, payouts: WorkerPayouts, proxy: str) -> None:
        self.payouts = payouts
        self.proxy = proxy
        self.proxy_contract: str | None = None
        self.conn: RpcConnection | None = None

    async def join(self, conn: RpcConnection, proxy_key: bytes) -> None:
        """Ask the proxy for its contract and attach our worker contract to it (before serving)."""
        self.conn = conn
        try:
            info = await conn.query(GetProxyInfo(), timeout=30)
            if not isinstance(info, ProxyInfo) or not info.proxy_contract:
                raise PaymentError(f"proxy {self.proxy} does not settle on chain; it cannot pay this worker")
            channel = await self.payouts.attach(Address.parse(info.proxy_contract), proxy_key)
        except BaseException:
            await conn.aclose("cannot settle with this proxy")
            raise
        self.proxy_contract = channel.proxy_contract.raw

    def on_payment(self, update: PaymentUpdate) -> None:
        """``Handlers.on_payment``: a bad update drops the proxy and closes the connection."""
        if self.proxy_contract is None:
            return
        try:
            self.payouts.on_update(self.proxy_contract, update)
        except PaymentError as exc:
            self.payouts.drop(self.proxy, str(exc))
            if self.conn is not None:
                self.conn.close_soon(f"dropped: {exc}")

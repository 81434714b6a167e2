"""The worker's side of its payment channels: one worker contract per proxy, signed payouts, cash-out.

Per proxy the worker deploys its worker contract (owner = its node wallet; the proxy contract and key
come from the proxy: the key is the one its certificate attests, and the proxy contract's data on chain
must hold that key). Every :class:`PaymentUpdate` is checked: none of the three counters may go down
(:func:`cocoon.payments.channel.check_progress`) and a signed payout must verify with the proxy's key,
target this worker's contract and sign exactly the chain-committed total. A proxy that fails either
check is dropped for good. The latest signed payout per proxy contract is kept on disk
(``<data_dir>/payouts.json``) and submitted to the worker contract at the threshold, when idle, or
on ``cocoon worker payout``.

Leaving a proxy (spec/economics.md "Closing"): every few seconds the worker reads the state of each
proxy contract it serves. When one is closing (or closed) the worker at once submits its latest signed
payout for it, stops serving that proxy and says why; the proxy's final signed payout
(``last_payout``), if it sends one, is checked like a regular one and submitted the same way. When
the root's ``params_version`` rises, :meth:`WorkerPayouts.move_to` does the same for every proxy and
takes the new params, under which the worker contracts of its next connections are deployed; a
proxy contract still at other params is refused until it redeploys.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cocoon.chainsvc.limiter import request_stats
from cocoon.errors import CocoonError, PaymentError
from cocoon.payments.counterpart import accept_update, parse_signed
from cocoon.payments.params import NetworkParams, Tokens
from cocoon.payments.thresholds import DEFAULT_THRESHOLDS, Thresholds, worker_should_cash_out
from cocoon.registry.snapshot import network_params
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import AccountStatus, Chain
from cocoon.ton.data import ProxyData, WorkerData, address_of, worker_state_init
from cocoon.ton.ops import DEPLOY_VALUE, TON
from cocoon.ton.params import Params
from cocoon.ton.signed import WorkerLastPayoutSigned, WorkerPayoutSigned
from cocoon.wallet.sender import MessageSender
from cocoon.wire.messages import PaymentUpdate
from cocoon.worker.leaving import CLOSED, GONE, OPEN, attach_refusal, closing_reason, proxy_contract_state
from cocoon.worker.payout_channel import ProxyChannel, ProxyConnection
from cocoon.worker.payout_store import load_saved, save

log = logging.getLogger(__name__)

CASH_OUT_VALUE = TON // 2
REGISTER_VALUE = TON // 5


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
        self.params: NetworkParams = network_params(chain_params)
        self.thresholds = thresholds
        self.state_path = state_path
        self.channels: dict[str, ProxyChannel] = {}  # by proxy contract (raw)
        self.links: dict[str, ProxyConnection] = {}  # the live connection of each proxy contract (raw)
        self.dropped: dict[str, str] = {}  # proxy host:port -> why (bad numbers: for good)
        self.disabled: dict[str, str] = {}  # proxy host:port -> why (closing: until the params move)
        self.cashed_out = 0
        self.wake = asyncio.Event()  # a final payout arrived: submit it now, not at the next round
        self.interval_s = 15.0
        """Seconds between cash-out checks (``cash_out_interval_s``): one chain read per channel."""

    @property
    def owner(self) -> Address:
        return self.sender.address

    def gives_up(self, proxy: str) -> bool:
        """Whether the worker no longer connects to the proxy at ``host:port``."""
        return proxy in self.dropped or proxy in self.disabled

    async def attach(self, proxy_contract: Address, proxy_key: bytes, proxy: str = "") -> ProxyChannel:
        """Check the proxy contract holds ``proxy_key``, is open and under our params; deploy and
        register our worker contract. A closing proxy contract is refused (and the proxy at
        ``proxy``, its ``host:port``, not dialled again), so is one under other params; a signed
        payout saved for a refused one before a restart is submitted first."""
        state = await self.chain.get_account(proxy_contract)
        if state.status is not AccountStatus.ACTIVE or state.data is None:
            raise PaymentError(
                f"proxy contract {proxy_contract} is not deployed; is the proxy settling on chain?"
            )
        key = int.from_bytes(proxy_key, "big")
        data = ProxyData.from_cell(state.data)
        if data.proxy_public_key != key:
            raise PaymentError(f"proxy contract {proxy_contract} holds another key than the attested proxy")
        known = self.channels.get(proxy_contract.raw)
        refusal = attach_refusal(data, self.chain_params, known.leaving if known else None)
        if refusal is not None:
            if known is None:  # e.g. a restart since: what we were told is still submitted
                await self._settle_saved(proxy_contract, proxy_key, refusal)
            if data.state != OPEN and proxy:
                self.disabled[proxy] = f"proxy contract {proxy_contract} {refusal}"
            raise PaymentError(f"proxy contract {proxy_contract} {refusal}")
        init = worker_state_init(self.owner, proxy_contract, key, self.chain_params)
        contract = address_of(init)
        channel = self.channels.get(proxy_contract.raw)
        if channel is None:
            channel = ProxyChannel(proxy_contract, proxy_key, contract)
            channel.fee_per_token = self.params.worker_fee_per_token
            self.channels[proxy_contract.raw] = channel
            load_saved(self.state_path, channel)
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
        if channel is not None and accept_update(channel, update, WorkerPayoutSigned, WorkerLastPayoutSigned):
            save(self.state_path, self.channels.values())
            if channel.signed_final:
                log.warning(
                    "proxy contract %s sent its last payout (%d tokens): submitting it",
                    proxy_contract,
                    channel.signed_tokens,
                )
                self.wake.set()

    def drop(self, proxy: str, why: str) -> None:
        log.error("dropping proxy %s: %s", proxy, why)
        self.dropped[proxy] = why

    async def cash_out(self, *, force: bool = False, idle: bool = False) -> int:
        """Submit the latest signed payout of every channel that meets the threshold (all if ``force``;
        always a final one, and everything of a proxy the worker leaves)."""
        sent = 0
        for channel in self.channels.values():
            if channel.signed is None:
                continue
            await self._refresh_paid(channel)
            due = channel.due() and (
                force
                or channel.signed_final
                or channel.leaving is not None
                or worker_should_cash_out(
                    channel.signed_tokens, channel.paid_tokens, self.params, self.thresholds, idle=idle
                )
            )
            if due:
                await self.submit(channel)
                sent += 1
        return sent

    async def submit(self, channel: ProxyChannel) -> None:
        """Send the latest signed payout (or the final one) of ``channel`` to our worker contract."""
        assert channel.signed is not None
        kind = WorkerLastPayoutSigned if channel.signed_final else WorkerPayoutSigned
        request = dataclasses.replace(parse_signed(kind, channel.signed), send_excesses_to=self.owner)
        await self.sender.send(channel.contract, CASH_OUT_VALUE, request.to_cell())
        self.cashed_out += 1
        await self._refresh_paid(channel)

    async def leave(self, channel: ProxyChannel, why: str, *, close: bool = False) -> None:
        """Stop serving ``channel``'s proxy and submit everything it signed, so nothing it was told is
        lost. The proxy is not reconnected to until the params move on; its connection stays open
        (for its last payout) until its contract is closed, unless ``close``."""
        await self._refresh_paid(channel)
        key = channel.proxy_contract.raw
        link = self.links.get(key)
        if channel.leaving is None:
            channel.leaving = why
            log.warning(
                "leaving proxy contract %s (%s): %s; submitting its latest signed payout (%d tokens, "
                "%d paid)",
                key,
                link.proxy if link else "not connected",
                why,
                channel.signed_tokens,
                channel.paid_tokens,
            )
            if link is not None:
                self.disabled[link.proxy] = why
                await link.leave(why)
        if close and link is not None:
            del self.links[key]
            link.close(why)
        if channel.due():
            await self.submit(channel)

    async def _settle_saved(self, proxy_contract: Address, proxy_key: bytes, why: str) -> None:
        """Submit the signed payout saved for ``proxy_contract`` (before a restart), if any, to the
        worker contract it was signed for."""
        channel = ProxyChannel(proxy_contract, proxy_key, proxy_contract)
        load_saved(self.state_path, channel)
        if channel.signed is None:
            return
        kind = WorkerLastPayoutSigned if channel.signed_final else WorkerPayoutSigned
        channel.contract = parse_signed(kind, channel.signed).signed_payload().expected_address
        channel.fee_per_token = self.params.worker_fee_per_token
        self.channels[proxy_contract.raw] = channel
        await self.leave(channel, why)

    async def watch_proxies(self) -> int:
        """Read every served proxy contract; leave those that close, and close the connection of a
        proxy left once its contract is closed or our last payout went through. Returns how many
        proxies were left."""
        left = 0
        for channel in list(self.channels.values()):
            key = channel.proxy_contract.raw
            if channel.leaving is not None and key not in self.links:
                continue
            account = await self.chain.get_account(channel.proxy_contract)
            state = proxy_contract_state(account.data)
            why = closing_reason(state, channel.proxy_contract)
            if channel.leaving is None:
                if why is not None:
                    await self.leave(channel, why)
                    left += 1
            elif channel.contract_closed or state in (CLOSED, GONE):
                await self.leave(channel, why or "our worker contract is closed", close=True)
        return left

    async def move_to(self, chain_params: Params, why: str) -> None:
        """The root's params moved on: leave every proxy under the old ones (submitting what they
        signed), take ``chain_params`` for the next worker contracts and enable closed proxies again."""
        for channel in list(self.channels.values()):
            await self.leave(channel, why, close=True)
        self.chain_params = chain_params
        self.params = network_params(chain_params)
        self.disabled.clear()

    async def run(
        self, idle: Callable[[], bool], interval_s: float | None = None, watch_s: float = 5.0
    ) -> None:
        """Watch the proxy contracts every ``watch_s``, cash out on the thresholds every ``interval_s``
        (default: :attr:`interval_s`; the idle threshold when ``idle()``) and at once when a final payout
        arrives."""
        interval_s = interval_s or self.interval_s
        loop = asyncio.get_running_loop()
        next_cash_out = loop.time() + interval_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=watch_s)
            woken = self.wake.is_set()
            self.wake.clear()
            try:
                await self.watch_proxies()
                if woken or loop.time() >= next_cash_out:
                    next_cash_out = loop.time() + interval_s
                    await self.cash_out(idle=idle())
            except CocoonError as exc:
                log.warning("payout upkeep failed: %s; retrying later", exc)

    async def _refresh_paid(self, channel: ProxyChannel) -> None:
        state = await self.chain.get_account(channel.contract)
        if state.status is AccountStatus.ACTIVE and state.data is not None:
            data = WorkerData.from_cell(state.data)
            channel.paid_tokens, channel.contract_closed = Tokens(data.tokens), data.state == CLOSED

    def stats(self) -> dict[str, Any]:
        return {
            "wallet": self.owner.raw,
            "cashed_out": self.cashed_out,
            "chain_requests": request_stats(self.chain),
            "dropped": dict(self.dropped),
            "disabled": dict(self.disabled),
            "params_version": self.chain_params.params_version,
            "channels": {
                key: {
                    "contract": ch.contract.raw,
                    "counters": dataclasses.asdict(ch.last) if ch.last else None,
                    "signed_tokens": ch.signed_tokens,
                    "signed_last": ch.signed_final,
                    "paid_tokens": ch.paid_tokens,
                    "unclaimed_nano": (ch.signed_tokens - ch.paid_tokens) * ch.fee_per_token,
                    "leaving": ch.leaving,
                }
                for key, ch in self.channels.items()
            },
        }

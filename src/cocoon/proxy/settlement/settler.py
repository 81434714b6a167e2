"""The settle actions: charging clients, paying workers, granting refunds, withdrawing the commission.

Each action sends a proxy-signed request for a chain-committed cumulative total (see
:mod:`.payment_signer`) when the thresholds of :mod:`cocoon.payments.thresholds` are met.
One request per counterpart is in flight at a time: the next waits until the contract reports the
total or :data:`INFLIGHT_TIMEOUT_S` passes.
"""

from __future__ import annotations

from cocoon.clock import Clock
from cocoon.payments.channel import Counters
from cocoon.payments.params import Nano, NetworkParams
from cocoon.payments.thresholds import (
    Thresholds,
    proxy_should_charge,
    proxy_should_pay,
    proxy_should_withdraw,
)
from cocoon.proxy.ledger import CLIENT_CHANNEL
from cocoon.proxy.settlement.channels import Channels
from cocoon.proxy.settlement.counterparts import Counterparts
from cocoon.proxy.settlement.counters import SettlementCounters
from cocoon.proxy.settlement.payment_signer import PaymentSigner, new_query_id
from cocoon.ton import messages as m
from cocoon.ton.address import Address
from cocoon.ton.chain import Chain
from cocoon.ton.data import ProxyData
from cocoon.ton.ops import TON, Op
from cocoon.wallet.sender import MessageSender, OutMessage

PAY_VALUE = 7 * TON // 10
"""TON attached to a signed charge or payout (the excess returns to the wallet)."""
WITHDRAW_VALUE = TON // 5
INFLIGHT_TIMEOUT_S = 60.0


class Settler:
    """Sends the charges, payouts, refund grants and commission withdrawals that are due."""

    def __init__(
        self,
        chain: Chain,
        sender: MessageSender,
        contract: Address,
        channels: Channels,
        counterparts: Counterparts,
        signer: PaymentSigner,
        params: NetworkParams,
        counters: SettlementCounters,
        clock: Clock,
    ) -> None:
        self.chain, self.sender, self.contract = chain, sender, contract
        self.channels, self.counterparts, self.signer = channels, counterparts, signer
        self.params, self.counters, self.clock = params, counters, clock
        self.commit_wanted = False
        """Set when a closing client waits for its usage to be committed: send a note now."""
        self._granted: dict[str, float] = {}  # client owner -> when its grant_refund was sent

    async def settle(self, thresholds: Thresholds, proxy: ProxyData | None = None) -> None:
        """Charge clients, pay workers and withdraw the commission where ``thresholds`` are met
        (``proxy``: the proxy contract's data if this round already read it)."""
        now = self.clock.monotonic()
        messages: list[OutMessage] = []
        for kind, owner in self.channels.all_keys():
            target = self.counterparts.target(kind, owner)
            if not target.active and not await self.counterparts.load(kind, owner, now):
                continue
            ch = self.channels.counters(kind, owner)  # read after the await: a tick may have moved it
            view = self.counterparts.clients.get(owner) if kind == CLIENT_CHANNEL else None
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
            body = self.signer.cell(kind, owner, ch.committed_to_chain)
            messages.append(OutMessage(target.address, PAY_VALUE, body))
            target.in_flight = (ch.committed_to_chain, now)
            if kind == CLIENT_CHANNEL:
                self.counters.charges_sent += 1
            else:
                self.counters.payouts_sent += 1
        if messages:
            await self.sender.send_many(messages)
        await self.withdraw(thresholds, proxy)

    def _close_client(self, owner: str, ch: Counters, state: int, now: float) -> OutMessage | None:
        """A client asked to close: once all its usage is chain-committed, sign the final charge
        (``grant_refund``), which closes the contract and refunds the rest at once."""
        if state != 1 or now - self._granted.get(owner, -1e18) < INFLIGHT_TIMEOUT_S:
            return None
        if ch.committed_to_chain < ch.tokens_max:
            self.commit_wanted = True  # the next tick sends a note without waiting for the interval
            return None
        self._granted[owner] = now
        self.counters.refunds_granted += 1
        op = Op.EXT_CLIENT_GRANT_REFUND_SIGNED
        body = self.signer.cell(CLIENT_CHANNEL, owner, ch.committed_to_chain, op)
        return OutMessage(self.counterparts.target(CLIENT_CHANNEL, owner).address, PAY_VALUE, body)

    async def withdraw(self, thresholds: Thresholds, proxy: ProxyData | None = None) -> None:
        """Ask the proxy contract to send its commission to the owner when it reaches the threshold
        (``proxy``: the contract's data just read this round, saving a second read)."""
        held = Nano(proxy.balance) if proxy is not None else await self.withdrawable()
        if proxy_should_withdraw(held, thresholds):
            body = m.ExtProxyPayoutRequest(query_id=new_query_id(), excess_to=self.sender.address).to_cell()
            await self.sender.send(self.contract, WITHDRAW_VALUE, body)
            self.counters.withdrawals_sent += 1

    async def withdrawable(self) -> Nano:
        """The commission the proxy contract holds for its owner (its ``balance`` field)."""
        state = await self.chain.get_account(self.contract)
        if state.data is None:
            return Nano(0)
        return Nano(ProxyData.from_cell(state.data).balance)

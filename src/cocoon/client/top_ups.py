"""The client's top-ups of its client contracts, sent at most once per need: the shell around
:mod:`cocoon.payments.top_up` that both payers share, our proxies' (:mod:`cocoon.client.payments`) and
COCOON-protocol proxies' (:mod:`cocoon.client.cocoon_register`).

Each client contract has a :class:`TopUpSlot`, the record of its top-ups in flight. :func:`decide` applies
:func:`~cocoon.payments.top_up.decide_top_up` to it, keeps the new record, and logs and counts what it
saw (``counters``: ``top_ups_in_flight_skipped``, a top-up not sent because one for the same need is in
flight; ``top_ups_expired``, one taken as lost after the land timeout). :func:`send_top_up` hands one
top-up to the wallet, recorded in flight from before (so no concurrent caller adds another) until the
contract's data shows it: a :class:`~cocoon.errors.WalletFundsError` means it certainly was not sent and
takes it off the record; any other failure may still have sent it, so it is waited for like any other.
:func:`send_deploy` does the same for the contract's deployment: not sent again while one sent is
still within the land timeout (``deploys_in_flight_skipped``), sent again after it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from cocoon.clock import Clock
from cocoon.errors import WalletFundsError
from cocoon.payments.params import Nano
from cocoon.payments.top_up import TopUpDecision, TopUpInFlight, decide_top_up, included, sending, unsent
from cocoon.ton.address import Address
from cocoon.ton.cells import Cell
from cocoon.ton.ops import CLIENT_DEPLOY_VALUE
from cocoon.wallet.sender import MessageSender

log = logging.getLogger(__name__)

COUNTERS = ("top_ups", "top_ups_in_flight_skipped", "top_ups_expired", "deploys", "deploys_in_flight_skipped")
"""The counters :func:`decide`, :func:`send_top_up` and :func:`send_deploy` keep (``top_ups``, ``deploys``:
the messages sent)."""


class TopUpSlot(Protocol):
    """Where one client contract's record of its top-ups (and deployment) in flight is kept."""

    top_up: TopUpInFlight | None
    deploy_sent_at: float | None


@dataclass
class InFlight:
    """A :class:`TopUpSlot` of its own (for a payer that keeps nothing else per contract)."""

    top_up: TopUpInFlight | None = None
    deploy_sent_at: float | None = None


def decide(
    slot: TopUpSlot,
    contract: Address,
    needed: Nano,
    paid_now: Nano,
    now: float,
    land_timeout_s: float,
    counters: dict[str, int],
    *,
    secret_set: bool = True,
    sets_secret: bool = False,
) -> TopUpDecision:
    """Whether to top ``contract`` up by ``needed`` (0: not needed) given its paid total ``paid_now``
    as last read and the record in ``slot`` (kept updated); see
    :func:`~cocoon.payments.top_up.decide_top_up` for ``secret_set`` and ``sets_secret``."""
    flight = slot.top_up
    decision = decide_top_up(
        needed, paid_now, flight, now, land_timeout_s, secret_set=secret_set, sets_secret=sets_secret
    )
    slot.top_up = decision.flight
    if decision.landed:
        log.info("top-up of %d nanoTON to client contract %s landed", decision.landed, contract)
    if decision.expired and flight is not None and flight.included_at is not None:
        counters["top_ups_expired"] += 1
        log.warning(
            "top-up of %d nanoTON to client contract %s was included %.0f s ago and has not shown in "
            "the contract's data; taking it as lost%s",
            decision.expired,
            contract,
            now - flight.included_at,
            "; sending it again" if decision.send_nano else "",
        )
    if decision.waiting and flight is not None:
        counters["top_ups_in_flight_skipped"] += 1
        log.info(
            "client contract %s needs %d nanoTON but %d nanoTON sent to it have not landed yet; "
            "not sending more",
            contract,
            needed,
            flight.amount_nano,
        )
    return decision


async def send_top_up(
    sender: MessageSender,
    clock: Clock,
    slot: TopUpSlot,
    contract: Address,
    amount: Nano,
    value: int,
    body: Cell,
    paid_now: Nano,
    counters: dict[str, int],
    *,
    sets_secret: bool = False,
) -> None:
    """Send ``body`` with ``value`` nanoTON to ``contract``: one top-up of ``amount`` (``paid_now``: the
    contract's paid total as last read), recorded in ``slot`` from before it is handed to the wallet."""
    slot.top_up = sending(slot.top_up, paid_now, amount, sets_secret=sets_secret)
    try:
        await sender.send(contract, value, body)
    except WalletFundsError:
        slot.top_up = unsent(slot.top_up, amount, sets_secret=sets_secret)
        raise
    except BaseException:  # it may still land: wait for it as for any other
        slot.top_up = included(slot.top_up, clock.monotonic())
        raise
    slot.top_up = included(slot.top_up, clock.monotonic())
    counters["top_ups"] += 1


async def send_deploy(
    sender: MessageSender,
    clock: Clock,
    slot: TopUpSlot,
    contract: Address,
    init: tuple[Cell, Cell],
    proxy_contract: Address,
    land_timeout_s: float,
    counters: dict[str, int],
) -> bool:
    """Deploy our client ``contract`` (``init``) for ``proxy_contract``, unless its deployment was
    included less than ``land_timeout_s`` ago: a caller that tries again before it landed (a reconnect:
    the proxy does not see the contract yet) must not pay for a second one. One not landed by then is
    sent again, logged. True when it was sent."""
    now = clock.monotonic()
    sent_at = slot.deploy_sent_at
    if sent_at is not None and now - sent_at < land_timeout_s:
        counters["deploys_in_flight_skipped"] += 1
        log.info(
            "client contract %s: its deployment was sent %.0f s ago and has not landed yet; waiting",
            contract,
            now - sent_at,
        )
        return False
    if sent_at is not None:
        log.warning(
            "client contract %s: its deployment sent %.0f s ago never landed; sending it again",
            contract,
            now - sent_at,
        )
    log.info("deploying client contract %s for proxy contract %s", contract, proxy_contract)
    try:
        await sender.send(contract, CLIENT_DEPLOY_VALUE, state_init=init, bounce=False)
    except WalletFundsError:
        raise  # certainly not sent: the next try sends it
    except BaseException:
        slot.deploy_sent_at = clock.monotonic()  # it may still land: wait for it
        raise
    slot.deploy_sent_at = clock.monotonic()
    counters["deploys"] += 1
    return True

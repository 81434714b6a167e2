"""At most one top-up of a client contract per need: what is in flight, and whether a round sends.

A top-up is one message from the client's node wallet. The wallet returns once the external carrying
it is included on chain; the contract's own transaction follows a few seconds later on a real chain,
and until then the contract shows the low balance that asked for the top-up. An upkeep round that
only compared that balance with the threshold (:func:`~cocoon.payments.thresholds.client_top_up_nano`)
would top up again, and again every round until the first landed; so would a round that runs while
the opening of the contract (its secret hash and first top-up, one message) has not landed yet.

So each channel keeps a :class:`TopUpInFlight`: what its top-ups in flight must raise the contract's
**paid total** to. The paid total is ``balance + tokens_used * price``: a charge moves value from the
balance to ``tokens_used`` and leaves it as it is; a top-up raises it by exactly its amount; only a
withdrawal or a refund (the owner's, sent by us) lowers it. A charge larger than the balance takes it
to 0 and raises the total by what it could not take: that can clear a record before its top-up
landed, but only when the proxy charged beyond the balance, which is a need of its own.

:func:`decide_top_up` is the decision, pure (``now`` passed in, monotonic seconds): the record is
cleared when the chain shows it landed, and forgotten ``land_timeout_s`` after its last message was
included (a message that never reached the contract, e.g. one the wallet could not pay at its action
phase, is then sent again if still needed). While a message is being sent (handed to the wallet, not
included yet) the record does not expire: the wallet's inclusion timeout bounds that wait.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cocoon.payments.params import NO_NANO, Nano

LAND_TIMEOUT_S = 120.0
"""Seconds after inclusion by which a top-up must show in the contract's data before it is sent again."""


@dataclass(frozen=True, slots=True)
class TopUpInFlight:
    """The top-ups of one client contract sent but not seen landed yet."""

    paid_target_nano: Nano
    """The contract's paid total once every one of them landed."""
    amount_nano: Nano
    """Their sum."""
    sending: int = 0
    """How many are handed to the wallet and not included yet (these keep the record from expiring)."""
    included_at: float | None = None
    """Monotonic seconds when the last one was included (None while none is)."""
    sets_secret: bool = False
    """Whether one of them is the opening's message, which also sets the contract's secret hash."""


@dataclass(frozen=True, slots=True)
class TopUpDecision:
    """What one round does with one client contract."""

    send_nano: Nano
    """The top-up to send now (0: none)."""
    flight: TopUpInFlight | None
    """The record to keep before sending (None: nothing in flight)."""
    landed: Nano = NO_NANO
    """nanoTON of a record this round saw land (0: none landed)."""
    expired: Nano = NO_NANO
    """nanoTON of a record this round forgot because it did not land in time (0: none)."""
    waiting: bool = False
    """A top-up was needed and not sent: one for the same need is still in flight."""


def paid_total_nano(balance_nano: int, tokens_used: int, price_per_token: int) -> Nano:
    """A client contract's paid total: its balance plus what it has been charged."""
    return Nano(balance_nano + tokens_used * price_per_token)


def decide_top_up(
    needed_nano: Nano,
    paid_now_nano: Nano,
    flight: TopUpInFlight | None,
    now: float,
    land_timeout_s: float = LAND_TIMEOUT_S,
    *,
    secret_set: bool = True,
    sets_secret: bool = False,
) -> TopUpDecision:
    """Whether to send a top-up of ``needed_nano`` (0: none needed) given the contract's paid total
    ``paid_now_nano`` as the chain shows it and the record ``flight`` of what is in flight.

    ``secret_set``: whether the contract shows our secret hash (a record carrying the opening's
    message has landed only then). ``sets_secret``: the message to send is the opening's; only a
    record that carries one makes it wait (a top-up someone asked for does not set the secret)."""
    landed = expired = NO_NANO
    if flight is not None:
        if paid_now_nano >= flight.paid_target_nano and (secret_set or not flight.sets_secret):
            landed, flight = flight.amount_nano, None
        elif (
            flight.sending == 0
            and flight.included_at is not None
            and now - flight.included_at >= land_timeout_s
        ):
            expired, flight = flight.amount_nano, None
    if needed_nano <= 0:
        return TopUpDecision(NO_NANO, flight, landed, expired)
    if flight is not None and (flight.sets_secret or not sets_secret):
        return TopUpDecision(NO_NANO, flight, landed, expired, waiting=True)
    return TopUpDecision(needed_nano, flight, landed, expired)


def sending(
    flight: TopUpInFlight | None, paid_now_nano: Nano, amount_nano: Nano, *, sets_secret: bool = False
) -> TopUpInFlight:
    """The record once a top-up of ``amount_nano`` is handed to the wallet (``paid_now_nano``: the
    contract's paid total as last read)."""
    if flight is None:
        return TopUpInFlight(Nano(paid_now_nano + amount_nano), amount_nano, 1, None, sets_secret)
    return dataclasses.replace(
        flight,
        paid_target_nano=Nano(max(flight.paid_target_nano, paid_now_nano) + amount_nano),
        amount_nano=Nano(flight.amount_nano + amount_nano),
        sending=flight.sending + 1,
        sets_secret=flight.sets_secret or sets_secret,
    )


def included(flight: TopUpInFlight | None, now: float) -> TopUpInFlight | None:
    """The record once one of its messages is included (or its fate is unknown): its wait starts."""
    if flight is None:  # seen landed while the wallet was still sending
        return None
    return dataclasses.replace(flight, sending=max(flight.sending - 1, 0), included_at=now)


def unsent(
    flight: TopUpInFlight | None, amount_nano: Nano, *, sets_secret: bool = False
) -> TopUpInFlight | None:
    """The record once a top-up of ``amount_nano`` was certainly not sent (the wallet refused it);
    ``sets_secret``: it was the opening's message."""
    if flight is None:
        return None
    amount = Nano(flight.amount_nano - amount_nano)
    if amount <= 0:
        return None
    return dataclasses.replace(
        flight,
        paid_target_nano=Nano(flight.paid_target_nano - amount_nano),
        amount_nano=amount,
        sending=max(flight.sending - 1, 0),
        sets_secret=flight.sets_secret and not sets_secret,
    )

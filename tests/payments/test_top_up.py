"""At most one top-up per need (cocoon.payments.top_up): the record of what is in flight and the
decision of one upkeep round, with the time passed in."""

from __future__ import annotations

from cocoon.payments.params import NANO_PER_TON, Nano
from cocoon.payments.top_up import (
    TopUpInFlight,
    decide_top_up,
    included,
    paid_total_nano,
    sending,
    unsent,
)

TON = Nano(NANO_PER_TON)
STAKE = TON
T0 = 1_000.0
TIMEOUT = 120.0


def in_flight(paid_before: int, amount: int = STAKE, at: float = T0, **kw: bool) -> TopUpInFlight:
    """One top-up of ``amount`` sent at a paid total of ``paid_before`` and included at ``at``."""
    flight = included(sending(None, Nano(paid_before), Nano(amount), **kw), at)
    assert flight is not None
    return flight


def test_the_paid_total_is_unmoved_by_a_charge_and_raised_by_a_top_up() -> None:
    before = paid_total_nano(TON // 2, 1_000, 20)
    assert paid_total_nano(TON // 2 - 20 * 500, 1_500, 20) == before  # a charge of 500 tokens
    assert paid_total_nano(TON // 2 + TON, 1_000, 20) == before + TON  # a top-up of 1 TON


def test_nothing_in_flight_sends_what_is_needed() -> None:
    decision = decide_top_up(STAKE, Nano(TON // 4), None, T0, TIMEOUT)
    assert decision.send_nano == STAKE and decision.flight is None and not decision.waiting
    assert decide_top_up(Nano(0), Nano(TON // 4), None, T0, TIMEOUT).send_nano == 0


def test_a_second_round_before_the_top_up_landed_waits() -> None:
    flight = in_flight(TON // 4)  # 0.25 TON paid, 1 TON sent: lands at 1.25 TON
    decision = decide_top_up(STAKE, Nano(TON // 4), flight, T0 + 10, TIMEOUT)
    assert decision.send_nano == 0 and decision.waiting and decision.flight == flight
    # a charge meanwhile (paid total unmoved, balance lower): still the same need, still waiting
    assert decide_top_up(STAKE, Nano(TON // 4), flight, T0 + 60, TIMEOUT).waiting


def test_a_landed_top_up_clears_the_record_and_a_new_need_is_sent() -> None:
    flight = in_flight(TON // 4)
    landed = decide_top_up(Nano(0), Nano(TON // 4 + TON), flight, T0 + 5, TIMEOUT)
    assert landed.flight is None and landed.landed == STAKE and landed.send_nano == 0
    # usage ate the new balance too: a new need, sent at once
    again = decide_top_up(STAKE, Nano(TON // 4 + TON), flight, T0 + 5, TIMEOUT)
    assert again.landed == STAKE and again.send_nano == STAKE and not again.waiting


def test_an_unlanded_top_up_expires_after_the_timeout_and_is_sent_again() -> None:
    flight = in_flight(TON // 4)
    just_before = decide_top_up(STAKE, Nano(TON // 4), flight, T0 + TIMEOUT - 0.001, TIMEOUT)
    assert just_before.waiting and just_before.send_nano == 0 and just_before.expired == 0
    expired = decide_top_up(STAKE, Nano(TON // 4), flight, T0 + TIMEOUT, TIMEOUT)
    assert expired.expired == STAKE and expired.flight is None and expired.send_nano == STAKE
    # no need any more: forgotten all the same, nothing sent
    idle = decide_top_up(Nano(0), Nano(TON // 4), flight, T0 + TIMEOUT, TIMEOUT)
    assert idle.expired == STAKE and idle.flight is None and idle.send_nano == 0


def test_a_top_up_still_being_sent_never_expires() -> None:
    flight = sending(None, Nano(0), STAKE)  # handed to the wallet, not included yet
    decision = decide_top_up(STAKE, Nano(0), flight, T0 + 10 * TIMEOUT, TIMEOUT)
    assert decision.waiting and decision.flight == flight and decision.expired == 0


def test_top_ups_in_flight_add_up_and_land_together() -> None:
    first = in_flight(0, TON)
    both = included(sending(first, Nano(0), Nano(2 * TON)), T0 + 3)  # a top-up asked for on top
    assert both == TopUpInFlight(Nano(3 * TON), Nano(3 * TON), 0, T0 + 3)
    # the first landed, the second not yet: still in flight, its wait counted from the last inclusion
    half = decide_top_up(STAKE, Nano(TON), both, T0 + TIMEOUT + 1, TIMEOUT)
    assert half.waiting and half.flight == both
    assert decide_top_up(Nano(0), Nano(3 * TON), both, T0 + 4, TIMEOUT).flight is None


def test_one_sent_while_another_is_being_sent_keeps_the_record_from_expiring() -> None:
    two = sending(sending(None, Nano(0), STAKE), Nano(0), STAKE)
    one_included = included(two, T0)
    assert one_included is not None and one_included.sending == 1
    assert decide_top_up(STAKE, Nano(0), one_included, T0 + 10 * TIMEOUT, TIMEOUT).waiting
    both_included = included(one_included, T0 + 1)
    assert decide_top_up(STAKE, Nano(0), both_included, T0 + 1 + TIMEOUT, TIMEOUT).send_nano == STAKE


def test_a_top_up_the_wallet_refused_leaves_nothing_in_flight() -> None:
    assert unsent(sending(None, Nano(0), STAKE), STAKE) is None
    kept = unsent(sending(in_flight(0, TON), Nano(0), Nano(2 * TON)), Nano(2 * TON))
    assert kept == in_flight(0, TON)
    assert unsent(None, STAKE) is None and included(None, T0) is None


def test_the_opening_waits_only_for_an_opening_in_flight_and_lands_with_the_secret() -> None:
    opening = in_flight(0, STAKE, sets_secret=True)
    # its top-up shows but not the secret hash yet: not landed (it is one message: both or neither)
    waiting = decide_top_up(STAKE, Nano(STAKE), opening, T0 + 1, TIMEOUT, secret_set=False, sets_secret=True)
    assert waiting.waiting and waiting.flight == opening
    landed = decide_top_up(Nano(0), Nano(STAKE), opening, T0 + 1, TIMEOUT, secret_set=True)
    assert landed.landed == STAKE and landed.flight is None
    # a top-up someone asked for before the opening does not hold back the opening's message...
    asked = in_flight(0, 2 * TON)
    opened = decide_top_up(STAKE, Nano(0), asked, T0 + 1, TIMEOUT, secret_set=False, sets_secret=True)
    assert opened.send_nano == STAKE and opened.flight == asked
    # ...but any top-up in flight holds back an automatic one
    assert decide_top_up(STAKE, Nano(0), opening, T0 + 1, TIMEOUT, secret_set=False).waiting
    # and an opening that did not land in time is sent again
    late = decide_top_up(STAKE, Nano(0), opening, T0 + TIMEOUT, TIMEOUT, secret_set=False, sets_secret=True)
    assert late.expired == STAKE and late.send_nano == STAKE

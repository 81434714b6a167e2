"""The settlement's channel table: the one owner of the channel counters and the operations it offers."""

from __future__ import annotations

import pytest

from cocoon.errors import PaymentError
from cocoon.payments.channel import Counters
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL
from cocoon.proxy.settlement.channels import Channels

ALICE, BOB = (CLIENT_CHANNEL, "alice"), (WORKER_CHANNEL, "bob")


def test_reading_a_channel_that_does_not_exist_gives_zeros_and_creates_nothing() -> None:
    channels = Channels()
    assert channels.counters(*ALICE) == Counters()
    assert len(channels) == 0 and ALICE not in channels


def test_counting_changes_stamping_and_chain_commits_move_the_three_counters() -> None:
    channels = Channels()
    assert channels.add(*ALICE, 30) == Counters(30, 0, 0)
    channels.add(*BOB, 7)
    assert channels.changed() == {ALICE: 30, BOB: 7}
    channels.stamp(1, channels.changed())
    assert channels.changed() == {}
    channels.add(*ALICE, 5)
    channels.stamp(2, channels.changed())
    channels.commit_chain(1)  # the note of seqno 1 is on chain: only what was stamped under it
    assert channels.counters(*ALICE) == Counters(35, 35, 30)
    assert channels.counters(*BOB) == Counters(7, 7, 7)
    channels.commit_chain(2)
    assert dict(channels.items()) == {ALICE: Counters(35, 35, 35), BOB: Counters(7, 7, 7)}
    assert channels.totals() == {ALICE: 35, BOB: 7}


def test_restored_channels_start_with_every_counter_at_the_stored_total() -> None:
    channels = Channels.restored({ALICE: 40})
    assert channels.counters(*ALICE) == Counters(40, 40, 40)
    assert channels.changed() == {} and channels.all_keys() == [ALICE]


def test_open_makes_an_empty_channel_once_and_keeps_an_existing_one() -> None:
    channels = Channels()
    channels.open(*ALICE)
    assert channels.all_keys() == [ALICE] and channels.counters(*ALICE) == Counters()
    channels.add(*ALICE, 3)
    channels.open(*ALICE)
    assert channels.counters(*ALICE).tokens_max == 3


def test_a_stamp_outside_the_counters_is_refused() -> None:
    channels = Channels()
    channels.add(*ALICE, 10)
    with pytest.raises(PaymentError):
        channels.stamp(1, {ALICE: 11})

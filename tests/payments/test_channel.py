"""Channel counters: ordering invariant, stamps and chain commits, the counterpart's no-decrease check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.errors import PaymentError, StateRollbackError
from cocoon.payments.channel import Channel, Counters, check_progress


def test_counters_must_be_ordered() -> None:
    Counters(5, 5, 5)
    Counters(7, 5, 0)
    for bad in ((4, 5, 0), (5, 3, 4), (1, 1, -1)):
        with pytest.raises(PaymentError, match="tokens_max >= committed_to_db"):
            Counters(*bad)


def test_a_request_moves_only_the_running_total_until_it_is_stamped_and_committed() -> None:
    ch = Channel()
    assert ch.add(100) == Counters(100, 0, 0)
    assert ch.dirty
    ch.stamp(1, 100)
    assert ch.counters == Counters(100, 100, 0) and not ch.dirty
    ch.add(50)
    ch.stamp(2, 150)
    ch.add(7)
    assert ch.commit_chain(1)  # note of seqno 1 seen: only what was stamped at 1 is committed
    assert ch.counters == Counters(157, 150, 100)
    assert not ch.commit_chain(1)
    assert ch.commit_chain(5)  # a later note covers every earlier stamp
    assert ch.counters == Counters(157, 150, 150)


def test_stamps_must_move_forward() -> None:
    ch = Channel()
    ch.add(10)
    ch.stamp(3, 10)
    with pytest.raises(PaymentError, match="does not follow"):
        ch.stamp(3, 10)
    with pytest.raises(PaymentError, match="outside"):
        ch.stamp(4, 11)  # more than was ever counted
    with pytest.raises(PaymentError, match="only grows"):
        ch.add(-1)


def test_restored_channel_starts_with_all_counters_equal() -> None:
    assert Channel.restored(42).counters == Counters(42, 42, 42)


@pytest.mark.parametrize(
    ("previous", "current", "counter"),
    [
        (Counters(10, 5, 1), Counters(9, 5, 1), "tokens_max"),
        (Counters(10, 5, 1), Counters(10, 4, 1), "committed_to_db"),
        (Counters(10, 5, 1), Counters(12, 6, 0), "committed_to_chain"),
    ],
)
def test_counterpart_refuses_any_decrease(previous: Counters, current: Counters, counter: str) -> None:
    with pytest.raises(StateRollbackError, match=counter):
        check_progress(previous, current)


def test_counterpart_accepts_growth_and_the_first_update() -> None:
    check_progress(None, Counters(3, 2, 1))
    check_progress(Counters(3, 2, 1), Counters(3, 2, 1))
    check_progress(Counters(3, 2, 1), Counters(30, 20, 10))


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 10_000)),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("note"), st.integers(0, 5)),
    ),
    max_size=60,
)


@given(ops)
def test_any_sequence_keeps_the_invariant_and_every_counter_monotonic(steps: list[tuple[str, int]]) -> None:
    ch, seqno, seen = Channel(), 0, Counters()
    for op, arg in steps:
        if op == "add":
            ch.add(arg)
        elif op == "flush":
            seqno += 1
            ch.stamp(seqno, ch.tokens_max)
        else:
            ch.commit_chain(max(seqno - arg, 0))
        current = ch.counters  # constructing Counters checks the ordering
        check_progress(seen, current)
        seen = current
    assert ch.committed_to_chain <= ch.committed_to_db <= ch.tokens_max

"""Commit pipeline: note timing, chain confirmation, and refusal of notes the database never issued."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cocoon.errors import StateRollbackError
from cocoon.payments.commit import CommitPipeline, Note

A, B = b"\xaa" * 32, b"\xbb" * 32


def test_start_note_gates_readiness() -> None:
    p = CommitPipeline(A, last_seqno=7)
    note = p.start(now=0)
    assert note == Note(8, A) and p.pending == {8: A}
    assert not p.ready
    assert p.observe(note) == 8
    assert p.ready and p.pending == {} and p.in_flight is None


def test_notes_follow_the_interval_and_only_when_something_new_was_flushed() -> None:
    p = CommitPipeline(A, note_interval_s=30)
    p.observe(p.start(now=0))
    assert p.note_due(100) is None  # nothing flushed since the start note
    p.next_seqno()
    p.next_seqno()
    note = p.note_due(100)
    assert note == Note(3, A)
    p.next_seqno()
    assert p.note_due(110) is None  # one in flight
    p.observe(note)
    assert p.note_due(120) is None  # interval not over
    assert p.note_due(120, force=True) == Note(4, A)


def test_a_lost_note_is_reissued_after_it_goes_stale() -> None:
    p = CommitPipeline(A, note_interval_s=1, stale_after_s=60)
    p.start(now=0)
    assert p.note_due(30) is None
    assert p.note_due(61) == Note(1, A)


def test_notes_of_a_previous_session_that_were_pending_are_accepted() -> None:
    # The last process persisted note 5 (session B) and crashed before seeing it on chain.
    p = CommitPipeline(A, last_seqno=5, pending={5: B})
    start = p.start(now=0)
    assert p.observe(Note(5, B)) == 5
    assert p.observe(start) == 6 and p.ready


def test_a_note_the_database_never_issued_is_a_rollback() -> None:
    # Restored older copy: the database stops at seqno 5, the chain already has 9 of a later session.
    p = CommitPipeline(A, last_seqno=5)
    p.start(now=0)
    with pytest.raises(StateRollbackError, match="older copy of its database"):
        p.observe(Note(9, B))


def test_a_clone_is_detected_by_its_session_hash() -> None:
    mine, clone = CommitPipeline(A, last_seqno=3), CommitPipeline(B, last_seqno=3)
    note_a, note_b = mine.start(now=0), clone.start(now=0)
    assert note_a.seqno == note_b.seqno == 4
    mine.observe(note_a)
    with pytest.raises(StateRollbackError):
        mine.observe(note_b)


def test_a_repeated_note_is_ignored() -> None:
    p = CommitPipeline(A)
    note = p.start(now=0)
    assert p.observe(note) == 1
    assert p.observe(note) is None


@given(st.lists(st.booleans(), max_size=40), st.integers(1, 10**6))
def test_every_issued_note_is_accepted_in_any_order(flushes: list[bool], base: int) -> None:
    p = CommitPipeline(A, last_seqno=base, note_interval_s=0)
    notes = [p.start(now=0)]
    for i, flush in enumerate(flushes):
        if flush:
            p.next_seqno()
        note = p.note_due(float(i), force=True)
        if note is None and p.in_flight is not None:
            notes.append(p.in_flight)
            p.observe(p.in_flight)  # keep notes flowing: confirm the one in flight
            note = p.note_due(float(i), force=True)
        if note is not None:
            notes.append(note)
    for note in reversed(notes):
        p.observe(note)
    assert p.ready and p.pending == {}
    assert p.committed_seqno == max(n.seqno for n in notes)

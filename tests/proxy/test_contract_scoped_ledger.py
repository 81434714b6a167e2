"""The proxy's payment channels, seqnos and notes are kept per proxy contract: after a params change the
old contract closes on its own totals while the new one counts from zero, a request is charged on the
contract (and at the prices) it was reserved on, and a database written before the contract was
recorded is migrated, its rows claimed by the contract they belong to or refused with what to do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cocoon.errors import PaymentError
from cocoon.payments.commit import Note
from cocoon.payments.params import Nano, NetworkParams, Tokens
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import CLIENT_CHANNEL, WORKER_CHANNEL, Ledger
from cocoon.proxy.settlement.commit_store import CommitStore
from cocoon.usage import Usage

OLD, NEW = "0:" + "aa" * 32, "0:" + "bb" * 32
OLD_PARAMS = NetworkParams(price_per_token=Nano(20), worker_fee_per_token=Nano(19))
NEW_PARAMS = NetworkParams(price_per_token=Nano(31), worker_fee_per_token=Nano(29))

UNSCOPED_SCHEMA = """
CREATE TABLE channels (
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    running_tokens INTEGER NOT NULL DEFAULT 0,
    stamped_tokens INTEGER NOT NULL DEFAULT 0,
    stamped_seqno INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, owner)
);
CREATE TABLE commit_state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE pending_notes (seqno INTEGER PRIMARY KEY, session_hash BLOB NOT NULL);
"""
"""The settlement tables as databases written before they were kept per contract have them."""


def unscoped_database(path: Path, running: int = 700) -> None:
    db = sqlite3.connect(path)
    db.executescript(UNSCOPED_SCHEMA)
    db.execute("INSERT INTO channels VALUES ('client', 'EQclient', ?, 500, 7)", (running,))
    db.execute("INSERT INTO channels VALUES ('worker', 'EQworker', ?, 500, 7)", (running,))
    db.execute("INSERT INTO commit_state VALUES ('last_seqno', 9), ('cursor_lt', 1234)")
    db.execute("INSERT INTO pending_notes VALUES (9, ?)", (b"\x07" * 32,))
    db.commit()
    db.close()


def test_an_unscoped_database_is_migrated_and_claimed_by_the_contract_it_was_counted_on(
    tmp_path: Path,
) -> None:
    unscoped_database(tmp_path / "state.db")
    ledger = Ledger(tmp_path / "state.db")
    columns = {row[1] for row in ledger.connection.execute("PRAGMA table_info(channels)")}
    assert "contract" in columns
    store = CommitStore(ledger, OLD)
    assert store.channels() == {} and store.last_seqno == 0  # not this contract's until claimed
    store.claim_legacy(deployed=True)
    assert store.channels() == {(CLIENT_CHANNEL, "EQclient"): 700, (WORKER_CHANNEL, "EQworker"): 700}
    assert store.stamped()[(CLIENT_CHANNEL, "EQclient")] == (7, 500)
    assert (store.last_seqno, store.cursor_lt, store.pending()) == (9, 1234, {9: b"\x07" * 32})
    assert CommitStore(ledger, NEW).channels() == {}  # another contract sees none of them
    store.claim_legacy(deployed=True)  # nothing left to claim: no change
    assert store.last_seqno == 9
    ledger.close()
    # reopened: migrated once, nothing lost
    again = Ledger(tmp_path / "state.db")
    assert CommitStore(again, OLD).channels()[(WORKER_CHANNEL, "EQworker")] == 700
    again.close()


def test_unscoped_channels_of_a_contract_under_earlier_params_are_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    unscoped_database(tmp_path / "state.db")
    ledger = Ledger(tmp_path / "state.db")
    store = CommitStore(ledger, NEW)
    with pytest.raises(PaymentError, match=r"never deployed.*earlier params.*cocoon proxy close"):
        store.claim_legacy(deployed=False)
    store.claim_legacy(deployed=True)  # nothing was changed by the refusal: still claimable
    assert store.channels()[(CLIENT_CHANNEL, "EQclient")] == 700
    ledger.close()


def test_unscoped_rows_that_owe_nothing_are_dropped_for_a_new_contract(tmp_path: Path) -> None:
    unscoped_database(tmp_path / "state.db", running=0)
    ledger = Ledger(tmp_path / "state.db")
    store = CommitStore(ledger, NEW)
    store.claim_legacy(deployed=False)
    # the cursor and seqnos of another contract would skip this one's transactions: not taken
    assert (store.channels(), store.last_seqno, store.cursor_lt, store.pending()) == ({}, 0, 0, {})
    assert ledger.connection.execute("SELECT COUNT(*) FROM commit_state").fetchone() == (0,)
    ledger.close()


def test_two_contracts_keep_their_own_channels_seqnos_notes_and_close(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    old, new = CommitStore(ledger, OLD), CommitStore(ledger, NEW)
    old.flush(5, {(CLIENT_CHANNEL, "EQc"): 100}, Note(5, b"\x01" * 32))
    new.flush(1, {(CLIENT_CHANNEL, "EQc"): 3}, Note(1, b"\x02" * 32))
    old.request_close()
    assert old.channels() == {(CLIENT_CHANNEL, "EQc"): 100} and new.channels() == {(CLIENT_CHANNEL, "EQc"): 3}
    assert (old.last_seqno, new.last_seqno) == (5, 1)
    assert (old.pending(), new.pending()) == ({5: b"\x01" * 32}, {1: b"\x02" * 32})
    new.observed(77, [1])
    assert (old.pending(), new.pending(), old.cursor_lt, new.cursor_lt) == ({5: b"\x01" * 32}, {}, 0, 77)
    assert old.close_requested and not new.close_requested
    assert CommitStore.closing_contracts(ledger) == [OLD]
    old.closed()
    assert CommitStore.closing_contracts(ledger) == []
    ledger.close()


class Contract:
    """A proxy contract's credit (`ChainCredit`): every client is bound; counts what was recorded."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.counted: list[tuple[str, str, Tokens]] = []

    def owner_of(self, client_id: str) -> str | None:
        return "EQc"

    def available(self, owner: str, reserved: Tokens) -> int:
        return 1_000_000 - reserved

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: Tokens) -> None:
        self.counted.append((client_owner, worker_owner, tokens))


def test_a_request_is_charged_on_the_contract_and_at_the_prices_it_was_reserved_on(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    old, new = Contract(OLD), Contract(NEW)
    book = ClientBook(ledger, OLD_PARAMS, old)
    book.reserve("before", "cid", 100, 100, 1000)  # reserved on the old contract
    book.move(new, NEW_PARAMS)  # the proxy moved to a new contract while it ran
    book.reserve("after", "cid", 100, 100, 1000)
    assert (book.running(old), book.running(new)) == (1, 1)
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    before = book.record("before", usage, 1000, "w", "EQw", 1.0)
    after = book.record("after", usage, 1000, "w", "EQw", 2.0)
    assert (before.adjusted_tokens, after.adjusted_tokens) == (15, 15)
    assert (before.cost_nano, before.worker_earned_nano) == (15 * 20, 15 * 19)  # the old prices
    assert (after.cost_nano, after.worker_earned_nano) == (15 * 31, 15 * 29)
    assert old.counted == [("EQc", "EQw", 15)] and new.counted == [("EQc", "EQw", 15)]
    assert CommitStore(ledger, OLD).channels() == {(CLIENT_CHANNEL, "EQc"): 15, (WORKER_CHANNEL, "EQw"): 15}
    assert CommitStore(ledger, NEW).channels() == {(CLIENT_CHANNEL, "EQc"): 15, (WORKER_CHANNEL, "EQw"): 15}
    assert (book.running(old), book.running(new)) == (0, 0)
    ledger.close()


def test_a_migration_that_fails_changes_nothing_and_says_what_to_do(tmp_path: Path) -> None:
    unscoped_database(tmp_path / "state.db")
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("CREATE TABLE pending_notes_unscoped (x)")  # in the way of the migration
    db.commit()
    db.close()
    with pytest.raises(
        PaymentError, match=r"could not be upgraded.*it is unchanged.*restore it from a backup"
    ):
        Ledger(tmp_path / "state.db")
    db = sqlite3.connect(tmp_path / "state.db")
    assert {row[1] for row in db.execute("PRAGMA table_info(channels)")} == {
        "kind",
        "owner",
        "running_tokens",
        "stamped_tokens",
        "stamped_seqno",
    }
    assert db.execute("SELECT running_tokens FROM channels WHERE kind = 'client'").fetchone() == (700,)
    db.close()

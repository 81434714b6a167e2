"""The proxy ledger: exact charges, at most once per request id, survives reopening."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon.errors import PaymentError
from cocoon.proxy.ledger import PAGE_SIZE, Ledger, RequestCharge


def charge(rid: str, tokens: int, price: int = 20, fee: int = 19) -> RequestCharge:
    return RequestCharge(rid, "client-1", "worker-1", "EQowner", tokens, tokens * price, tokens * fee)


def test_charges_move_exact_amounts_and_persist(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    assert ledger.ensure_client("client-1", 10**9).remaining_nano == 10**9
    assert ledger.record(charge("r1", 1500), finished_at=1.0)
    assert ledger.record(charge("r2", 7), finished_at=2.0)
    ledger.close()

    reopened = Ledger(path)
    account = reopened.client("client-1")
    assert account.charged_nano == 1507 * 20
    assert account.charged_tokens == 1507
    assert account.remaining_nano == 10**9 - 1507 * 20
    worker = reopened.worker("worker-1")
    assert worker is not None and worker.earned_nano == 1507 * 19 and worker.owner == "EQowner"
    assert reopened.request("r1") == charge("r1", 1500)
    # ensure_client does not reset an existing account
    assert reopened.ensure_client("client-1", 5).credit_nano == 10**9


def test_same_request_is_recorded_once(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    ledger.ensure_client("client-1", 10**9)
    assert ledger.record(charge("r1", 100), finished_at=1.0)
    assert not ledger.record(charge("r1", 100), finished_at=2.0)
    assert ledger.client("client-1").charged_tokens == 100


def test_negative_amounts_are_refused(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    with pytest.raises(PaymentError):
        ledger.record(charge("r1", -1), finished_at=1.0)
    with pytest.raises(PaymentError):
        ledger.add_credit("client-1", 0)
    assert ledger.add_credit("client-1", 5).credit_nano == 5


def test_make_durable_writes_the_wal_through_to_the_database_file(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ledger.ensure_client("client-1", 10**9)
    ledger.record(charge("r1", 100), finished_at=1.0)

    def in_main_file() -> int:
        # immutable=1 reads the database file alone, ignoring the WAL: only checkpointed rows show.
        raw = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
        try:
            return int(raw.execute("SELECT count(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:
            return 0  # the table itself is still only in the WAL
        finally:
            raw.close()

    assert in_main_file() == 0
    ledger.make_durable()
    assert in_main_file() == 1
    ledger.close()


def test_requests_are_one_b_tree_and_a_ledger_made_before_still_works(tmp_path: Path) -> None:
    """New ledgers key `requests` by the request id alone (WITHOUT ROWID: one page per insert, not a
    rowid table plus its index); a ledger file made with the rowid table records and reads the same."""
    import sqlite3

    new = Ledger(tmp_path / "new.db")
    new.close()
    raw = sqlite3.connect(tmp_path / "new.db")
    (sql,) = raw.execute("SELECT sql FROM sqlite_master WHERE name = 'requests'").fetchone()
    assert sql.rstrip().endswith("WITHOUT ROWID")
    raw.close()

    old_path = tmp_path / "old.db"
    raw = sqlite3.connect(old_path)
    raw.execute(
        "CREATE TABLE requests (request_id TEXT PRIMARY KEY, client_id TEXT NOT NULL,"
        " worker_id TEXT NOT NULL, adjusted_tokens INTEGER NOT NULL, client_cost_nano INTEGER NOT NULL,"
        " worker_earned_nano INTEGER NOT NULL, finished_at REAL NOT NULL)"
    )
    raw.commit()
    raw.close()
    old = Ledger(old_path)
    old.ensure_client("client-1", 10**9)
    assert old.record(charge("r1", 100), finished_at=1.0)
    assert not old.record(charge("r1", 100), finished_at=2.0)
    assert old.request("r1") == charge("r1", 100)
    assert old.client("client-1").charged_tokens == 100
    old.close()


def test_a_new_ledger_has_small_pages_and_one_made_before_keeps_its_own(tmp_path: Path) -> None:
    """Each commit writes every page it changed to the WAL, so new ledgers use `PAGE_SIZE`-byte pages;
    a ledger file made with SQLite's default 4096 keeps them and records, reads and survives reopening."""
    import sqlite3

    def page_size(path: Path) -> int:
        raw = sqlite3.connect(path)
        try:
            return int(raw.execute("PRAGMA page_size").fetchone()[0])
        finally:
            raw.close()

    new = Ledger(tmp_path / "new.db")
    new.ensure_client("client-1", 10**9)
    new.close()
    assert page_size(tmp_path / "new.db") == PAGE_SIZE < 4096

    old_path = tmp_path / "old.db"
    old = Ledger(old_path, page_size=4096)
    old.ensure_client("client-1", 10**9)
    old.close()
    reopened = Ledger(old_path)  # the default asks for PAGE_SIZE: an existing file is not changed
    assert reopened.record(charge("r1", 100), finished_at=1.0)
    reopened.close()
    assert page_size(old_path) == 4096
    again = Ledger(old_path)
    assert again.request("r1") == charge("r1", 100)
    assert again.client("client-1").charged_tokens == 100
    again.close()


@pytest.mark.parametrize("size", [0, 511, 3000, 131072])
def test_a_page_size_sqlite_would_ignore_is_refused(tmp_path: Path, size: int) -> None:
    with pytest.raises(ValueError, match="power of two from 512 to 65536"):
        Ledger(tmp_path / "state.db", page_size=size)
    assert not (tmp_path / "state.db").exists()

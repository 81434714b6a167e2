"""Group commit of the ledger: many requests per transaction, nothing told before it is committed."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from cocoon.errors import PaymentError
from cocoon.payments.params import NetworkParams, Tokens
from cocoon.proxy.accounts import ClientBook
from cocoon.proxy.ledger import Ledger, RequestCharge
from cocoon.usage import Usage


def charge(rid: str, tokens: int, worker: str = "worker-1") -> RequestCharge:
    return RequestCharge(rid, "client-1", worker, "EQowner", tokens, tokens * 20, tokens * 19)


def stored(path: Path) -> list[str]:
    """Request ids another process would find in the file (what survives a crash now)."""
    with sqlite3.connect(path) as db:
        return sorted(r for (r,) in db.execute("SELECT request_id FROM requests"))


def test_deferred_requests_share_one_commit_and_callbacks_run_after_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ran: list[str] = []
    assert ledger.record(charge("a", 10), 1.0, defer=True, on_commit=lambda: ran.append("a"))
    assert ledger.record(charge("b", 5), 1.0, defer=True, on_commit=lambda: ran.append("b"))
    assert not ledger.record(charge("a", 10), 1.0, defer=True, on_commit=lambda: ran.append("a2"))
    assert ledger.pending == 3
    assert ledger.client("client-1").charged_nano == 300  # this connection sees its open batch
    assert stored(path) == [] and ran == []
    ledger.commit()
    assert stored(path) == ["a", "b"] and ran == ["a", "b"] and ledger.pending == 0
    ledger.commit()  # nothing open: a no-op
    assert ran == ["a", "b"]
    # what the proxy's stats show of it: one batch of three writes (the repeated id included)
    assert ledger.commit_stats() == {"commits": 1, "requests": 3, "per_commit": 3.0}
    ledger.record(charge("c", 1), 1.0)  # not deferred: a batch of its own
    assert ledger.commit_stats() == {"commits": 2, "requests": 4, "per_commit": 2.0}


def test_every_other_write_commits_the_open_batch_first(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    steps = [
        lambda: ledger.ensure_client("c2", 5),
        lambda: ledger.add_credit("c2", 5),
        ledger.make_durable,
        lambda: ledger.transaction().__enter__(),
        lambda: ledger.record(charge("x", 1), 1.0),  # an immediate record commits the batch with it
    ]
    for i, step in enumerate(steps):
        ledger.record(charge(f"r{i}", 1), 1.0, defer=True)
        step()
        assert f"r{i}" in stored(path), i
        if ledger.connection.in_transaction:
            ledger.connection.execute("COMMIT")


def failing(ledger: Ledger, *, drop_batch: bool) -> None:
    """Make the next write fail after its rows are written (as on an I/O error); ``drop_batch``: and
    SQLite rolled back the whole transaction, as it does on some of them."""
    write = ledger._write

    def fail(charge: RequestCharge, finished_at: float) -> bool:
        ledger._write = write  # type: ignore[method-assign]
        write(charge, finished_at)
        if drop_batch:
            ledger.connection.execute("ROLLBACK")
        raise sqlite3.OperationalError("disk I/O error")

    ledger._write = fail  # type: ignore[method-assign]


def test_a_failed_write_undoes_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ledger.record(charge("a", 10), 1.0, defer=True)
    failing(ledger, drop_batch=False)
    with pytest.raises(sqlite3.OperationalError):
        ledger.record(charge("b", 100), 1.0, defer=True)
    ledger.record(charge("c", 1), 1.0, defer=True)
    ledger.commit()
    assert stored(path) == ["a", "c"]
    assert ledger.client("client-1").charged_tokens == 11


def test_a_failed_first_write_of_a_batch_rolls_back_its_own_transaction(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    failing(ledger, drop_batch=False)
    with pytest.raises(sqlite3.OperationalError):
        ledger.record(charge("a", 100), 1.0, defer=True)
    assert not ledger.connection.in_transaction and ledger.pending == 0
    ledger.record(charge("b", 1), 1.0, defer=True)
    ledger.record(charge("c", 2), 1.0, defer=True)
    ledger.commit()
    assert stored(path) == ["b", "c"]
    assert ledger.client("client-1").charged_tokens == 3


def test_a_batch_sqlite_dropped_is_refused_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    ledger.record(charge("a", 10), 1.0, defer=True)
    failing(ledger, drop_batch=True)
    with pytest.raises(sqlite3.OperationalError):
        ledger.record(charge("b", 100), 1.0, defer=True)
    ledger.record(charge("c", 1), 1.0, defer=True)
    with pytest.raises(PaymentError, match="lost a batch"):
        ledger.commit()  # "a" waits for this commit: it must learn that it was not stored
    assert stored(path) == [] and ledger.client("client-1").charged_tokens == 0
    ledger.record(charge("d", 1), 1.0)
    assert stored(path) == ["d"]


class Chain:
    """A client paying on chain: what the channels counted (only committed requests)."""

    scope = "0:" + "22" * 32

    def __init__(self) -> None:
        self.counted: list[Tokens] = []

    def owner_of(self, client_id: str) -> str | None:
        return "EQclient"

    def available(self, owner: str, reserved: Tokens) -> int:
        return 1_000_000 - sum(self.counted) - reserved

    def on_recorded(self, client_owner: str, worker_owner: str, tokens: Tokens) -> None:
        self.counted.append(tokens)


async def test_durable_commits_once_for_all_recorded_in_an_iteration(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    chain = Chain()
    book = ClientBook(ledger, NetworkParams(), chain)
    commits = 0
    commit = ledger.commit

    def counting() -> None:
        nonlocal commits
        commits += ledger.pending > 0
        commit()

    ledger.commit = counting  # type: ignore[method-assign]
    for i in range(3):
        book.reserve(f"r{i}", "client-1", max_tokens=100, request_bytes=0, max_coefficient=1000)
    held = book.reserved_tokens("client-1")
    for i in range(3):
        book.record(f"r{i}", Usage(completion_tokens=10), 1000, "w", "EQw", 1.0, defer=True)
    # Until the commit the channel has not counted them, so their reservations still hold the credit.
    assert chain.counted == [] and book.reserved_tokens("client-1") == held
    await asyncio.gather(*(book.durable() for _ in range(3)))
    assert commits == 1
    assert stored(path) == ["r0", "r1", "r2"]
    assert chain.counted == [10, 10, 10] and book.reserved_tokens("client-1") == 0
    await book.durable()  # nothing pending: returns at once
    assert commits == 1


async def test_a_waiter_cancelled_alone_leaves_the_shared_commit_to_the_others(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    ledger = Ledger(path)
    book = ClientBook(ledger, NetworkParams(), Chain())
    for i in range(2):
        book.reserve(f"r{i}", "client-1", max_tokens=100, request_bytes=0, max_coefficient=1000)
        book.record(f"r{i}", Usage(completion_tokens=10), 1000, "w", "EQw", 1.0, defer=True)
    gone, waiting = asyncio.ensure_future(book.durable()), asyncio.ensure_future(book.durable())
    await asyncio.sleep(0)  # both wait for the commit scheduled by the first
    gone.cancel()
    await waiting
    assert gone.cancelled() and stored(path) == ["r0", "r1"]


async def test_a_failed_shared_commit_is_raised_to_every_waiter(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state.db")
    book = ClientBook(ledger, NetworkParams(), Chain())
    book.reserve("r0", "client-1", max_tokens=100, request_bytes=0, max_coefficient=1000)
    book.record("r0", Usage(completion_tokens=10), 1000, "w", "EQw", 1.0, defer=True)

    def failing_commit() -> None:
        raise PaymentError("the ledger lost a batch of requests to a failed write: disk I/O error")

    ledger.commit = failing_commit  # type: ignore[method-assign]
    results = await asyncio.gather(book.durable(), book.durable(), return_exceptions=True)
    assert [type(r) for r in results] == [PaymentError, PaymentError]
